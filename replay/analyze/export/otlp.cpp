#include "export/otlp.hpp"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "ct/version.hpp"
#include "export/export_util.hpp"

namespace ct::analyze::exports {
namespace {

using Json = nlohmann::ordered_json;

// OTLP SpanKind and StatusCode values (the JSON encoding uses the integers).
constexpr int kSpanKindInternal = 1;
constexpr int kSpanKindClient = 3;
constexpr int kStatusError = 2;

class Attributes {
  public:
    Attributes& str(std::string_view key, std::string_view value) {
        items_.push_back({{"key", key}, {"value", {{"stringValue", value}}}});
        return *this;
    }
    Attributes& str_if(std::string_view key, const std::string& value) {
        if (!value.empty())
            str(key, value);
        return *this;
    }
    Attributes& integer(std::string_view key, std::int64_t value) {
        // int64 travels as a decimal string in OTLP/JSON.
        items_.push_back({{"key", key}, {"value", {{"intValue", std::to_string(value)}}}});
        return *this;
    }
    Attributes& integer(std::string_view key, std::optional<std::int64_t> value) {
        if (value)
            integer(key, *value);
        return *this;
    }
    Attributes& boolean(std::string_view key, bool value) {
        items_.push_back({{"key", key}, {"value", {{"boolValue", value}}}});
        return *this;
    }
    Attributes& strings(std::string_view key, const std::vector<std::string>& values) {
        Json array = Json::array();
        for (const auto& v : values)
            array.push_back({{"stringValue", v}});
        items_.push_back({{"key", key}, {"value", {{"arrayValue", {{"values", array}}}}}});
        return *this;
    }
    Json take() { return std::move(items_); }

  private:
    Json items_ = Json::array();
};

using SpanId = std::string;  // 16 lower-case hex digits

struct Ids {
    std::string uuid;
    std::string trace;  // 32 hex digits
    // Deterministic: the first 8 bytes of SHA-256(uuid/kind/row id), never all zero.
    SpanId span(std::string_view kind, std::int64_t row) const {
        auto digest = sha256(uuid + "/" + std::string(kind) + "/" + std::to_string(row));
        if (std::all_of(digest.begin(), digest.begin() + 8, [](std::uint8_t b) { return b == 0; }))
            digest[7] = 1;
        return hex(digest.data(), 8);
    }
};

std::string trace_id_of(const std::string& uuid) {
    std::string digits;
    for (char c : uuid)
        if (std::isxdigit(static_cast<unsigned char>(c)))
            digits += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (digits.size() == 32 && digits != std::string(32, '0'))
        return digits;
    auto digest = sha256(uuid);
    return hex(digest.data(), 16);
}

struct Span {
    SpanId id;
    SpanId parent;  // empty: a root
    std::string name;
    int kind = kSpanKindInternal;
    std::int64_t start = 0, end = 0;
    Json attributes = Json::array();
    Json events = Json::array();
    Json links = Json::array();
    std::string error;  // status ERROR with this message when not empty
    bool failed = false;
};

Json span_json(const std::string& trace, Span& s) {
    Json j = {{"traceId", trace}, {"spanId", s.id}};
    if (!s.parent.empty())
        j["parentSpanId"] = s.parent;
    j["name"] = s.name;
    j["kind"] = s.kind;
    j["startTimeUnixNano"] = std::to_string(s.start);
    j["endTimeUnixNano"] = std::to_string(std::max(s.start, s.end));
    j["attributes"] = std::move(s.attributes);
    j["events"] = std::move(s.events);
    j["links"] = std::move(s.links);
    if (s.failed) {
        j["status"] = {{"message", s.error}, {"code", kStatusError}};
    } else {
        j["status"] = Json::object();
    }
    return j;
}

Json event(std::string_view name, std::int64_t time, Json attributes = Json::array()) {
    return {{"timeUnixNano", std::to_string(time)}, {"name", name}, {"attributes", attributes}};
}

std::string basename(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// host[:port] (or [v6]:port) split; the port defaults to 443 (every captured
// connection is TLS).
std::pair<std::string, std::int64_t> split_authority(const std::string& authority,
                                                     std::optional<std::int64_t> remote_port) {
    std::string host = authority;
    std::int64_t port = remote_port.value_or(443);
    if (host.starts_with("[")) {
        auto close = host.find(']');
        if (close != std::string::npos) {
            if (close + 2 < host.size() + 1 && close + 1 < host.size() && host[close + 1] == ':')
                port = std::atoll(host.c_str() + close + 2);
            host = host.substr(1, close - 1);
        }
    } else if (auto colon = host.rfind(':');
               colon != std::string::npos && host.find(':') == colon) {
        port = std::atoll(host.c_str() + colon + 1);
        host = host.substr(0, colon);
    }
    return {host, port};
}

struct Process {
    std::int64_t row = 0, pid = 0;
    std::optional<std::int64_t> ppid, start, exit, exit_status;
    std::string exe, cmdline, comm;
    bool wanted = false;
    SpanId id, parent;
};

struct Exchange {
    std::int64_t request_id = 0;
    std::int64_t start = 0, end = 0;
    SpanId id, parent;
    std::string server_address;
    std::int64_t server_port = 443;
};

struct LlmCall {
    std::int64_t id = 0, request_id = 0;
    std::int64_t start = 0, end = 0;
    std::string conversation;
    std::int64_t message_count = 0;
    SpanId process_span;
};

Expected<Json> capture_spans(sqlite::Database& db, std::int64_t capture_id,
                             const std::string& conversation, OtlpDocument& doc) {
    auto cap = db.prepare(
        "SELECT uuid, start_ns, end_ns, hostname, target_cmdline, target_pid, recorder_version,"
        " ended_cleanly, lost_events, lost_bytes, file, end_reason, exit_status FROM captures"
        " WHERE id = ?1");
    if (!cap)
        return std::unexpected(cap.error());
    cap->bind(1, capture_id);
    auto found = cap->step();
    if (!found)
        return std::unexpected(found.error());
    if (!*found)
        return fail("no capture with id " + std::to_string(capture_id));
    Ids ids;
    ids.uuid = text(*cap, 0);
    ids.trace = trace_id_of(ids.uuid);
    std::int64_t cap_start = opt_int(*cap, 1).value_or(0);
    std::int64_t cap_end = opt_int(*cap, 2).value_or(cap_start);
    std::string service = "ct-session", target;
    auto argv = nlohmann::json::parse(text(*cap, 4), nullptr, false);
    if (argv.is_array() && !argv.empty() && argv[0].is_string()) {
        service = basename(argv[0].get<std::string>());
        for (const auto& a : argv)
            if (a.is_string())
                target += (target.empty() ? "" : " ") + a.get<std::string>();
    }
    Span root;
    root.id = ids.span("session", capture_id);
    root.name = "session " + (target.empty() ? ids.uuid : service);
    root.start = cap_start;
    root.end = cap_end;
    Attributes root_attrs;
    root_attrs.str("ct.capture.uuid", ids.uuid)
        .str_if("ct.capture.file", text(*cap, 10))
        .str_if("ct.capture.target", target)
        .integer("ct.capture.target_pid", opt_int(*cap, 5))
        .boolean("ct.capture.ended_cleanly", cap->column_int64(7) != 0)
        .str_if("ct.capture.end_reason", text(*cap, 11))
        .integer("ct.capture.exit_status", opt_int(*cap, 12))
        .integer("ct.capture.lost_events", cap->column_int64(8))
        .integer("ct.capture.lost_bytes", cap->column_int64(9));
    if (!conversation.empty())
        root_attrs.str("gen_ai.conversation.id", conversation);
    Json resource_attrs = Attributes()
                              .str("service.name", service)
                              .str("service.instance.id", ids.uuid)
                              .str_if("host.name", text(*cap, 3))
                              .str_if("ct.recorder.version", text(*cap, 6))
                              .take();
    cap->reset();

    // The recorder's and the analyzer's notes (losses, warnings) as root events.
    auto notes = db.prepare(
        "SELECT coalesce(time_ns, ?2), level, source, message FROM notes WHERE capture_id = ?1"
        " ORDER BY coalesce(time_ns, ?2), id");
    if (!notes)
        return std::unexpected(notes.error());
    notes->bind(1, capture_id);
    notes->bind(2, cap_start);
    if (auto r = notes->each_row([&] {
            root.events.push_back(event("ct.note", notes->column_int64(0),
                                        Attributes()
                                            .str("ct.note.level", text(*notes, 1))
                                            .str("ct.note.source", text(*notes, 2))
                                            .str("ct.note.message", text(*notes, 3))
                                            .take()));
        });
        !r)
        return std::unexpected(r.error());

    // Processes.
    std::vector<Process> procs;
    auto pst = db.prepare(
        "SELECT id, pid, ppid, exe, cmdline, comm, start_ns, exit_ns, exit_status FROM processes"
        " WHERE capture_id = ?1 ORDER BY coalesce(start_ns, 0), id");
    if (!pst)
        return std::unexpected(pst.error());
    pst->bind(1, capture_id);
    if (auto r = pst->each_row([&] {
            Process p;
            p.row = pst->column_int64(0);
            p.pid = pst->column_int64(1);
            p.ppid = opt_int(*pst, 2);
            p.exe = text(*pst, 3);
            p.cmdline = text(*pst, 4);
            p.comm = text(*pst, 5);
            p.start = opt_int(*pst, 6);
            p.exit = opt_int(*pst, 7);
            p.exit_status = opt_int(*pst, 8);
            p.wanted = conversation.empty();
            p.id = ids.span("process", p.row);
            procs.push_back(std::move(p));
        });
        !r)
        return std::unexpected(r.error());
    // The process `pid` that was running at `time`: the latest one started before it.
    auto process_at = [&](std::int64_t pid, std::optional<std::int64_t> time) -> Process* {
        Process* best = nullptr;
        for (auto& p : procs)
            if (p.pid == pid && (!best || !time || !p.start || *p.start <= *time))
                best = &p;
        return best;
    };
    auto process_by_row = [&](std::int64_t row) -> Process* {
        for (auto& p : procs)
            if (p.row == row)
                return &p;
        return nullptr;
    };
    for (auto& p : procs) {
        Process* parent = p.ppid ? process_at(*p.ppid, p.start) : nullptr;
        p.parent = parent && parent != &p ? parent->id : root.id;
    }

    // HTTP exchanges.
    std::vector<Span> http_spans;
    std::map<std::int64_t, Exchange> exchanges;  // by request id
    auto xst = db.prepare(
        std::string("SELECT q.id, q.start_ns, q.end_ns, q.method, q.target, q.http_version, ") +
        kAuthoritySql +
        ", q.encoded_size, q.complete, n.id, n.process_id, n.pid, n.remote_addr, n.remote_port,"
        " r.id, r.start_ns, r.end_ns, r.status, r.encoded_size, r.complete, n.tls_library"
        " FROM http_requests q JOIN connections n ON n.id = q.connection_id"
        " LEFT JOIN http_responses r ON r.id = (SELECT x.id FROM http_responses x WHERE"
        "  x.request_id = q.id AND x.interim = 0 ORDER BY x.id LIMIT 1)"
        " WHERE q.capture_id = ?1 AND " +
        kRequestInScope + " ORDER BY coalesce(q.start_ns, r.start_ns), q.id");
    if (!xst)
        return std::unexpected(xst.error());
    xst->bind(1, capture_id);
    xst->bind(2, conversation);
    if (auto r = xst->each_row([&] {
            const auto& s = *xst;
            Exchange x;
            x.request_id = s.column_int64(0);
            auto q_start = opt_int(s, 1), q_end = opt_int(s, 2);
            auto r_start = opt_int(s, 15), r_end = opt_int(s, 16);
            x.start = q_start.value_or(r_start.value_or(cap_start));
            x.end = std::max({x.start, q_end.value_or(x.start), r_end.value_or(x.start)});
            Process* owner = nullptr;
            if (auto row = opt_int(s, 10))
                owner = process_by_row(*row);
            if (!owner)
                owner = process_at(s.column_int64(11), q_start);
            if (owner)
                owner->wanted = true;
            x.parent = owner ? owner->id : root.id;
            x.id = ids.span("http", x.request_id);
            const std::string method = text(s, 3);
            const std::string authority = text(s, 6);
            auto [address, port] = split_authority(authority, opt_int(s, 13));
            x.server_address = address;
            x.server_port = port;
            std::string version = text(s, 5);
            if (version.starts_with("HTTP/"))
                version = version.substr(5);
            Span span;
            span.id = x.id;
            span.parent = x.parent;
            span.name = method;
            span.kind = kSpanKindClient;
            span.start = x.start;
            span.end = x.end;
            Attributes a;
            a.str("http.request.method", method)
                .str("url.full", url_of(method, text(s, 4), authority))
                .str("server.address", address)
                .integer("server.port", port)
                .str("network.protocol.name", "http")
                .str("network.protocol.version", version)
                .str_if("network.peer.address", text(s, 12))
                .integer("network.peer.port", opt_int(s, 13))
                .integer("http.request.body.size", s.column_int64(7))
                .str_if("tls.library", text(s, 20))
                .integer("ct.http.request_id", x.request_id)
                .integer("ct.connection_id", s.column_int64(9));
            bool complete = s.column_int64(8) != 0;
            if (!s.column_is_null(14)) {
                const std::int64_t status = s.column_int64(17);
                a.integer("http.response.status_code", status)
                    .integer("http.response.body.size", s.column_int64(18))
                    .integer("ct.http.response_id", s.column_int64(14));
                complete = complete && s.column_int64(19) != 0;
                if (status >= 400) {
                    a.str("error.type", std::to_string(status));
                    span.failed = true;
                    span.error = "HTTP " + std::to_string(status);
                }
                if (r_start && q_end && *r_start >= *q_end)
                    span.events.push_back(event("ct.http.response_start", *r_start));
            } else {
                a.str("error.type", "no_response");
                span.failed = true;
                span.error = "no response captured";
            }
            a.boolean("ct.complete", complete);
            span.attributes = a.take();
            exchanges[x.request_id] = x;
            http_spans.push_back(std::move(span));
        });
        !r)
        return std::unexpected(r.error());

    // LLM calls, each under its HTTP span.
    std::vector<Span> llm_spans;
    std::vector<LlmCall> calls;
    auto lst = db.prepare(
        "SELECT l.id, l.request_id, l.provider, l.api, l.model, l.response_model, l.streamed,"
        " l.max_tokens, l.message_id, l.stop_reason, l.input_tokens, l.output_tokens,"
        " l.cache_creation_input_tokens, l.cache_read_input_tokens, l.reasoning_tokens,"
        " l.start_ns, l.first_token_ns, l.end_ns, l.ttft_ns, l.response_text, l.error,"
        " l.complete, hex(l.conversation_key), l.message_count, l.tool_count, l.thinking_text"
        " FROM llm_calls l WHERE l.capture_id = ?1 AND (?2 = '' OR hex(l.conversation_key) = ?2)"
        " ORDER BY coalesce(l.start_ns, 0), l.id");
    if (!lst)
        return std::unexpected(lst.error());
    auto tst = db.prepare(
        "SELECT id, idx, tool_use_id, name, input FROM llm_tool_calls WHERE llm_call_id = ?1"
        " ORDER BY idx");
    if (!tst)
        return std::unexpected(tst.error());
    struct ToolCall {
        std::int64_t row = 0, call_index = 0;
        std::string id, name, input;
    };
    std::vector<ToolCall> tools;
    lst->bind(1, capture_id);
    lst->bind(2, conversation);
    Expected<void> inner{};
    if (auto r = lst->each_row([&] {
            const auto& s = *lst;
            LlmCall c;
            c.id = s.column_int64(0);
            c.request_id = s.column_int64(1);
            auto x = exchanges.find(c.request_id);
            c.start = opt_int(s, 15).value_or(x != exchanges.end() ? x->second.start : cap_start);
            c.end = std::max(c.start, opt_int(s, 17).value_or(c.start));
            c.conversation = text(s, 22);
            c.message_count = s.column_int64(23);
            c.process_span = x != exchanges.end() ? x->second.parent : root.id;
            const std::string provider = text(s, 2);
            const std::string model = text(s, 4);
            const std::string stop = text(s, 9);
            Span span;
            span.id = ids.span("llm", c.id);
            span.parent = x != exchanges.end() ? x->second.id : root.id;
            span.name = model.empty() ? "chat" : "chat " + model;
            span.kind = kSpanKindClient;
            span.start = c.start;
            span.end = c.end;
            // gen_ai.usage.input_tokens counts every input token, cached or not:
            // Anthropic reports the cache reads and writes apart from input_tokens.
            auto input = opt_int(s, 10);
            auto cache_creation = opt_int(s, 12), cache_read = opt_int(s, 13);
            if (input && provider == "anthropic")
                *input += cache_creation.value_or(0) + cache_read.value_or(0);
            Attributes a;
            a.str("gen_ai.operation.name", "chat")
                .str("gen_ai.provider.name", provider)
                .str("gen_ai.system", provider)
                .str_if("gen_ai.request.model", model)
                .integer("gen_ai.request.max_tokens", opt_int(s, 7))
                .str_if("gen_ai.response.model", text(s, 5))
                .str_if("gen_ai.response.id", text(s, 8));
            if (!stop.empty())
                a.strings("gen_ai.response.finish_reasons", {stop});
            a.integer("gen_ai.usage.input_tokens", input)
                .integer("gen_ai.usage.output_tokens", opt_int(s, 11))
                .integer("gen_ai.usage.cache_creation.input_tokens", cache_creation)
                .integer("gen_ai.usage.cache_read.input_tokens", cache_read)
                .str_if("gen_ai.conversation.id", c.conversation);
            if (x != exchanges.end())
                a.str("server.address", x->second.server_address)
                    .integer("server.port", x->second.server_port);
            a.str("ct.llm.api", text(s, 3))
                .boolean("ct.llm.streamed", s.column_int64(6) != 0)
                .integer("ct.llm.provider_input_tokens", opt_int(s, 10))
                .integer("ct.llm.reasoning_tokens", opt_int(s, 14))
                .integer("ct.llm.ttft_ns", opt_int(s, 18))
                .integer("ct.llm.message_count", c.message_count)
                .integer("ct.llm.tool_count", s.column_int64(24))
                .integer("ct.llm_call_id", c.id)
                .boolean("ct.complete", s.column_int64(21) != 0);
            if (auto first = opt_int(s, 16))
                span.events.push_back(event("ct.llm.first_token", *first));

            // The answer as gen_ai.output.messages: text, reasoning and tool calls.
            Json parts = Json::array();
            if (auto thinking = text(s, 25); !thinking.empty())
                parts.push_back({{"type", "reasoning"}, {"content", thinking}});
            if (auto answer = text(s, 19); !answer.empty())
                parts.push_back({{"type", "text"}, {"content", answer}});
            tst->bind(1, c.id);
            auto tr = tst->each_row([&] {
                ToolCall t;
                t.row = tst->column_int64(0);
                t.call_index = static_cast<std::int64_t>(calls.size());
                t.id = text(*tst, 2);
                t.name = text(*tst, 3);
                t.input = text(*tst, 4);
                Json part = {{"type", "tool_call"}, {"id", t.id}, {"name", t.name}};
                auto args = nlohmann::ordered_json::parse(t.input, nullptr, false);
                part["arguments"] = args.is_discarded() ? Json(t.input) : args;
                parts.push_back(std::move(part));
                tools.push_back(std::move(t));
            });
            if (!tr)
                inner = tr;
            if (!parts.empty()) {
                Json message = {{"role", "assistant"}, {"parts", std::move(parts)}};
                if (!stop.empty())
                    message["finish_reason"] = stop;
                a.str("gen_ai.output.messages",
                      Json::array({std::move(message)})
                          .dump(-1, ' ', false, Json::error_handler_t::replace));
            }
            if (auto error = text(s, 20); !error.empty()) {
                a.str("error.type", "llm_error");
                span.failed = true;
                span.error = error;
            }
            span.attributes = a.take();
            calls.push_back(c);
            llm_spans.push_back(std::move(span));
        });
        !r)
        return std::unexpected(r.error());
    if (!inner)
        return std::unexpected(inner.error());

    // A tool call ran between the answer that asked for it and the next call of
    // the same conversation that sends its result back (a tool_result naming its id
    // in the last messages).
    auto result_sent = db.prepare(
        "SELECT 1 FROM llm_call_messages m JOIN llm_blobs b ON b.id = m.blob_id"
        " WHERE m.llm_call_id = ?1 AND m.idx >= ?2 AND instr(b.text, ?3) > 0 LIMIT 1");
    if (!result_sent)
        return std::unexpected(result_sent.error());
    std::vector<Span> tool_spans;
    for (const auto& t : tools) {
        const LlmCall& c = calls[static_cast<std::size_t>(t.call_index)];
        const LlmCall* next = nullptr;
        if (!t.id.empty() && !c.conversation.empty()) {
            // The calls are in start order; the result comes back in one of the next
            // few calls of the conversation (agents may retry a call), so at most
            // kLookAhead are searched.
            constexpr int kLookAhead = 3;
            int looked = 0;
            for (const auto& other : calls) {
                if (other.conversation != c.conversation || other.start < c.end || other.id == c.id)
                    continue;
                if (looked++ == kLookAhead)
                    break;
                result_sent->bind(1, other.id);
                result_sent->bind(2, std::max<std::int64_t>(0, other.message_count - 3));
                result_sent->bind(3, t.id);
                auto hit = result_sent->step();
                result_sent->reset();
                if (!hit)
                    return std::unexpected(hit.error());
                if (*hit) {
                    next = &other;
                    break;
                }
            }
        }
        Span span;
        span.id = ids.span("tool", t.row);
        span.parent = c.process_span;
        span.name = "execute_tool " + t.name;
        span.start = c.end;
        span.end = next ? next->start : c.end;
        span.links.push_back({{"traceId", ids.trace},
                              {"spanId", ids.span("llm", c.id)},
                              {"attributes", Json::array()}});
        Attributes a;
        a.str("gen_ai.operation.name", "execute_tool")
            .str("gen_ai.tool.name", t.name)
            .str_if("gen_ai.tool.call.id", t.id)
            .str("gen_ai.tool.type", "function")
            .str("gen_ai.tool.call.arguments", t.input)
            .str_if("gen_ai.conversation.id", c.conversation)
            .integer("ct.llm_call_id", c.id)
            .boolean("ct.tool.result_seen", next != nullptr);
        if (next)
            a.integer("ct.tool.result_llm_call_id", next->id);
        span.attributes = a.take();
        tool_spans.push_back(std::move(span));
    }

    // Process spans (with a conversation: only the processes that made its calls,
    // and their ancestors).
    std::vector<Span> process_spans;
    if (!conversation.empty()) {
        for (bool changed = true; changed;) {
            changed = false;
            for (auto& p : procs) {
                if (!p.wanted)
                    continue;
                for (auto& q : procs)
                    if (!q.wanted && q.id == p.parent) {
                        q.wanted = true;
                        changed = true;
                    }
            }
        }
    }
    for (auto& p : procs) {
        if (!p.wanted)
            continue;
        Span span;
        span.id = p.id;
        span.parent = p.parent;
        std::string name = p.exe.empty() ? p.comm : basename(p.exe);
        span.name = "process " + (name.empty() ? std::to_string(p.pid) : name);
        span.start = p.start.value_or(cap_start);
        span.end = p.exit.value_or(cap_end);
        Attributes a;
        a.integer("process.pid", p.pid)
            .integer("process.parent_pid", p.ppid)
            .str_if("process.executable.path", p.exe)
            .str_if("process.executable.name", p.comm)
            .str_if("process.command_line", p.cmdline);
        if (p.exit_status) {
            // A wait(2) status: the exit code, or the signal that ended it.
            const auto status = static_cast<int>(*p.exit_status);
            if ((status & 0x7f) == 0) {
                a.integer("process.exit.code", (status >> 8) & 0xff);
            } else {
                a.integer("ct.process.signal", status & 0x7f);
            }
        }
        span.attributes = a.take();
        process_spans.push_back(std::move(span));
    }

    // The root covers everything below it.
    for (const auto* list : {&process_spans, &http_spans, &llm_spans, &tool_spans})
        for (const auto& s : *list) {
            root.start = std::min(root.start, s.start);
            root.end = std::max(root.end, s.end);
        }
    root.attributes = root_attrs.take();

    Json spans = Json::array();
    spans.push_back(span_json(ids.trace, root));
    for (auto* list : {&process_spans, &http_spans, &llm_spans, &tool_spans})
        for (auto& s : *list)
            spans.push_back(span_json(ids.trace, s));
    doc.spans += spans.size();
    doc.llm_spans += llm_spans.size();
    return Json{
        {"resource", {{"attributes", std::move(resource_attrs)}}},
        {"scopeSpans", Json::array({{{"scope", {{"name", "ct-analyze"}, {"version", ct::kVersion}}},
                                     {"spans", std::move(spans)}}})}};
}

}  // namespace

Expected<OtlpDocument> build_otlp(sqlite::Database& db, const ExportScope& scope) {
    OtlpDocument doc;
    Json resource_spans = Json::array();
    for (auto capture_id : scope.capture_ids) {
        auto rs = capture_spans(db, capture_id, scope.conversation, doc);
        if (!rs)
            return std::unexpected(rs.error());
        resource_spans.push_back(std::move(*rs));
    }
    Json request = {{"resourceSpans", std::move(resource_spans)}};
    doc.json = request.dump(-1, ' ', false, Json::error_handler_t::replace);
    return doc;
}

}  // namespace ct::analyze::exports
