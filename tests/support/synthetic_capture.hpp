// Builds capture files from scripted byte streams with the project's own writer,
// so reader and analyzer tests run without root or BPF. Sequence numbers,
// timestamps and stream positions are kept the way the BPF side keeps them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "capture/capture_writer.hpp"
#include "ct_abi.hpp"

namespace ct::testing {

std::span<const std::uint8_t> as_bytes(std::string_view s);

// The 16 bytes of the UUID a synthetic capture derives from `seed`.
std::vector<std::uint8_t> synthetic_uuid(const std::string& seed);

// Header fields 24 to 28: a file of a `ct-record --watch` series (capture-format.md 3.7).
struct SyntheticSeries {
    std::string series_seed;      // the series UUID is derived from it
    std::uint64_t index = 0;      // series_index
    std::uint64_t first_seq = 0;  // the file's events are numbered from here
    std::string previous_seed;    // the uuid_seed of the file it continues ("": none)
    std::vector<std::string> rules = {"name=claude"};
};

struct SyntheticOptions {
    std::string uuid_seed = "synthetic";  // the capture UUID is derived from it
    std::optional<SyntheticSeries> series;
    std::uint64_t payload_cap = 16u << 20;
    std::uint32_t chunk_max = CT_DATA_CHUNK_MAX;
    std::vector<std::string> target_cmdline;  // header field 12 when not empty
    record::WriterOptions writer;
};

class SyntheticCapture {
  public:
    // Creates the file and writes its header (fails the test on error via exceptions).
    SyntheticCapture(const std::string& path, SyntheticOptions options = {});

    // A new TLS connection of process `pid`; returns its generation.
    std::uint64_t open_connection(std::uint32_t pid, std::uint64_t ssl,
                                  std::string_view comm = "client", bool with_handshake = true);
    // A successful SSL_write (egress) or SSL_read (ingress) of `bytes`.
    void write(std::uint64_t gen, std::string_view bytes) { call(gen, CT_DIR_WRITE, bytes); }
    void read(std::uint64_t gen, std::string_view bytes) { call(gen, CT_DIR_READ, bytes); }
    void call(std::uint64_t gen, int direction, std::string_view bytes);
    // Bytes that flowed but were not recorded, with a LOSS event naming the reason.
    void lose(std::uint64_t gen, int direction, std::uint64_t len, std::uint32_t reason);
    // Bytes that flowed with no event at all (lost events: a sequence gap).
    void vanish(std::uint64_t gen, int direction, std::uint64_t len, std::uint64_t events = 1);
    void socket(std::uint64_t gen, int fd, std::string_view remote_ipv4, std::uint16_t remote_port,
                std::uint16_t local_port);
    void close(std::uint64_t gen);
    // The totals of a TCP connection of `pid` (CT_EVENT_TCP) that ended now after
    // `duration_ns`; tied to TLS connection `tls_gen` if not 0. IPv6 if the peer has a ':'.
    struct Tcp {
        std::uint32_t pid = 0;
        int fd = 3;
        std::string_view remote = "127.0.0.1";
        std::uint16_t remote_port = 443;
        std::uint16_t local_port = 40000;
        std::uint8_t origin = CT_TCP_FROM_CONNECT;
        std::uint8_t end = CT_TCP_END_CLOSE;
        std::uint64_t sent = 0, received = 0;
        std::uint64_t tls_gen = 0;
        std::uint64_t duration_ns = 1'000'000;
    };
    void tcp(const Tcp& t);
    // A NOTE record, as the recorder writes for its warnings.
    void note(std::string_view level, std::string_view message);
    void process(std::uint32_t pid, std::uint32_t ppid, std::string_view exe,
                 const std::vector<std::string>& argv);
    void exit(std::uint32_t pid, int status);
    // Advances the clock (every event takes 1 µs unless told otherwise).
    void advance_ns(std::uint64_t ns) { now_ns_ += ns; }
    std::uint64_t now_ns() const { return now_ns_; }

    void append_raw(ctz::RecordType type, std::span<const std::uint8_t> body);
    // Ends the current zstd frame (segment): the next records start a new one.
    void flush_frame();
    // Closes the current unit inside the segment (what the recorder does every second).
    void flush_unit();
    // Writes the trailer (a clean end). Without it the capture looks killed.
    void finish(std::string_view reason = "test finished");

    std::uint64_t next_seq() const { return seq_; }
    record::CaptureWriter& writer() { return *writer_; }

  private:
    ct_event_header header(std::uint16_t type, std::uint16_t size, std::uint32_t pid);
    void emit(std::span<const std::uint8_t> event);
    template <typename T>
    void emit_struct(const T& ev) {
        emit({reinterpret_cast<const std::uint8_t*>(&ev), sizeof ev});
    }

    struct Conn {
        std::uint32_t pid;
        std::uint64_t ssl;
        std::string comm;
        std::uint64_t pos[2] = {0, 0};
    };

    SyntheticOptions options_;
    std::unique_ptr<record::CaptureWriter> writer_;
    std::map<std::uint64_t, Conn> conns_;
    std::uint64_t seq_ = 0;
    std::uint64_t first_seq_ = 0;
    std::uint64_t next_gen_ = 1;
    std::uint64_t now_ns_ = 1'000'000'000;
    std::uint64_t events_ = 0;
    std::uint64_t data_bytes_ = 0;
};

}  // namespace ct::testing
