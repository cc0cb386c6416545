// ct-dump: prints a capture's records one per line, or writes each
// connection's reassembled plaintext streams to files (used by the tests and
// for debugging; ct-analyze is the tool for users).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "capture/capture_contents.hpp"
#include "capture/capture_reader.hpp"
#include "ct_abi.hpp"

namespace {

using namespace ct;

// " file=MAJ:MIN:INO hold=..." of EXEC and MMAP_EXEC (nothing for old events).
std::string hold_text(std::uint64_t dev, std::uint64_t ino, std::uint32_t hold) {
    if (dev == 0 && ino == 0)
        return "";
    const char* what = hold == CT_HOLD_NONE      ? "none"
                       : hold == CT_HOLD_STOPPED ? "stopped"
                       : hold == CT_HOLD_FAILED  ? "failed"
                                                 : "?";
    return fmt::format(" file={}:{}:{} hold={}", dev >> 20, dev & 0xfffff, ino, what);
}

std::string printable(std::span<const std::uint8_t> bytes, std::size_t max) {
    std::string out;
    for (std::size_t i = 0; i < bytes.size() && i < max; ++i) {
        char c = static_cast<char>(bytes[i]);
        if (c == '\r')
            out += "\\r";
        else if (c == '\n')
            out += "\\n";
        else if (c >= 32 && c < 127)
            out += c;
        else
            out += '.';
    }
    if (bytes.size() > max)
        out += "...";
    return out;
}

std::string describe_event(std::span<const std::uint8_t> bytes) {
    auto h = abi::read_header(bytes);
    if (!h)
        return "malformed event";
    std::string head = fmt::format("seq={} t={} pid={} tid={} {}", h->seq, h->ts_ns, h->pid, h->tid,
                                   abi::event_type_name(h->type));
    switch (h->type) {
        case CT_EVENT_DATA: {
            auto e = *abi::read_struct<ct_data_event>(bytes);
            return fmt::format("{} {} gen={} {} pos={} len={} call_len={} off={} flags={} \"{}\"",
                               head, abi::func_name(e.func), e.conn_gen,
                               e.direction == CT_DIR_WRITE ? "write" : "read", e.stream_pos,
                               e.data_len, e.call_len, e.chunk_offset, e.flags,
                               printable(abi::tail(bytes), 60));
        }
        case CT_EVENT_LOSS: {
            auto e = *abi::read_struct<ct_loss_event>(bytes);
            return fmt::format("{} gen={} dir={} pos={} lost={} reason={}", head, e.conn_gen,
                               e.direction, e.stream_pos, e.lost_len,
                               abi::loss_reason_name(e.reason));
        }
        case CT_EVENT_CONN: {
            auto e = *abi::read_struct<ct_conn_event>(bytes);
            return fmt::format("{} {} gen={} ssl={:#x} by={} ret={} w={} r={}", head,
                               abi::conn_kind_name(e.kind), e.conn_gen, e.ssl,
                               abi::func_name(e.func), e.ret, e.bytes_written, e.bytes_read);
        }
        case CT_EVENT_SOCKET: {
            auto e = *abi::read_struct<ct_socket_event>(bytes);
            return fmt::format("{} gen={} fd={} family={} lport={} rport={} origin={} ret={}", head,
                               e.conn_gen, e.fd, e.family, e.local_port, e.remote_port, e.origin,
                               e.ret);
        }
        case CT_EVENT_FORK: {
            auto e = *abi::read_struct<ct_fork_event>(bytes);
            return fmt::format("{} child={}", head, e.child_pid);
        }
        case CT_EVENT_EXEC: {
            auto e = *abi::read_event<ct_exec_event>(bytes);
            return fmt::format("{} {} args=\"{}\"{}", head,
                               std::string(e.filename, strnlen(e.filename, sizeof e.filename)),
                               printable(abi::tail(bytes), 80),
                               hold_text(e.file_dev, e.file_ino, e.hold));
        }
        case CT_EVENT_EXIT:
            return fmt::format("{} status={}", head,
                               abi::read_struct<ct_exit_event>(bytes)->exit_code);
        case CT_EVENT_MMAP_EXEC: {
            auto e = *abi::read_event<ct_mmap_exec_event>(bytes);
            return fmt::format("{} fd={}{}", head, e.fd, hold_text(e.file_dev, e.file_ino, e.hold));
        }
        case CT_EVENT_TCP: {
            auto e = *abi::read_struct<ct_tcp_event>(bytes);
            return fmt::format(
                "{} {} fd={} family={} lport={} rport={} end={} sent={} received={} flags={} "
                "gen={}",
                head, abi::tcp_origin_name(e.origin), e.fd, e.family, e.local_port, e.remote_port,
                abi::tcp_end_name(e.end), e.bytes_sent, e.bytes_received, e.flags, e.conn_gen);
        }
        default:
            return head;
    }
}

std::string describe_fields(std::span<const std::uint8_t> body) {
    auto f = ctz::parse_fields(body);
    std::string out;
    for (const auto& field : f.fields) {
        out += fmt::format(" {}=", field.id);
        switch (field.kind) {
            case ctz::FieldKind::U64:
                out += fmt::format("{}", field.as_u64().value_or(0));
                break;
            case ctz::FieldKind::I64:
                out += fmt::format("{}", field.as_i64().value_or(0));
                break;
            case ctz::FieldKind::StringList:
                out += fmt::format("[{}]", fmt::join(field.as_string_list(), " "));
                break;
            default:
                out += "\"" + printable(field.value, 80) + "\"";
        }
    }
    return out + (f.damaged ? " (damaged)" : "");
}

int dump_records(const replay::CaptureReader& reader) {
    const auto& h = reader.header();
    fmt::print("header: format {}.{} uuid {} host {} kernel {} recorder {}\n", h.major, h.minor,
               h.uuid, h.hostname, h.kernel_release, h.recorder_version);
    auto summary = reader.for_each_record([](const replay::Record& r) {
        if (r.type == ctz::RecordType::Event) {
            fmt::print("[{}] {}\n", r.frame_index, describe_event(r.body));
        } else {
            fmt::print("[{}] record type {}:{}\n", r.frame_index, static_cast<int>(r.type),
                       describe_fields(r.body));
        }
    });
    fmt::print("frames {} records {} bad frames {} skipped bytes {} ended cleanly {}\n",
               summary.frames, summary.records, summary.bad_frames, summary.skipped_bytes,
               summary.ended_cleanly() ? "yes" : "no");
    for (const auto& d : summary.damage)
        fmt::print("damage at {}: {}\n", d.file_offset, d.what);
    return 0;
}

std::string json_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\')
            out += '\\', out += c;
        else if (static_cast<unsigned char>(c) < 0x20)
            out += fmt::format("\\u{:04x}", c);
        else
            out += c;
    }
    return out;
}

// Writes DIR/<gen>.write and DIR/<gen>.read plus DIR/index.jsonl.
int extract_streams(const std::string& path, const std::string& dir) {
    auto contents = replay::load_capture(path);
    if (!contents) {
        std::cerr << "ct-dump: " << contents.error().what() << "\n";
        return 1;
    }
    std::filesystem::create_directories(dir);
    std::ofstream index(dir + "/index.jsonl");
    for (const auto& c : contents->connections) {
        for (int d = 0; d < 2; ++d) {
            std::ofstream out(fmt::format("{}/{}.{}", dir, c.conn_gen, d == 0 ? "write" : "read"),
                              std::ios::binary);
            const auto& s = c.streams[d];
            out.write(reinterpret_cast<const char*>(s.data.data()),
                      static_cast<std::streamsize>(s.data.size()));
        }
        index << fmt::format(
            "{{\"gen\":{},\"pid\":{},\"comm\":\"{}\",\"ssl\":{},\"local_port\":{},"
            "\"remote_port\":{},\"remote_addr\":\"{}\",\"fd\":{},\"socket_origin\":\"{}\","
            "\"from_start\":{},\"closed\":{},"
            "\"write_end\":{},\"write_gaps\":{},\"read_end\":{},\"read_gaps\":{}}}\n",
            c.conn_gen, c.pid, json_escape(c.comm), c.ssl, c.socket ? c.socket->local_port : 0,
            c.socket ? c.socket->remote_port : 0, c.socket ? c.socket->remote_addr : "",
            c.socket ? c.socket->fd : -1, c.socket ? c.socket->origin : "",
            c.from_start ? "true" : "false",
            c.closed ? "true" : "false", c.streams[0].end_pos, c.streams[0].gap_bytes,
            c.streams[1].end_pos, c.streams[1].gap_bytes);
    }
    std::ofstream procs(dir + "/processes.jsonl");
    for (const auto& p : contents->processes) {
        procs << fmt::format("{{\"pid\":{},\"ppid\":{},\"exe\":\"{}\",\"cmdline\":\"{}\"}}\n",
                             p.pid, p.ppid, json_escape(p.exe),
                             json_escape(fmt::format("{}", fmt::join(p.cmdline, " "))));
    }
    std::ofstream summary(dir + "/summary.json");
    const auto& s = contents->summary;
    summary << fmt::format(
        "{{\"ended_cleanly\":{},\"frames\":{},\"bad_frames\":{},\"truncated_tail\":{},"
        "\"events\":{},\"lost_events\":{},\"trailer_lost_events\":{},"
        "\"ring_full_events\":{},\"connections\":{},\"end_reason\":\"{}\","
        "\"first_seq\":{},\"trailer\":{}}}\n",
        s.ended_cleanly() ? "true" : "false", s.frames, s.bad_frames,
        s.truncated_tail ? "true" : "false", contents->events, contents->lost_events,
        s.trailer ? fmt::format("{}", s.trailer->lost_events) : "null",
        contents->counters.ring_full_events, contents->connections.size(),
        s.trailer ? json_escape(s.trailer->end_reason) : "", contents->header.first_seq,
        s.trailer ? fmt::format("{{\"frames\":{},\"records\":{},\"events\":{},\"data_bytes\":{},"
                                "\"lost_events\":{},\"lost_bytes\":{},\"last_seq\":{}}}",
                                s.trailer->frames, s.trailer->records, s.trailer->events,
                                s.trailer->data_bytes, s.trailer->lost_events,
                                s.trailer->lost_bytes, s.trailer->last_seq)
                  : "null");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "ct-dump: low-level view of a ct capture file.\n\n"
        "  ct-dump session.ctz                 one line per record\n"
        "  ct-dump --streams DIR session.ctz   reassembled plaintext per connection",
        "ct-dump"};
    std::string path, streams;
    app.add_option("capture", path, "Capture file")->required();
    app.add_option("--streams", streams, "Write each connection's streams into this directory");
    CLI11_PARSE(app, argc, argv);
    if (!streams.empty())
        return extract_streams(path, streams);
    auto reader = replay::CaptureReader::open(path);
    if (!reader) {
        std::cerr << "ct-dump: " << reader.error().what() << "\n";
        return 1;
    }
    return dump_records(*reader);
}
