#include "timeline.hpp"

#include <sys/socket.h>

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <map>

#include "connection_decoder.hpp"
#include "llm/json_util.hpp"
#include "ct_abi.hpp"
#include "secrets.hpp"

namespace ct::analyze {
namespace {

struct Line {
    std::uint64_t monotonic_ns = 0;
    std::uint64_t seq = 0;
    std::uint64_t order = 0;  // keeps annotations after the call that carried them
    std::string text;
};

std::string clock_text(const replay::CaptureHeader& header, std::uint64_t mono) {
    std::int64_t ns = header.to_realtime(mono);
    std::time_t secs = static_cast<std::time_t>(ns / 1'000'000'000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    return fmt::format("{:02}:{:02}:{:02}.{:06}", tm.tm_hour, tm.tm_min, tm.tm_sec,
                       (ns % 1'000'000'000) / 1000);
}

std::string printable(std::string_view s, std::size_t max) {
    std::string out;
    for (char c : s.substr(0, max)) {
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        } else {
            out += c;
        }
    }
    if (s.size() > max)
        out += "…";
    return out;
}

// The text an SSE event adds (token deltas of the known LLM streams), else its data.
std::string event_text(const sse::EventView& e) {
    llm::Json j = llm::parse_json(e.data);
    if (!j.is_discarded() && j.is_object()) {
        if (const llm::Json* delta = llm::member(j, "delta")) {
            if (delta->is_string())
                return delta->get<std::string>();  // Responses API
            for (const char* key : {"text", "thinking", "partial_json"}) {
                std::string v = llm::string_member(*delta, key);
                if (!v.empty())
                    return v;
            }
        }
        if (const llm::Json* choices = llm::member(j, "choices");
            choices && choices->is_array() && !choices->empty()) {
            if (const llm::Json* delta = llm::member((*choices)[0], "delta")) {
                std::string v = llm::string_member(*delta, "content");
                if (!v.empty())
                    return v;
            }
        }
    }
    return std::string(e.data);
}

}  // namespace

void print_timeline(const replay::CaptureContents& contents, const TimelineOptions& options,
                    std::FILE* out) {
    const auto& header = contents.header;
    std::vector<Line> lines;
    std::uint64_t order = 0;
    {
        std::int64_t start = header.start_realtime_ns
                                 ? header.start_realtime_ns
                                 : header.to_realtime(contents.first_monotonic_ns);
        std::time_t secs = static_cast<std::time_t>(start / 1'000'000'000);
        std::tm tm{};
        gmtime_r(&secs, &tm);
        fmt::print(out, "# capture {} on {}, {:04}-{:02}-{:02} (times UTC)\n", header.uuid,
                   header.hostname, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    }
    GrowthBudget growth(options.decode.max_growth);
    for (std::size_t ci = 0; ci < contents.connections.size(); ++ci) {
        const auto& c = contents.connections[ci];
        DecodedConnection dc = decode_connection(c, options.decode, &growth);
        std::string peer;
        if (c.socket && !c.socket->remote_addr.empty()) {
            peer = fmt::format(" {}:{}", c.socket->remote_addr, c.socket->remote_port);
        }
        lines.push_back({c.first_monotonic_ns, 0, order++,
                         fmt::format("conn#{} open pid {} {}{} ({})", ci + 1, c.pid, c.comm, peer,
                                     dc.protocol)});
        // Annotations keyed by the stream position whose call carried them.
        std::array<std::multimap<std::uint64_t, std::string>, 2> notes;
        // HTTP/2 multiplexes: a response names its stream and the request sent on it.
        std::map<std::uint32_t, const http1::Message*> request_on_stream;
        for (const auto& d : dc.requests) {
            if (d.message.stream_id != 0)
                request_on_stream.emplace(d.message.stream_id, &d.message);
        }
        auto add_head = [&](int dir, const DecodedMessage& d) {
            const auto& m = d.message;
            auto hidden = [](std::string_view) { return std::string("<redacted>"); };
            auto shown_target = [&](const std::string& t) {
                return options.keep_secrets ? t : SecretFingerprinter::redact_query(t, hidden);
            };
            std::string target = shown_target(m.target);
            std::string text = m.kind == http1::MessageKind::Request
                                   ? fmt::format("    {} {} {}", m.method, target, m.version())
                                   : fmt::format("    {} {} {}", m.version(), m.status, m.reason);
            if (m.kind != http1::MessageKind::Request && m.reason.empty())
                text.pop_back();  // HTTP/2 has no reason phrase
            if (m.stream_id != 0) {
                text += fmt::format("   [stream {}", m.stream_id);
                auto req = request_on_stream.find(m.stream_id);
                if (m.kind != http1::MessageKind::Request && req != request_on_stream.end())
                    text += fmt::format(": {} {}", req->second->method,
                                        shown_target(req->second->target));
                text += "]";
            }
            if (!m.complete)
                text += "   [incomplete]";
            if (options.show_headers) {
                for (const auto& h : m.headers) {
                    std::string value = h.value;
                    if (!options.keep_secrets && SecretFingerprinter::is_secret_header(h.name))
                        value = "<redacted>";
                    else if (!options.keep_secrets && SecretFingerprinter::is_url_header(h.name))
                        value = SecretFingerprinter::redact_query(value, hidden);
                    text += fmt::format("\n      {}: {}", h.name, printable(value, 200));
                }
            }
            notes[dir].emplace(m.stream_pos, std::move(text));
            for (std::size_t i = 0; i < d.sse.events.size(); ++i) {
                const auto& e = d.sse.events[i];
                notes[dir].emplace(d.sse_stream_pos[i], fmt::format("    sse {}: {}", e.type,
                                                                    printable(event_text(e), 160)));
            }
        };
        for (const auto& d : dc.requests)
            add_head(kWrite, d);
        for (const auto& d : dc.responses)
            add_head(kRead, d);

        for (int dir : {kWrite, kRead}) {
            for (const auto& seg : c.streams[dir].segments) {
                std::string text;
                if (seg.is_gap) {
                    text = fmt::format("conn#{} GAP {} {} bytes missing at {}", ci + 1,
                                       dir == kWrite ? "sent" : "received", seg.len, seg.pos);
                } else {
                    const char* fn = seg.func ? abi::func_name(seg.func)
                                              : (dir == kWrite ? "SSL_write" : "SSL_read");
                    text = fmt::format("conn#{} {} pid {} tid {} len {}", ci + 1, fn, c.pid,
                                       seg.tid, seg.len);
                    if (seg.call_len > seg.len) {
                        text += fmt::format(" (bytes {}..{} of a {}-byte call)", seg.chunk_offset,
                                            seg.chunk_offset + seg.len, seg.call_len);
                    }
                }
                auto first = notes[dir].lower_bound(seg.pos);
                auto last = notes[dir].lower_bound(seg.pos + std::max<std::uint64_t>(seg.len, 1));
                for (auto it = first; it != last; ++it)
                    text += "\n" + it->second;
                std::uint64_t t =
                    seg.monotonic_ns ? seg.monotonic_ns : dc.views[dir].monotonic_at(seg.pos);
                lines.push_back({t, seg.seq, order++, std::move(text)});
            }
        }
        if (c.closed)
            lines.push_back(
                {c.last_monotonic_ns, UINT64_MAX, order++, fmt::format("conn#{} close", ci + 1)});
    }
    // TCP connections from syscalls: the ones no probe read are named as such.
    std::map<std::uint64_t, std::size_t> conn_index;  // conn_gen -> conn#
    for (std::size_t ci = 0; ci < contents.connections.size(); ++ci)
        conn_index[contents.connections[ci].conn_gen] = ci + 1;
    std::map<std::uint32_t, std::string> exes;
    for (const auto& p : contents.processes)
        exes[p.pid] = p.exe.empty() ? p.comm : p.exe;
    for (std::size_t ti = 0; ti < contents.tcp_connections.size(); ++ti) {
        const auto& t = contents.tcp_connections[ti];
        std::string peer = t.family == AF_INET6
                               ? fmt::format("[{}]:{}", t.remote_addr, t.remote_port)
                               : fmt::format("{}:{}", t.remote_addr, t.remote_port);
        lines.push_back({t.open_monotonic_ns, 0, order++,
                         fmt::format("tcp#{} {} {} {} pid {} {}", ti + 1, t.origin,
                                     t.origin == "accept" ? "from" : "to", peer, t.pid,
                                     exes.contains(t.pid) ? exes[t.pid] : "?")});
        std::string seen;
        if (t.unseen()) {
            seen = "UNSEEN: no TLS probe read it";
        } else if (t.tls_seen) {
            auto it = conn_index.find(t.conn_gen);
            seen = it != conn_index.end() ? fmt::format("read as conn#{}", it->second)
                                          : "read by a TLS probe";
        } else {
            seen = "no bytes";
        }
        lines.push_back({t.end_monotonic_ns, UINT64_MAX, order++,
                         fmt::format("tcp#{} end ({}): {} bytes sent, {} received; {}", ti + 1,
                                     t.end_reason, t.bytes_sent, t.bytes_received, seen)});
    }
    std::stable_sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) {
        if (a.monotonic_ns != b.monotonic_ns)
            return a.monotonic_ns < b.monotonic_ns;
        if (a.seq != b.seq)
            return a.seq < b.seq;
        return a.order < b.order;
    });
    for (const auto& l : lines)
        fmt::print(out, "{}  {}\n", clock_text(header, l.monotonic_ns), l.text);
    if (!contents.summary.ended_cleanly())
        fmt::print(out, "# the capture did not end cleanly\n");
}

}  // namespace ct::analyze
