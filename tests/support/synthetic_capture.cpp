#include "synthetic_capture.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <stdexcept>

namespace ct::testing {

std::span<const std::uint8_t> as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

namespace {

void check(const Expected<void>& r) {
    if (!r)
        throw std::runtime_error(r.error().what());
}

template <std::size_t N>
void copy_comm(char (&dst)[N], std::string_view s) {
    std::memset(dst, 0, N);
    std::memcpy(dst, s.data(), std::min(s.size(), N - 1));
}

}  // namespace

std::vector<std::uint8_t> synthetic_uuid(const std::string& seed) {
    std::vector<std::uint8_t> uuid(16);
    std::size_t h = std::hash<std::string>{}(seed);
    for (std::size_t i = 0; i < 16; ++i)
        uuid[i] = static_cast<std::uint8_t>(h >> ((i % 8) * 8)) ^ static_cast<std::uint8_t>(i);
    return uuid;
}

SyntheticCapture::SyntheticCapture(const std::string& path, SyntheticOptions options)
    : options_(std::move(options)) {
    auto w = record::CaptureWriter::create(path, options_.writer);
    if (!w)
        throw std::runtime_error(w.error().what());
    writer_ = std::move(*w);
    const std::vector<std::uint8_t> uuid = synthetic_uuid(options_.uuid_seed);
    ctz::FieldWriter f;
    using F = ctz::HeaderField;
    f.u64(F::AbiVersion, CT_ABI_VERSION)
        .str(F::RecorderVersion, "synthetic")
        .bytes(F::CaptureUuid, uuid)
        .str(F::Hostname, "testhost")
        .str(F::KernelRelease, "6.0.0-test")
        .str(F::Machine, "x86_64")
        .i64(F::RealtimeMinusMonotonicNs, 1'700'000'000'000'000'000)
        .i64(F::StartRealtimeNs, 1'700'000'000'000'000'000 + static_cast<std::int64_t>(now_ns_))
        .u64(F::StartMonotonicNs, now_ns_)
        .str_list(F::RecorderCmdline, {"ct-record", "-w", path})
        .u64(F::PayloadCapBytes, options_.payload_cap);
    if (!options_.target_cmdline.empty())
        f.str_list(F::TargetCmdline, options_.target_cmdline);
    if (const auto& s = options_.series) {
        f.u64(F::FirstSeq, s->first_seq)
            .bytes(F::SeriesUuid, synthetic_uuid(s->series_seed))
            .u64(F::SeriesIndex, s->index)
            .str_list(F::WatchRules, s->rules);
        if (!s->previous_seed.empty())
            f.bytes(F::PreviousCaptureUuid, synthetic_uuid(s->previous_seed));
        seq_ = first_seq_ = s->first_seq;
    }
    check(writer_->write_header(f));
}

ct_event_header SyntheticCapture::header(std::uint16_t type, std::uint16_t size,
                                         std::uint32_t pid) {
    ct_event_header h{};
    h.type = type;
    h.size = size;
    h.seq = seq_++;
    now_ns_ += 1000;
    h.ts_ns = now_ns_;
    h.pid = pid;
    h.tid = pid;
    return h;
}

void SyntheticCapture::emit(std::span<const std::uint8_t> event) {
    ++events_;
    check(writer_->append(ctz::RecordType::Event, event));
}

std::uint64_t SyntheticCapture::open_connection(std::uint32_t pid, std::uint64_t ssl,
                                                std::string_view comm, bool with_handshake) {
    std::uint64_t gen = next_gen_++;
    conns_[gen] = Conn{pid, ssl, std::string(comm)};
    ct_conn_event ev{};
    ev.ssl = ssl;
    ev.conn_gen = gen;
    copy_comm(ev.comm, comm);
    ev.hdr = header(CT_EVENT_CONN, sizeof ev, pid);
    ev.kind = CT_CONN_OPEN;
    emit_struct(ev);
    if (with_handshake) {
        ev.hdr = header(CT_EVENT_CONN, sizeof ev, pid);
        ev.kind = CT_CONN_HANDSHAKE_START;
        ev.func = CT_FUNC_SSL_DO_HANDSHAKE;
        emit_struct(ev);
        ev.hdr = header(CT_EVENT_CONN, sizeof ev, pid);
        ev.kind = CT_CONN_HANDSHAKE_DONE;
        ev.ret = 1;
        emit_struct(ev);
    }
    return gen;
}

void SyntheticCapture::call(std::uint64_t gen, int direction, std::string_view bytes) {
    auto& c = conns_.at(gen);
    std::uint64_t call_start = now_ns_;
    std::uint64_t pos = c.pos[direction];
    std::uint64_t recorded = std::min<std::uint64_t>(bytes.size(), options_.payload_cap);
    std::uint64_t off = 0;
    std::vector<std::uint8_t> buf;
    do {
        std::uint64_t n = std::min<std::uint64_t>(recorded - off, options_.chunk_max);
        ct_data_event ev{};
        ev.hdr = header(CT_EVENT_DATA, sizeof ev, c.pid);
        ev.ssl = c.ssl;
        ev.conn_gen = gen;
        ev.stream_pos = pos + off;
        ev.call_start_ns = call_start;
        ev.call_len = bytes.size();
        ev.chunk_offset = off;
        ev.data_len = static_cast<std::uint32_t>(n);
        ev.direction = static_cast<std::uint8_t>(direction);
        ev.func = direction == CT_DIR_WRITE ? CT_FUNC_SSL_WRITE : CT_FUNC_SSL_READ;
        if (off + n == recorded)
            ev.flags |= CT_DATA_LAST_CHUNK;
        if (recorded < bytes.size())
            ev.flags |= CT_DATA_TRUNCATED;
        copy_comm(ev.comm, c.comm);
        buf.assign(reinterpret_cast<const std::uint8_t*>(&ev),
                   reinterpret_cast<const std::uint8_t*>(&ev) + sizeof ev);
        buf.insert(buf.end(), bytes.begin() + static_cast<std::ptrdiff_t>(off),
                   bytes.begin() + static_cast<std::ptrdiff_t>(off + n));
        emit(buf);
        data_bytes_ += n;
        off += n;
    } while (off < recorded);
    c.pos[direction] += bytes.size();
}

void SyntheticCapture::lose(std::uint64_t gen, int direction, std::uint64_t len,
                            std::uint32_t reason) {
    auto& c = conns_.at(gen);
    ct_loss_event ev{};
    ev.hdr = header(CT_EVENT_LOSS, sizeof ev, c.pid);
    ev.ssl = c.ssl;
    ev.conn_gen = gen;
    ev.stream_pos = c.pos[direction];
    ev.lost_len = len;
    ev.reason = reason;
    ev.direction = static_cast<std::uint8_t>(direction);
    emit_struct(ev);
    c.pos[direction] += len;
}

void SyntheticCapture::vanish(std::uint64_t gen, int direction, std::uint64_t len,
                              std::uint64_t events) {
    conns_.at(gen).pos[direction] += len;
    seq_ += events;
}

void SyntheticCapture::socket(std::uint64_t gen, int fd, std::string_view remote_ipv4,
                              std::uint16_t remote_port, std::uint16_t local_port) {
    auto& c = conns_.at(gen);
    ct_socket_event ev{};
    ev.hdr = header(CT_EVENT_SOCKET, sizeof ev, c.pid);
    ev.ssl = c.ssl;
    ev.conn_gen = gen;
    ev.fd = fd;
    ev.family = AF_INET;
    ev.origin = CT_SOCKET_FROM_IO;
    ev.local_port = local_port;
    ev.remote_port = remote_port;
    ev.local_addr[10] = ev.local_addr[11] = 0xff;
    ev.remote_addr[10] = ev.remote_addr[11] = 0xff;
    std::string ip(remote_ipv4);
    inet_pton(AF_INET, ip.c_str(), ev.remote_addr + 12);
    inet_pton(AF_INET, "127.0.0.1", ev.local_addr + 12);
    emit_struct(ev);
}

void SyntheticCapture::tcp(const Tcp& t) {
    ct_tcp_event ev{};
    ev.hdr = header(CT_EVENT_TCP, sizeof ev, t.pid);
    ev.open_ns = ev.hdr.ts_ns > t.duration_ns ? ev.hdr.ts_ns - t.duration_ns : 0;
    ev.bytes_sent = t.sent;
    ev.bytes_received = t.received;
    ev.send_calls = t.sent ? 1 : 0;
    ev.recv_calls = t.received ? 1 : 0;
    ev.fd = t.fd;
    ev.local_port = t.local_port;
    ev.remote_port = t.remote_port;
    ev.origin = t.origin;
    ev.end = t.end;
    if (t.tls_gen) {
        ev.flags = CT_TCP_TLS_SEEN;
        ev.ssl = conns_.at(t.tls_gen).ssl;
        ev.conn_gen = t.tls_gen;
    }
    std::string ip(t.remote);
    if (ip.find(':') != std::string::npos) {
        ev.family = AF_INET6;
        inet_pton(AF_INET6, ip.c_str(), ev.remote_addr);
        inet_pton(AF_INET6, "::1", ev.local_addr);
    } else {
        ev.family = AF_INET;
        ev.local_addr[10] = ev.local_addr[11] = 0xff;
        ev.remote_addr[10] = ev.remote_addr[11] = 0xff;
        inet_pton(AF_INET, ip.c_str(), ev.remote_addr + 12);
        inet_pton(AF_INET, "127.0.0.1", ev.local_addr + 12);
    }
    emit_struct(ev);
}

void SyntheticCapture::note(std::string_view level, std::string_view message) {
    ctz::FieldWriter f;
    f.str(ctz::NoteField::Level, level)
        .str(ctz::NoteField::Message, message)
        .u64(ctz::NoteField::MonotonicNs, now_ns_);
    append_raw(ctz::RecordType::Note, f.bytes());
}

void SyntheticCapture::close(std::uint64_t gen) {
    auto& c = conns_.at(gen);
    ct_conn_event ev{};
    ev.hdr = header(CT_EVENT_CONN, sizeof ev, c.pid);
    ev.ssl = c.ssl;
    ev.conn_gen = gen;
    ev.kind = CT_CONN_CLOSE;
    ev.func = CT_FUNC_SSL_FREE;
    ev.bytes_written = c.pos[CT_DIR_WRITE];
    ev.bytes_read = c.pos[CT_DIR_READ];
    copy_comm(ev.comm, c.comm);
    emit_struct(ev);
}

void SyntheticCapture::process(std::uint32_t pid, std::uint32_t ppid, std::string_view exe,
                               const std::vector<std::string>& argv) {
    ctz::FieldWriter f;
    using F = ctz::ProcessField;
    f.u64(F::Pid, pid)
        .u64(F::Ppid, ppid)
        .str(F::Exe, exe)
        .str_list(F::Cmdline, argv)
        .str(F::Cwd, "/tmp");
    append_raw(ctz::RecordType::Process, f.bytes());
}

void SyntheticCapture::exit(std::uint32_t pid, int status) {
    ct_exit_event ev{};
    ev.hdr = header(CT_EVENT_EXIT, sizeof ev, pid);
    ev.exit_code = status;
    emit_struct(ev);
}

void SyntheticCapture::append_raw(ctz::RecordType type, std::span<const std::uint8_t> body) {
    check(writer_->append(type, body));
}

void SyntheticCapture::flush_unit() {
    check(writer_->flush());
}

void SyntheticCapture::flush_frame() {
    check(writer_->end_segment());
}

void SyntheticCapture::finish(std::string_view reason) {
    ctz::FieldWriter f;
    using F = ctz::TrailerField;
    f.str(F::EndReason, reason)
        .u64(F::EndMonotonicNs, now_ns_)
        .u64(F::Events, events_)
        .u64(F::DataBytes, data_bytes_)
        .u64(F::LostEvents, seq_ - first_seq_ - events_)  // as ct-record (spec 4, rule 8)
        .u64(F::Records, writer_->stats().records)  // as ct-record: FRAME_BEGIN, SYNC not counted
        .u64(F::LastSeq, seq_);
    check(writer_->finish(f));
}

}  // namespace ct::testing
