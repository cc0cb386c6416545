// A capture decoded into processes, probes and per-connection plaintext
// streams, reassembled by byte position so that missing bytes show as gaps.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "capture/capture_reader.hpp"

namespace ct::replay {

struct ProcessInfo {
    std::uint32_t pid = 0;
    std::uint32_t ppid = 0;
    std::string exe;
    std::vector<std::string> cmdline;
    std::string cwd;
    std::string comm;
    std::uint64_t start_monotonic_ns = 0;     // 0 if unknown
    std::optional<std::int32_t> exit_status;  // wait(2) format
    std::uint64_t exit_monotonic_ns = 0;
};

struct ProbeInfo {
    std::string binary_path;
    std::string build_id;  // hex
    std::string function;
    std::uint64_t file_offset = 0;
    std::string how_found;
    std::string kind;  // "entry" or "return"
    bool attached = false;
    std::string error;
    std::uint32_t pid = 0;
};

struct SocketInfo {
    std::int32_t fd = -1;
    std::uint16_t family = 0;  // AF_INET/AF_INET6 as in <sys/socket.h>
    std::string local_addr;    // textual, IPv4-mapped addresses shown as IPv4
    std::uint16_t local_port = 0;
    std::string remote_addr;
    std::uint16_t remote_port = 0;
    // How the socket was tied to the connection: "in-call" (I/O inside a TLS call),
    // "ciphertext" (a send that began with the bytes the connection's TLS library
    // passed to BIO_write: node and other memory-BIO users), "connect", "accept",
    // "go-conn" (the *tls.Conn's netFD), "continued" (carried over from the previous
    // file of a --watch series), "next-send"/"last-recv" (timing guesses of writers
    // before format 1.6), or "unknown".
    std::string origin;
};

// A TCP connection of a traced process with the bytes its syscalls moved
// (CT_EVENT_TCP): every one, whether or not a TLS probe read it.
struct TcpConnection {
    std::uint32_t pid = 0;
    std::int32_t fd = -1;
    std::uint16_t family = 0;  // AF_INET/AF_INET6
    std::string local_addr;    // textual, IPv4-mapped addresses shown as IPv4
    std::uint16_t local_port = 0;
    std::string remote_addr;
    std::uint16_t remote_port = 0;
    std::string origin;      // "connect" or "accept"
    std::string end_reason;  // "close", "exit", "exec", "replaced", "open-at-end"
    std::int32_t connect_ret = 0;
    std::uint64_t open_monotonic_ns = 0;
    std::uint64_t end_monotonic_ns = 0;
    std::uint64_t bytes_sent = 0;
    std::uint64_t bytes_received = 0;
    std::uint32_t send_calls = 0;
    std::uint32_t recv_calls = 0;
    bool tls_seen = false;       // a TLS probe tied a TLS connection to this socket
    std::uint64_t conn_gen = 0;  // that TLS connection's generation (0 if none)
    bool inherited = false;      // the process got it from its parent at fork

    // Moved bytes that no TLS probe read.
    bool unseen() const { return !tls_seen && bytes_sent + bytes_received > 0; }
};

// OverLimit: captured bytes the analyzer did not keep (LoadOptions::max_held_bytes).
// EarlierFile (1.6): a --watch capture's connection that began in the previous file of
// its series; these bytes are in that file.
enum class GapReason { LostEvents, RingFull, ReadFault, Truncated, OverLimit, EarlierFile };
const char* gap_reason_name(GapReason reason);

// A run of stream bytes: captured data, or a gap of bytes that flowed but are absent.
struct StreamSegment {
    std::uint64_t pos = 0;  // offset in the connection+direction stream
    std::uint64_t len = 0;
    bool is_gap = false;
    GapReason gap_reason = GapReason::LostEvents;
    std::uint64_t data_offset = 0;    // into DirectionStream::data (data segments only)
    std::uint64_t monotonic_ns = 0;   // when the call that carried these bytes returned
    std::uint64_t call_start_ns = 0;  // when that call was entered
    std::uint32_t tid = 0;
    std::uint64_t seq = 0;
    std::uint8_t func = 0;           // enum ct_func of the call (data segments)
    std::uint64_t call_len = 0;      // bytes the whole call transferred
    std::uint64_t chunk_offset = 0;  // where this segment starts within its call
};

struct DirectionStream {
    std::vector<std::uint8_t> data;       // captured bytes, gaps left out
    std::vector<StreamSegment> segments;  // ordered by pos, contiguous from begin_pos
    // Where `segments` start: 0, unless the bytes before went to a ConnectionTap
    // while the capture was read (StreamedCapture::for_each_connection).
    std::uint64_t begin_pos = 0;
    // Then: when the last byte before begin_pos was carried (0 if none), the
    // time of a position past every captured byte when none is left after it.
    std::uint64_t monotonic_before = 0;
    std::uint64_t end_pos = 0;            // total bytes that flowed, captured or not
    std::uint64_t gap_bytes = 0;

    std::span<const std::uint8_t> bytes(const StreamSegment& s) const {
        return {data.data() + s.data_offset, static_cast<std::size_t>(s.len)};
    }
};

struct Connection {
    std::uint64_t conn_gen = 0;  // unique within the capture
    std::uint32_t pid = 0;
    std::uint64_t ssl = 0;
    std::string comm;
    std::uint64_t first_monotonic_ns = 0;
    std::uint64_t last_monotonic_ns = 0;
    std::optional<std::uint64_t> handshake_start_ns;
    std::optional<std::uint64_t> handshake_done_ns;
    bool closed = false;  // SSL_free/SSL_clear seen
    // The capture saw the connection begin (SSL_new or its handshake), so stream
    // position 0 is its first byte; false for connections already open at attach time.
    bool from_start = false;
    // ct-record --watch: the connection was open when the previous file of the series
    // closed; its streams begin with a gap of reason EarlierFile (those bytes: that file).
    bool continued = false;
    std::optional<SocketInfo> socket;
    std::array<DirectionStream, 2> streams;  // [CT_DIR_WRITE], [CT_DIR_READ]
};

struct CounterTotals {
    std::uint64_t events = 0;
    std::uint64_t ring_full_events = 0;
    std::uint64_t ring_full_bytes = 0;
    std::uint64_t read_fault_events = 0;
    std::uint64_t read_fault_bytes = 0;
    std::uint64_t truncated_calls = 0;
    std::uint64_t truncated_bytes = 0;
    bool final = false;  // the recorder's last snapshot was found
};

struct Note {
    std::string level;
    std::string message;
    std::uint64_t monotonic_ns = 0;
};

struct CaptureContents {
    CaptureHeader header;
    ReadSummary summary;
    std::vector<ProcessInfo> processes;  // by pid
    std::vector<ProbeInfo> probes;
    std::vector<Connection> connections;  // by first_monotonic_ns
    std::vector<SocketInfo> connects;     // connect()/accept() calls seen (no TLS connection yet)
    std::vector<TcpConnection> tcp_connections;  // by open time
    std::vector<Note> notes;
    CounterTotals counters;
    std::uint64_t events = 0;       // event records read
    std::uint64_t lost_events = 0;  // sequence numbers never seen
    std::uint64_t malformed_events = 0;
    // Of malformed_events: events naming stream positions at or past kMaxStreamPos
    // (impossible: no connection carries 4 EiB), ignored.
    std::uint64_t impossible_positions = 0;
    // Captured bytes not kept because max_held_bytes was reached (gaps "over-limit"),
    // and records (connections, processes, losses, notes ...) left out for it.
    std::uint64_t over_limit_bytes = 0;
    std::uint64_t over_limit_records = 0;
    std::uint64_t max_held_bytes = 0;  // the limit it was loaded with
    std::uint64_t first_monotonic_ns = 0;
    std::uint64_t last_monotonic_ns = 0;
};

// Stream positions and lengths are 64-bit in the format; anything at or past 2^62
// cannot be real, and keeping every position below it means no sum of a position
// and a length can wrap.
inline constexpr std::uint64_t kMaxStreamPos = 1ull << 62;

// Captured plaintext a load keeps in memory at most, all connections together.
inline constexpr std::uint64_t kDefaultMaxHeldBytes = 1ull << 30;

inline constexpr std::uint64_t kDefaultMaxWaitingBytes = 256ull << 20;

struct LoadOptions {
    std::function<void(std::uint64_t, std::uint64_t)> progress;  // (bytes done, total)
    // Captured bytes kept in memory at most; past them (in file order) they become
    // gaps with reason OverLimit. A quarter of it again bounds the bookkeeping
    // (connections, processes, pieces, losses, notes ...); records past that are
    // left out. So memory grows neither with the plaintext nor with the events.
    std::uint64_t max_held_bytes = kDefaultMaxHeldBytes;
    // StreamedCapture: captured bytes of ended connections kept waiting for one
    // that started before them at most; past it they are handed over first.
    std::uint64_t max_waiting_bytes = kDefaultMaxWaitingBytes;
};

// Reads and reassembles a whole capture. Fails only when the file cannot be read as
// a capture at all; damage is reported in `summary`.
Expected<CaptureContents> load_capture(const std::string& path, const LoadOptions& options = {});

// Takes the bytes of the connection that is next to be handed over while the
// capture is read (StreamedCapture::for_each_connection), so that they need not
// be held until the connection's last record: in stream order, each direction's
// from position 0, for as long as they arrive in that order (a DATA event that
// does not start where the previous one of its direction ended stops the tap
// for that direction; from there on the bytes are kept as usual).
class ConnectionTap {
  public:
    virtual ~ConnectionTap() = default;
    // `connection` as known so far (its streams empty); `segment` tells where the
    // bytes sit and when they were carried (its data_offset means nothing).
    virtual Expected<void> data(const Connection& connection, int direction,
                                const StreamSegment& segment,
                                std::span<const std::uint8_t> bytes) = 0;
};

// A capture read twice instead of held whole. open() reads it once for everything
// but the plaintext, and learns where each connection's last record is;
// for_each_connection() reads it again and hands over each connection, exactly
// as load_capture() builds it, once its last record has been read, then forgets
// it. The plaintext held at a time is that of the connections open at that point
// of the file, and of those that ended but wait for one that started before them
// (connections are handed over in the order of CaptureContents::connections,
// except that past LoadOptions::max_waiting_bytes of them, those that ended go
// ahead of one still open).
class StreamedCapture {
  public:
    static Expected<StreamedCapture> open(const std::string& path, const LoadOptions& options = {});

    // Everything load_capture() gives but `connections`, which is empty.
    const CaptureContents& contents() const { return contents_; }
    std::size_t connection_count() const { return order_.size(); }

    // visit(connection) for each connection, in order (see above). After a visit fails, no
    // other is made and the failure is returned. A file that grew since open()
    // is read as far as it was then.
    // With a `tap`, the bytes of the connection next in order go to it as they
    // are read while they come in stream order (see ConnectionTap); that
    // connection is handed over later with each stream's begin_pos where the
    // tapped bytes ended, and without them.
    using Visit = std::function<Expected<void>(Connection&&)>;
    Expected<void> for_each_connection(const Visit& visit, ConnectionTap* tap = nullptr);

    // The most captured bytes for_each_connection() held at once (not counting
    // what a visit keeps).
    std::uint64_t held_high_water() const { return held_high_water_; }

    // The same over records read elsewhere (tests, fuzz targets), which must
    // outlive it; `summary` is what reading them found.
    static StreamedCapture from_records(const CaptureHeader& header,
                                        std::span<const Record> records, ReadSummary summary,
                                        const LoadOptions& options = {});

  private:
    using Read = std::function<ReadSummary(
        const std::function<void(const Record&)>& visit,
        const std::function<void(std::uint64_t, std::uint64_t)>& progress)>;
    StreamedCapture(CaptureHeader header, Read read, LoadOptions options)
        : header_(std::move(header)), read_(std::move(read)), options_(std::move(options)) {}
    void index();  // the first read

    CaptureHeader header_;
    Read read_;
    LoadOptions options_;
    CaptureContents contents_;
    std::uint64_t records_ = 0;         // read by open()
    std::vector<std::uint64_t> order_;  // connection generations, in hand-over order
    // (index of a connection's last record, its generation), by record index
    std::vector<std::pair<std::uint64_t, std::uint64_t>> completions_;
    std::uint64_t held_high_water_ = 0;
};

// What load_capture does with the records it read, for records from elsewhere
// (the fuzz target of stream assembly).
CaptureContents build_contents(const CaptureHeader& header, std::span<const Record> records,
                               ReadSummary summary, const LoadOptions& options = {});

}  // namespace ct::replay
