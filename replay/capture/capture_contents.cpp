#include "capture/capture_contents.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <thread>
#include <unordered_map>

#include "capture/record_pipe.hpp"
#include "ct_abi.hpp"

namespace ct::replay {

const char* gap_reason_name(GapReason reason) {
    switch (reason) {
        case GapReason::LostEvents:
            return "lost-events";
        case GapReason::RingFull:
            return "ring-full";
        case GapReason::ReadFault:
            return "read-fault";
        case GapReason::Truncated:
            return "truncated";
        case GapReason::OverLimit:
            return "over-limit";
        case GapReason::EarlierFile:
            return "earlier-file";
    }
    return "unknown";
}

namespace {

std::string format_address(std::uint16_t family, const std::uint8_t (&addr)[16]) {
    char buf[INET6_ADDRSTRLEN] = {};
    static const std::uint8_t kV4Mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (family == AF_INET || std::memcmp(addr, kV4Mapped, 12) == 0) {
        inet_ntop(AF_INET, addr + 12, buf, sizeof buf);
    } else if (family == AF_INET6) {
        inet_ntop(AF_INET6, addr, buf, sizeof buf);
    } else if (family == AF_UNIX) {
        return "unix";
    }
    return buf;
}

SocketInfo socket_info(const ct_socket_event& ev) {
    SocketInfo s;
    s.fd = ev.fd;
    s.family = ev.family;
    s.local_addr = format_address(ev.family, ev.local_addr);
    s.local_port = ev.local_port;
    s.remote_addr = format_address(ev.family, ev.remote_addr);
    s.remote_port = ev.remote_port;
    switch (ev.origin) {
        case CT_SOCKET_FROM_IO:
            s.origin = "in-call";
            break;
        case CT_SOCKET_FROM_CONNECT:
            s.origin = "connect";
            break;
        case CT_SOCKET_FROM_NEXT_SEND:
            s.origin = "next-send";
            break;
        case CT_SOCKET_FROM_LAST_RECV:
            s.origin = "last-recv";
            break;
        case CT_SOCKET_FROM_ACCEPT:
            s.origin = "accept";
            break;
        case CT_SOCKET_FROM_GO_CONN:
            s.origin = "go-conn";
            break;
        case CT_SOCKET_FROM_CONTINUED:
            s.origin = "continued";
            break;
        case CT_SOCKET_FROM_CIPHERTEXT:
            s.origin = "ciphertext";
            break;
        default:
            s.origin = "unknown";
            break;
    }
    return s;
}

GapReason gap_reason_of(std::uint32_t loss_reason) {
    switch (loss_reason) {
        case CT_LOSS_RING_FULL:
            return GapReason::RingFull;
        case CT_LOSS_READ_FAULT:
            return GapReason::ReadFault;
        case CT_LOSS_TRUNCATED:
            return GapReason::Truncated;
        default:
            return GapReason::LostEvents;
    }
}

struct Piece {
    std::uint64_t pos, seq, monotonic_ns, call_start_ns, call_len, chunk_offset;
    std::uint32_t tid;
    std::uint8_t func;
    std::size_t offset, len;  // the bytes, in DirectionBuild::bytes
};

struct Loss {
    std::uint64_t pos, len;
    GapReason reason;
};

struct DirectionBuild {
    // Captured bytes in the order they arrived: usually stream order already, so
    // they become the stream's data without a copy.
    std::vector<std::uint8_t> bytes;
    std::vector<Piece> pieces;
    std::vector<Loss> losses;
    std::uint64_t known_end = 0;  // from close events and losses
    // Bytes before this position went to a ConnectionTap; `tapping` while the
    // next ones in stream order go there too.
    std::uint64_t tapped_end = 0;
    bool tapping = false;
};

struct ConnectionBuild {
    Connection conn;
    std::array<DirectionBuild, 2> dirs;
    std::uint64_t last_record = 0;  // index of the last record that touched it
};

// Sorts the losses and makes them disjoint (where two overlap, the one that
// starts first names the reason), so that each gap looks at the few it touches.
void make_disjoint(std::vector<Loss>& losses) {
    std::sort(losses.begin(), losses.end(),
              [](const Loss& a, const Loss& b) { return a.pos < b.pos; });
    std::vector<Loss> out;
    out.reserve(losses.size());
    std::uint64_t covered = 0;
    for (const auto& l : losses) {
        std::uint64_t a = std::max(l.pos, covered), b = l.pos + l.len;
        if (b <= a)
            continue;
        out.push_back(Loss{a, b - a, l.reason});
        covered = b;
    }
    losses = std::move(out);
}

// Adds gap segments for [from, to), split by the recorded loss reasons (disjoint,
// sorted by pos).
void add_gap(DirectionStream& out, std::uint64_t from, std::uint64_t to,
             const std::vector<Loss>& all_losses) {
    // The first loss that ends after `from`; the ones before it cannot touch the gap.
    auto first = std::upper_bound(all_losses.begin(), all_losses.end(), from,
                                  [](std::uint64_t p, const Loss& l) { return p < l.pos + l.len; });
    std::span<const Loss> losses(first, all_losses.end());
    std::uint64_t cur = from;
    auto push = [&](std::uint64_t a, std::uint64_t b, GapReason r) {
        if (b <= a)
            return;
        StreamSegment s;
        s.pos = a;
        s.len = b - a;
        s.is_gap = true;
        s.gap_reason = r;
        out.segments.push_back(s);
        out.gap_bytes += s.len;
    };
    for (const auto& l : losses) {
        if (l.pos >= to)
            break;
        std::uint64_t a = std::max(l.pos, cur), b = std::min(l.pos + l.len, to);
        if (b <= a)
            continue;
        push(cur, a, GapReason::LostEvents);
        push(a, b, l.reason);
        cur = b;
    }
    push(cur, to, GapReason::LostEvents);
}

DirectionStream assemble(DirectionBuild& d) {
    DirectionStream out;
    const std::uint64_t base = d.tapped_end;  // the stream starts there
    out.begin_pos = base;
    std::stable_sort(d.pieces.begin(), d.pieces.end(), [](const Piece& a, const Piece& b) {
        return a.pos != b.pos ? a.pos < b.pos : a.seq < b.seq;
    });
    make_disjoint(d.losses);
    // In stream order, without overlaps, and in arrival order: the bytes are the
    // stream's data as they are (the usual case); otherwise they are copied in order.
    bool in_place = true;
    std::uint64_t end_so_far = base;
    std::size_t next_offset = 0;
    for (const auto& p : d.pieces) {
        if (p.pos < end_so_far || p.offset != next_offset) {
            in_place = false;
            break;
        }
        end_so_far = p.pos + p.len;
        next_offset = p.offset + p.len;
    }
    if (in_place) {
        out.data = std::move(d.bytes);
    } else {
        std::size_t total = 0;
        for (const auto& p : d.pieces)
            total += p.len;
        out.data.reserve(total);
    }
    std::uint64_t cur = base;
    for (const auto& p : d.pieces) {
        if (p.pos > cur)
            add_gap(out, cur, p.pos, d.losses);
        std::uint64_t skip = p.pos < cur ? cur - p.pos : 0;  // overlap: keep the first copy
        if (skip >= p.len)
            continue;
        StreamSegment s;
        s.pos = p.pos + skip;
        s.len = p.len - skip;
        s.data_offset = in_place ? p.offset : out.data.size();
        s.monotonic_ns = p.monotonic_ns;
        s.call_start_ns = p.call_start_ns;
        s.tid = p.tid;
        s.seq = p.seq;
        s.func = p.func;
        s.call_len = p.call_len;
        s.chunk_offset = p.chunk_offset + skip;
        if (!in_place) {
            const auto first = d.bytes.begin() + static_cast<std::ptrdiff_t>(p.offset + skip);
            out.data.insert(out.data.end(), first,
                            d.bytes.begin() + static_cast<std::ptrdiff_t>(p.offset + p.len));
        }
        out.segments.push_back(s);
        cur = s.pos + s.len;
    }
    std::uint64_t end = std::max(cur, d.known_end);
    if (!d.losses.empty())
        end = std::max(end, d.losses.back().pos + d.losses.back().len);
    if (end > cur)
        add_gap(out, cur, end, d.losses);
    out.end_pos = end;
    return out;
}

// min(a + b, kMaxStreamPos) without wrapping.
std::uint64_t clamped_end(std::uint64_t a, std::uint64_t b) {
    if (a >= kMaxStreamPos || b >= kMaxStreamPos - a)
        return kMaxStreamPos;
    return a + b;
}

class ContentsBuilder {
  public:
    // Index mode (keep_bytes false) takes the same decisions as a full build,
    // budgets included, but keeps no captured byte and no piece: it learns the
    // capture's records, and where each connection's last record is.
    ContentsBuilder(const CaptureHeader& header, std::uint64_t max_held_bytes,
                    bool keep_bytes = true)
        : held_budget_(max_held_bytes),
          record_budget_(max_held_bytes / 4),
          keep_bytes_(keep_bytes) {
        out_.header = header;
        out_.max_held_bytes = max_held_bytes;
    }

    std::uint64_t records_added() const { return records_; }
    // For a second read of records already counted: no sequence numbers kept.
    void skip_sequence_numbers() { count_sequence_numbers_ = false; }
    std::uint64_t held_bytes() const { return held_now_; }

    // Hands the bytes of connection `gen` to `tap` from now on, as far as they
    // come in stream order: those kept so far first, if they are in order from
    // position 0. Stops tapping the connection tapped before, if any.
    Expected<void> tap(ConnectionTap* tap, std::optional<std::uint64_t> gen) {
        if (tapped_) {
            for (auto& d : tapped_->dirs)
                d.tapping = false;
            tapped_ = nullptr;
        }
        tap_ = tap;
        if (!tap || !gen)
            return {};
        tap_gen_ = *gen;
        auto it = conns_.find(*gen);
        if (it == conns_.end())
            return {};  // not seen yet: conn() starts tapping it when it is
        return start_tap(it->second);
    }
    Expected<void> tap_status() const { return tap_status_; }

    void add(const Record& r) {
        add_record(r);
        ++records_;
    }

    // Index mode: each connection's generation, first time and last record index.
    struct ConnectionIndex {
        std::uint64_t gen, first_monotonic_ns, last_record;
    };
    std::vector<ConnectionIndex> connection_index() const {
        std::vector<ConnectionIndex> out;
        out.reserve(conns_.size());
        for (const auto& [gen, cb] : conns_)
            out.push_back(ConnectionIndex{gen, cb.conn.first_monotonic_ns, cb.last_record});
        return out;
    }

    // Assembles a connection no later record touches and forgets it.
    std::optional<Connection> take(std::uint64_t gen) {
        auto it = conns_.find(gen);
        if (it == conns_.end())
            return std::nullopt;
        ConnectionBuild& cb = it->second;
        if (&cb == tapped_)
            tapped_ = nullptr;
        for (int d = 0; d < 2; ++d) {
            held_now_ -= cb.dirs[d].bytes.size();
            cb.conn.streams[d] = assemble(cb.dirs[d]);
        }
        Connection c = std::move(cb.conn);
        conns_.erase(it);
        return c;
    }

  private:
    void add_record(const Record& r) {
        switch (r.type) {
            case ctz::RecordType::Event:
                event(r.body);
                break;
            case ctz::RecordType::Process:
                if (charge(r.body.size()))  // the strings it may bring
                    process(ctz::parse_fields(r.body));
                break;
            case ctz::RecordType::Probe:
                if (charge(sizeof(ProbeInfo) + 2 * r.body.size()))
                    probe(ctz::parse_fields(r.body));
                break;
            case ctz::RecordType::Counters:
                counters(ctz::parse_fields(r.body));
                break;
            case ctz::RecordType::Note:
                if (charge(sizeof(Note) + r.body.size()))
                    note(ctz::parse_fields(r.body));
                break;
            default:
                break;  // FrameBegin, Clock, and types newer than this reader
        }
    }

  public:
    // Index mode: the connections are left out (connection_index() names them).
    CaptureContents finish(ReadSummary summary) {
        out_.summary = std::move(summary);
        count_lost_sequence_numbers();
        for (auto& [pid, p] : processes_)
            out_.processes.push_back(std::move(p));
        if (keep_bytes_) {
            assemble_all();
            for (auto& [gen, cb] : conns_)
                out_.connections.push_back(std::move(cb.conn));
        }
        std::sort(out_.connections.begin(), out_.connections.end(),
                  [](const Connection& a, const Connection& b) {
                      return a.first_monotonic_ns != b.first_monotonic_ns
                                 ? a.first_monotonic_ns < b.first_monotonic_ns
                                 : a.conn_gen < b.conn_gen;
                  });
        std::stable_sort(out_.tcp_connections.begin(), out_.tcp_connections.end(),
                         [](const TcpConnection& a, const TcpConnection& b) {
                             return a.open_monotonic_ns < b.open_monotonic_ns;
                         });
        return std::move(out_);
    }

  private:
    // Assembly copies every captured byte once more; connections are independent,
    // so it runs on all cores, each thread taking the next connection left.
    void assemble_all() {
        std::vector<ConnectionBuild*> builds;
        builds.reserve(conns_.size());
        for (auto& [gen, cb] : conns_)
            builds.push_back(&cb);
        std::atomic<std::size_t> next{0};
        auto work = [&] {
            for (std::size_t i = next++; i < builds.size(); i = next++) {
                ConnectionBuild& cb = *builds[i];
                for (int d = 0; d < 2; ++d) {
                    cb.conn.streams[d] = assemble(cb.dirs[d]);
                    cb.dirs[d].pieces = {};  // freed here, in parallel too
                    cb.dirs[d].bytes = {};
                }
            }
        };
        const std::size_t threads =
            std::min<std::size_t>(std::max(1u, std::thread::hardware_concurrency()), builds.size());
        std::vector<std::future<void>> helpers;
        for (std::size_t t = 1; t < threads; ++t)
            helpers.push_back(std::async(std::launch::async, work));
        work();
        for (auto& h : helpers)
            h.get();
    }

    Expected<void> start_tap(ConnectionBuild& cb) {
        tapped_ = &cb;
        for (int dir = 0; dir < 2; ++dir) {
            auto& d = cb.dirs[dir];
            // Only bytes kept in stream order from position 0 can go to the tap.
            bool in_order = d.tapped_end == 0;
            std::uint64_t end = 0;
            for (const auto& p : d.pieces) {
                if (!in_order || p.pos != end) {
                    in_order = false;
                    break;
                }
                end += p.len;
            }
            if (!in_order)
                continue;
            d.tapping = true;
            for (const auto& p : d.pieces) {
                StreamSegment s = segment_of(p.pos, p.len, p.monotonic_ns, p.call_start_ns, p.tid,
                                             p.seq, p.func, p.call_len, p.chunk_offset);
                if (!feed(cb, dir, s, std::span(d.bytes).subspan(p.offset, p.len)))
                    return tap_status_;
            }
            held_now_ -= d.bytes.size();
            d.bytes = {};
            d.pieces = {};
        }
        return {};
    }

    static StreamSegment segment_of(std::uint64_t pos, std::uint64_t len,
                                    std::uint64_t monotonic_ns, std::uint64_t call_start_ns,
                                    std::uint32_t tid, std::uint64_t seq, std::uint8_t func,
                                    std::uint64_t call_len, std::uint64_t chunk_offset) {
        StreamSegment s;
        s.pos = pos;
        s.len = len;
        s.monotonic_ns = monotonic_ns;
        s.call_start_ns = call_start_ns;
        s.tid = tid;
        s.seq = seq;
        s.func = func;
        s.call_len = call_len;
        s.chunk_offset = chunk_offset;
        return s;
    }

    // Hands bytes to the tap; false (and the tap stopped) if it failed.
    bool feed(ConnectionBuild& cb, int dir, const StreamSegment& s,
              std::span<const std::uint8_t> bytes) {
        auto r = tap_->data(cb.conn, dir, s, bytes);
        cb.dirs[dir].tapped_end = s.pos + s.len;
        if (!r) {
            tap_status_ = std::unexpected(r.error());
            for (auto& d : cb.dirs)
                d.tapping = false;
            tap_ = nullptr;
            tapped_ = nullptr;
            return false;
        }
        return true;
    }

    // Takes `bytes` of the bookkeeping budget (connections, processes, pieces,
    // losses, notes ...); false, and the record counted as left out, when it is
    // used up: no stream of small events can make memory grow without bound either.
    bool charge(std::uint64_t bytes) {
        if (record_budget_ < bytes) {
            ++out_.over_limit_records;
            return false;
        }
        record_budget_ -= bytes;
        return true;
    }

    // nullptr when a new connection does not fit in the memory budget.
    ConnectionBuild* conn(std::uint64_t gen, const ct_event_header& h, std::uint64_t ssl,
                          std::string_view comm) {
        auto found = conns_.find(gen);
        if (found == conns_.end() && !charge(sizeof(ConnectionBuild) + 64))
            return nullptr;
        auto [it, inserted] = conns_.try_emplace(gen);
        it->second.last_record = records_;
        if (inserted && tap_ && tap_gen_ == gen && keep_bytes_) {
            tapped_ = &it->second;
            for (auto& d : tapped_->dirs)
                d.tapping = true;
        }
        auto& c = it->second.conn;
        if (inserted) {
            c.conn_gen = gen;
            c.pid = h.pid;
            c.ssl = ssl;
            c.first_monotonic_ns = h.ts_ns;
        }
        if (c.comm.empty())
            c.comm = comm;
        c.first_monotonic_ns = std::min<std::uint64_t>(c.first_monotonic_ns, h.ts_ns);
        c.last_monotonic_ns = std::max<std::uint64_t>(c.last_monotonic_ns, h.ts_ns);
        return &it->second;
    }

    // nullptr when a new process does not fit in the memory budget (an event can
    // give it up to CT_EXEC_ARGS_MAX + CT_EXEC_FILENAME_MAX bytes of strings).
    ProcessInfo* proc(std::uint32_t pid) {
        auto found = processes_.find(pid);
        if (found == processes_.end() &&
            !charge(sizeof(ProcessInfo) + CT_EXEC_ARGS_MAX + CT_EXEC_FILENAME_MAX + 64))
            return nullptr;
        auto& p = processes_[pid];
        p.pid = pid;
        return &p;
    }

    void event(std::span<const std::uint8_t> bytes) {
        auto h = abi::read_header(bytes);
        if (!h || abi::stored_length(bytes) == 0) {
            ++out_.malformed_events;
            return;
        }
        ++out_.events;
        if (count_sequence_numbers_)
            seqs_.push_back(h->seq);
        if (out_.first_monotonic_ns == 0 || h->ts_ns < out_.first_monotonic_ns) {
            out_.first_monotonic_ns = h->ts_ns;
        }
        out_.last_monotonic_ns = std::max<std::uint64_t>(out_.last_monotonic_ns, h->ts_ns);
        switch (h->type) {
            case CT_EVENT_DATA:
                data(*abi::read_struct<ct_data_event>(bytes), abi::tail(bytes));
                break;
            case CT_EVENT_LOSS:
                loss(*abi::read_struct<ct_loss_event>(bytes));
                break;
            case CT_EVENT_CONN:
                conn_event(*abi::read_struct<ct_conn_event>(bytes));
                break;
            case CT_EVENT_SOCKET:
                socket(*abi::read_struct<ct_socket_event>(bytes));
                break;
            case CT_EVENT_FORK:
                fork(*abi::read_struct<ct_fork_event>(bytes));
                break;
            case CT_EVENT_EXEC:
                exec(*abi::read_event<ct_exec_event>(bytes), abi::tail(bytes));
                break;
            case CT_EVENT_EXIT:
                exit(*abi::read_struct<ct_exit_event>(bytes));
                break;
            case CT_EVENT_TCP:
                tcp(*abi::read_struct<ct_tcp_event>(bytes));
                break;
            default:
                break;
        }
    }

    void data(const ct_data_event& ev, std::span<const std::uint8_t> payload) {
        if (ev.direction > CT_DIR_READ) {
            ++out_.malformed_events;
            return;
        }
        if (clamped_end(ev.stream_pos, payload.size()) == kMaxStreamPos) {
            ++out_.malformed_events;
            ++out_.impossible_positions;
            return;
        }
        auto* cb = conn(ev.conn_gen, ev.hdr, ev.ssl, abi::comm_view(ev.comm));
        if (!cb)
            return;
        auto& d = cb->dirs[ev.direction];
        const std::uint64_t recorded_end = ev.stream_pos + payload.size();
        if (payload.size() > held_budget_) {
            // Over the memory budget: the bytes become a gap.
            const std::size_t keep = static_cast<std::size_t>(held_budget_);
            const std::uint64_t from = ev.stream_pos + keep, dropped = payload.size() - keep;
            out_.over_limit_bytes += dropped;
            payload = payload.first(keep);
            if (!d.losses.empty() && d.losses.back().reason == GapReason::OverLimit &&
                d.losses.back().pos + d.losses.back().len == from) {
                d.losses.back().len += dropped;  // one gap for a run of dropped events
            } else if (charge(sizeof(Loss))) {
                d.losses.push_back(Loss{from, dropped, GapReason::OverLimit});
            }
        }
        if (!payload.empty() && charge(sizeof(Piece))) {
            held_budget_ -= payload.size();
            if (d.tapping && ev.stream_pos == d.tapped_end && d.pieces.empty()) {
                feed(*cb, ev.direction,
                     segment_of(ev.stream_pos, payload.size(), ev.hdr.ts_ns, ev.call_start_ns,
                                ev.hdr.tid, ev.hdr.seq, ev.func, ev.call_len, ev.chunk_offset),
                     payload);
            } else if (keep_bytes_) {
                d.tapping = false;  // out of order: kept from here on
                d.pieces.push_back(Piece{ev.stream_pos, ev.hdr.seq, ev.hdr.ts_ns, ev.call_start_ns,
                                         ev.call_len, ev.chunk_offset, ev.hdr.tid, ev.func,
                                         d.bytes.size(), payload.size()});
                d.bytes.insert(d.bytes.end(), payload.begin(), payload.end());
                held_now_ += payload.size();
            }
        } else {
            out_.over_limit_bytes += payload.size();
        }
        // The event itself says how much of the call is missing past the cap.
        if ((ev.flags & CT_DATA_TRUNCATED) && (ev.flags & CT_DATA_LAST_CHUNK) &&
            ev.stream_pos >= ev.chunk_offset) {
            std::uint64_t call_end = clamped_end(ev.stream_pos - ev.chunk_offset, ev.call_len);
            if (call_end > recorded_end && charge(sizeof(Loss)))
                d.losses.push_back(
                    Loss{recorded_end, call_end - recorded_end, GapReason::Truncated});
        }
    }

    void loss(const ct_loss_event& ev) {
        if (ev.direction > CT_DIR_READ || ev.conn_gen == 0)
            return;
        if (ev.stream_pos >= kMaxStreamPos) {
            ++out_.malformed_events;
            ++out_.impossible_positions;
            return;
        }
        auto* cb = conn(ev.conn_gen, ev.hdr, ev.ssl, {});
        if (!cb || !charge(sizeof(Loss)))
            return;
        cb->dirs[ev.direction].losses.push_back(
            Loss{ev.stream_pos, clamped_end(ev.stream_pos, ev.lost_len) - ev.stream_pos,
                 gap_reason_of(ev.reason)});
    }

    void conn_event(const ct_conn_event& ev) {
        auto* found = conn(ev.conn_gen, ev.hdr, ev.ssl, abi::comm_view(ev.comm));
        if (!found)
            return;
        auto& cb = *found;
        auto& c = cb.conn;
        switch (ev.kind) {
            case CT_CONN_OPEN:
                if (abi::opens_from_start(ev.func)) {
                    c.from_start = true;
                } else if (ev.func == CT_FUNC_CONTINUED) {
                    // A rotated capture: what flowed before is in the previous file.
                    c.continued = true;
                    const std::uint64_t pos[2] = {ev.bytes_written, ev.bytes_read};
                    for (int d = 0; d < 2; ++d) {
                        std::uint64_t at = std::min<std::uint64_t>(pos[d], kMaxStreamPos);
                        if (at > 0 && charge(sizeof(Loss)))
                            cb.dirs[d].losses.push_back(Loss{0, at, GapReason::EarlierFile});
                    }
                }
                break;
            case CT_CONN_CLOSE:
                c.closed = true;
                cb.dirs[CT_DIR_WRITE].known_end = std::max<std::uint64_t>(
                    cb.dirs[0].known_end, std::min<std::uint64_t>(ev.bytes_written, kMaxStreamPos));
                cb.dirs[CT_DIR_READ].known_end = std::max<std::uint64_t>(
                    cb.dirs[1].known_end, std::min<std::uint64_t>(ev.bytes_read, kMaxStreamPos));
                break;
            case CT_CONN_HANDSHAKE_START:
                if (!c.handshake_start_ns)
                    c.handshake_start_ns = ev.hdr.ts_ns;
                break;
            case CT_CONN_HANDSHAKE_DONE:
                if (!c.handshake_done_ns && abi::handshake_succeeded(ev.func, ev.ret))
                    c.handshake_done_ns = ev.hdr.ts_ns;
                break;
            default:
                break;
        }
    }

    void socket(const ct_socket_event& ev) {
        if (ev.origin == CT_SOCKET_FROM_CONNECT || ev.conn_gen == 0) {
            if (charge(sizeof(SocketInfo) + 2 * INET6_ADDRSTRLEN))
                out_.connects.push_back(socket_info(ev));
            return;
        }
        if (auto* cb = conn(ev.conn_gen, ev.hdr, ev.ssl, {}))
            cb->conn.socket = socket_info(ev);
    }

    void tcp(const ct_tcp_event& ev) {
        TcpConnection t;
        t.pid = ev.hdr.pid;
        t.fd = ev.fd;
        t.family = ev.family;
        t.local_addr = format_address(ev.family, ev.local_addr);
        t.local_port = ev.local_port;
        t.remote_addr = format_address(ev.family, ev.remote_addr);
        t.remote_port = ev.remote_port;
        t.origin = abi::tcp_origin_name(ev.origin);
        t.end_reason = abi::tcp_end_name(ev.end);
        t.connect_ret = ev.connect_ret;
        t.open_monotonic_ns = ev.open_ns;
        t.end_monotonic_ns = ev.hdr.ts_ns;
        t.bytes_sent = ev.bytes_sent;
        t.bytes_received = ev.bytes_received;
        t.send_calls = ev.send_calls;
        t.recv_calls = ev.recv_calls;
        t.tls_seen = (ev.flags & CT_TCP_TLS_SEEN) != 0;
        t.conn_gen = t.tls_seen ? ev.conn_gen : 0;
        t.inherited = (ev.flags & CT_TCP_INHERITED) != 0;
        out_.tcp_connections.push_back(std::move(t));
    }

    void fork(const ct_fork_event& ev) {
        auto* child = proc(ev.child_pid);
        if (!child)
            return;
        auto& p = *child;
        p.ppid = ev.hdr.pid;
        if (p.start_monotonic_ns == 0)
            p.start_monotonic_ns = ev.start_ns;
        auto* found = proc(ev.hdr.pid);
        if (!found)
            return;
        auto& parent = *found;
        if (p.exe.empty())
            p.exe = parent.exe;
        if (p.cmdline.empty())
            p.cmdline = parent.cmdline;
    }

    void exec(const ct_exec_event& ev, std::span<const std::uint8_t> args) {
        auto* found = proc(ev.hdr.pid);
        if (!found)
            return;
        auto& p = *found;
        p.exe.assign(ev.filename, strnlen(ev.filename, sizeof ev.filename));
        p.comm = abi::comm_view(ev.comm);
        auto list = ctz::Field{0, ctz::FieldKind::StringList, args}.as_string_list();
        if (!list.empty())
            p.cmdline = std::move(list);
    }

    void exit(const ct_exit_event& ev) {
        auto* found = proc(ev.hdr.pid);
        if (!found)
            return;
        auto& p = *found;
        p.exit_status = ev.exit_code;
        p.exit_monotonic_ns = ev.hdr.ts_ns;
    }

    void process(const ctz::ParsedFields& f) {
        using F = ctz::ProcessField;
        auto pid = f.u64(F::Pid);
        if (!pid)
            return;
        auto* found = proc(static_cast<std::uint32_t>(*pid));
        if (!found)
            return;
        auto& p = *found;
        if (auto v = f.u64(F::Ppid); v && *v)
            p.ppid = static_cast<std::uint32_t>(*v);
        if (auto v = f.str(F::Exe); !v.empty())
            p.exe = v;
        if (auto v = f.str_list(F::Cmdline); !v.empty())
            p.cmdline = v;
        if (auto v = f.str(F::Cwd); !v.empty())
            p.cwd = v;
        if (auto v = f.str(F::Comm); !v.empty())
            p.comm = v;
        if (auto v = f.u64(F::StartMonotonicNs); v && *v)
            p.start_monotonic_ns = *v;
    }

    void probe(const ctz::ParsedFields& f) {
        using F = ctz::ProbeField;
        ProbeInfo p;
        p.binary_path = f.str(F::BinaryPath);
        if (const auto* b = f.find(F::BuildId)) {
            static const char* kHex = "0123456789abcdef";
            for (auto byte : b->value) {
                p.build_id += kHex[byte >> 4];
                p.build_id += kHex[byte & 15];
            }
        }
        p.function = f.str(F::Function);
        p.file_offset = f.u64(F::FileOffset).value_or(0);
        p.how_found = f.str(F::HowFound);
        p.kind = f.str(F::Kind);
        p.attached = f.u64(F::Attached).value_or(0) != 0;
        p.error = f.str(F::Error);
        p.pid = static_cast<std::uint32_t>(f.u64(F::Pid).value_or(0));
        out_.probes.push_back(std::move(p));
    }

    void counters(const ctz::ParsedFields& f) {
        using F = ctz::CounterField;
        auto& c = out_.counters;
        if (c.final)
            return;  // later snapshots cannot exist; ignore duplicates
        c.events = f.u64(F::Events).value_or(c.events);
        c.ring_full_events = f.u64(F::RingFullEvents).value_or(c.ring_full_events);
        c.ring_full_bytes = f.u64(F::RingFullBytes).value_or(c.ring_full_bytes);
        c.read_fault_events = f.u64(F::ReadFaultEvents).value_or(c.read_fault_events);
        c.read_fault_bytes = f.u64(F::ReadFaultBytes).value_or(c.read_fault_bytes);
        c.truncated_calls = f.u64(F::TruncatedCalls).value_or(c.truncated_calls);
        c.truncated_bytes = f.u64(F::TruncatedBytes).value_or(c.truncated_bytes);
        c.final = f.u64(F::Final).value_or(0) != 0;
    }

    void note(const ctz::ParsedFields& f) {
        using F = ctz::NoteField;
        out_.notes.push_back(
            Note{f.str(F::Level), f.str(F::Message), f.u64(F::MonotonicNs).value_or(0)});
    }

    // Sequence numbers are allocated before each ring reservation, so every
    // number never seen is an event that was lost.
    void count_lost_sequence_numbers() {
        std::sort(seqs_.begin(), seqs_.end());
        seqs_.erase(std::unique(seqs_.begin(), seqs_.end()), seqs_.end());
        // A rotated capture's numbers start at first_seq (earlier ones are earlier files');
        // an event numbered below it that reached this file late is not counted.
        const std::uint64_t first = out_.header.first_seq;
        seqs_.erase(seqs_.begin(), std::lower_bound(seqs_.begin(), seqs_.end(), first));
        std::uint64_t lost = 0;
        if (!seqs_.empty()) {
            lost += seqs_.front() - first;
            for (std::size_t i = 1; i < seqs_.size(); ++i)
                lost += seqs_[i] - seqs_[i - 1] - 1;
        }
        if (out_.summary.trailer) {
            std::uint64_t allocated = out_.summary.trailer->last_seq;
            std::uint64_t seen_end = seqs_.empty() ? first : seqs_.back() + 1;
            if (allocated > seen_end)
                lost += allocated - seen_end;
        }
        out_.lost_events = lost;
    }

    CaptureContents out_;
    std::uint64_t held_budget_;    // captured bytes that may still be kept
    std::uint64_t record_budget_;  // bytes of bookkeeping that may still be kept
    bool keep_bytes_;
    bool count_sequence_numbers_ = true;
    std::uint64_t records_ = 0;   // records added so far
    std::uint64_t held_now_ = 0;  // captured bytes held by the connections not taken
    std::map<std::uint32_t, ProcessInfo> processes_;
    std::map<std::uint64_t, ConnectionBuild> conns_;
    std::vector<std::uint64_t> seqs_;
    ConnectionTap* tap_ = nullptr;
    std::uint64_t tap_gen_ = 0;
    ConnectionBuild* tapped_ = nullptr;
    Expected<void> tap_status_;
};

}  // namespace

CaptureContents build_contents(const CaptureHeader& header, std::span<const Record> records,
                               ReadSummary summary, const LoadOptions& options) {
    ContentsBuilder builder(header, options.max_held_bytes);
    for (const auto& r : records)
        builder.add(r);
    return builder.finish(std::move(summary));
}

Expected<CaptureContents> load_capture(const std::string& path, const LoadOptions& options) {
    auto reader = CaptureReader::open(path);
    if (!reader)
        return std::unexpected(reader.error());
    ContentsBuilder builder(reader->header(), options.max_held_bytes);
    // Reading (decompression, checksums) on a thread of its own, building here.
    RecordPipe pipe;
    ReadSummary summary;
    std::function<void(std::uint64_t, std::uint64_t)> progress;
    if (options.progress)
        progress = [&pipe](std::uint64_t done, std::uint64_t total) { pipe.progress(done, total); };
    std::jthread reading([&] {
        summary = reader->for_each_record([&pipe](const Record& r) { pipe.push(r); }, progress);
        pipe.close();
    });
    struct CancelOnExit {
        RecordPipe& pipe;
        ~CancelOnExit() { pipe.cancel(); }  // before `reading` joins, should add() throw
    } cancel_on_exit{pipe};
    pipe.drain([&](const Record& r) { builder.add(r); }, options.progress);
    reading.join();
    return builder.finish(std::move(summary));
}

}  // namespace ct::replay

namespace ct::replay {

namespace {

// Reads `reader`'s records on a thread of its own and hands them to `add` here.
ReadSummary read_records(const CaptureReader& reader, const std::function<void(const Record&)>& add,
                         const std::function<void(std::uint64_t, std::uint64_t)>& on_progress) {
    RecordPipe pipe;
    ReadSummary summary;
    std::function<void(std::uint64_t, std::uint64_t)> progress;
    if (on_progress)
        progress = [&pipe](std::uint64_t done, std::uint64_t total) { pipe.progress(done, total); };
    std::jthread reading([&] {
        summary = reader.for_each_record([&pipe](const Record& r) { pipe.push(r); }, progress);
        pipe.close();
    });
    struct CancelOnExit {
        RecordPipe& pipe;
        ~CancelOnExit() { pipe.cancel(); }  // before `reading` joins, should add() throw
    } cancel_on_exit{pipe};
    pipe.drain(add, on_progress);
    reading.join();
    return summary;
}

}  // namespace

Expected<StreamedCapture> StreamedCapture::open(const std::string& path,
                                                const LoadOptions& options) {
    auto opened = CaptureReader::open(path);
    if (!opened)
        return std::unexpected(opened.error());
    auto reader = std::make_shared<const CaptureReader>(std::move(*opened));
    StreamedCapture out(
        reader->header(),
        [reader](const std::function<void(const Record&)>& visit,
                 const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
            return read_records(*reader, visit, progress);
        },
        options);
    out.index();
    return out;
}

StreamedCapture StreamedCapture::from_records(const CaptureHeader& header,
                                              std::span<const Record> records, ReadSummary summary,
                                              const LoadOptions& options) {
    StreamedCapture out(
        header,
        [records, summary](const std::function<void(const Record&)>& visit,
                           const std::function<void(std::uint64_t, std::uint64_t)>&) {
            for (const auto& r : records)
                visit(r);
            return summary;
        },
        options);
    out.index();
    return out;
}

void StreamedCapture::index() {
    ContentsBuilder index(header_, options_.max_held_bytes, false);
    ReadSummary summary = read_([&](const Record& r) { index.add(r); }, options_.progress);
    records_ = index.records_added();
    auto connections = index.connection_index();
    contents_ = index.finish(std::move(summary));
    // The order load_capture() gives them.
    std::sort(connections.begin(), connections.end(), [](const auto& a, const auto& b) {
        return a.first_monotonic_ns != b.first_monotonic_ns
                   ? a.first_monotonic_ns < b.first_monotonic_ns
                   : a.gen < b.gen;
    });
    order_.reserve(connections.size());
    completions_.reserve(connections.size());
    for (const auto& c : connections) {
        order_.push_back(c.gen);
        completions_.emplace_back(c.last_record, c.gen);
    }
    std::sort(completions_.begin(), completions_.end());
}

Expected<void> StreamedCapture::for_each_connection(const Visit& visit, ConnectionTap* tap) {
    ContentsBuilder builder(header_, options_.max_held_bytes);
    builder.skip_sequence_numbers();
    std::unordered_map<std::uint64_t, std::size_t> position;  // generation -> index in order_
    position.reserve(order_.size());
    for (std::size_t i = 0; i < order_.size(); ++i)
        position.emplace(order_[i], i);
    // Ended connections waiting for the ones before them (nullopt: none was built).
    std::map<std::size_t, std::optional<Connection>> waiting;
    std::uint64_t waiting_bytes = 0;
    std::size_t next = 0;       // index in order_ of the next to hand over
    std::size_t completed = 0;  // completions_ taken
    Expected<void> status;
    held_high_water_ = 0;
    auto held = [](const Connection& c) {
        return c.streams[0].data.size() + c.streams[1].data.size();
    };
    auto note_held = [&] {
        held_high_water_ = std::max(held_high_water_, builder.held_bytes() + waiting_bytes);
    };
    auto take = [&](std::uint64_t gen) {
        auto c = builder.take(gen);
        if (c)
            waiting_bytes += held(*c);
        waiting.emplace(position.at(gen), std::move(c));
    };
    std::vector<bool> handed(order_.size(), false);
    // In order; but past max_waiting_bytes of ended connections waiting for an
    // earlier one, the first of them goes ahead of it, so that one connection
    // open from start to end cannot make the whole capture wait.
    auto hand_over = [&] {
        while (status) {
            while (next < order_.size() && handed[next])
                ++next;
            if (waiting.empty())
                break;
            auto it = waiting.begin();
            if (it->first != next && waiting_bytes <= options_.max_waiting_bytes)
                break;
            handed[it->first] = true;
            std::optional<Connection> c = std::move(it->second);
            waiting.erase(it);
            if (!c)
                continue;
            waiting_bytes -= held(*c);
            status = visit(std::move(*c));
        }
    };
    // The tap takes the bytes of the connection next in order.
    std::optional<std::uint64_t> tapped;
    auto retap = [&] {
        if (!tap || !status)
            return;
        while (next < order_.size() && handed[next])
            ++next;
        std::optional<std::uint64_t> head;
        if (next < order_.size())
            head = order_[next];
        if (head == tapped)
            return;
        tapped = head;
        if (auto r = builder.tap(tap, head); !r)
            status = r;
    };
    retap();
    read_(
        [&](const Record& r) {
            if (!status || builder.records_added() >= records_)
                return;
            builder.add(r);
            if (auto t = builder.tap_status(); !t) {
                status = t;
                return;
            }
            note_held();
            const std::uint64_t index = builder.records_added() - 1;
            while (completed < completions_.size() && completions_[completed].first <= index)
                take(completions_[completed++].second);
            hand_over();
            retap();
        },
        {});
    // A file that shrank since open(): whatever is left, in order.
    while (status && completed < completions_.size())
        take(completions_[completed++].second);
    while (status && next < order_.size()) {
        if (!handed[next] && !waiting.contains(next))
            waiting.emplace(next, std::nullopt);
        hand_over();
    }
    return status;
}

}  // namespace ct::replay
