// Writes synthetic captures for the HTML report test (html_report_test.py), with
// the project's own capture writer, so the test needs no root:
//
//   html-report-capture OUT.ctz tool       Claude Code-like session with a tool
//                                          round-trip (thinking, Bash tool_use, its
//                                          tool_result), a telemetry GET, a loss, an
//                                          unseen TCP connection and a warning
//   html-report-capture OUT.ctz openai     OpenAI Chat Completions: a streamed
//                                          function call, its tool result, an answer
//   html-report-capture OUT.ctz big MIB    one call whose question is MIB MiB long
//   html-report-capture OUT.ctz long N     N streamed Anthropic calls: one long
//                                          conversation with a tool call in every
//                                          answer, side conversations of 10 calls,
//                                          a telemetry GET every 25 calls
//   html-report-capture OUT.ctz series I   file I (0, 1, 2 ...) of a ct-record --watch
//                                          series (header fields 24-28): one telemetry
//                                          exchange, its events numbered from 1000 * I
//   html-report-capture OUT.ctz codex      two Codex sessions (Responses API) whose
//                                          opening turns send AGENTS.md and the
//                                          environment as user messages before the
//                                          asks "Fix the build" / "Write the docs"
//   $CT_SYNTHETIC_UUID_SEED, when set, seeds the capture UUID instead of the mode
#include <fmt/format.h>

#include <cstdlib>
#include <string>
#include <string_view>

#include "synthetic_capture.hpp"

namespace {

using ct::testing::SyntheticCapture;

constexpr std::uint32_t kPid = 4321;

// The capture UUID derives from the mode, or from $CT_SYNTHETIC_UUID_SEED when set
// (tests that need several captures of one mode).
std::string uuid_seed(const char* mode_seed) {
    const char* seed = std::getenv("CT_SYNTHETIC_UUID_SEED");
    return seed && *seed ? seed : mode_seed;
}

std::string chunk(std::string_view data) {
    return fmt::format("{:x}\r\n{}\r\n", data.size(), data);
}

std::string post(std::string_view body) {
    return fmt::format(
        "POST /v1/messages?beta=true HTTP/1.1\r\nHost: api.anthropic.com\r\n"
        "x-api-key: sk-ant-api03-SECRET-report-test\r\nanthropic-version: 2023-06-01\r\n"
        "user-agent: claude-cli/2.0.0 (external, cli)\r\ncontent-type: application/json\r\n"
        "content-length: {}\r\n\r\n{}",
        body.size(), body);
}

// A streamed Anthropic answer, read in a few pieces with time passing between
// them: `ttft_ns` before the first delta, 20 ms between pieces.
class Answer {
  public:
    Answer(SyntheticCapture& cap, std::uint64_t gen) : cap_(cap), gen_(gen) {
        wire_ =
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: "
            "chunked\r\nrequest-id: req_011\r\n\r\n";
    }
    void event(std::string_view type, std::string_view data) {
        wire_ += chunk(fmt::format("event: {}\ndata: {}\n\n", type, data));
    }
    void flush(std::uint64_t then_ns = 20'000'000) {
        cap_.read(gen_, wire_);
        wire_.clear();
        cap_.advance_ns(then_ns);
    }
    void start(int input, int cache_read, int cache_write) {
        event(
            "message_start",
            fmt::format(
                R"({{"type":"message_start","message":{{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"usage":{{"input_tokens":{},"cache_read_input_tokens":{},"cache_creation_input_tokens":{},"output_tokens":1}}}}}})",
                input, cache_read, cache_write));
        flush();
    }
    void thinking(int index, std::string_view text) {
        event(
            "content_block_start",
            fmt::format(
                R"({{"type":"content_block_start","index":{},"content_block":{{"type":"thinking","thinking":"","signature":""}}}})",
                index));
        event(
            "content_block_delta",
            fmt::format(
                R"({{"type":"content_block_delta","index":{},"delta":{{"type":"thinking_delta","thinking":"{}"}}}})",
                index, text));
        event(
            "content_block_delta",
            fmt::format(
                R"({{"type":"content_block_delta","index":{},"delta":{{"type":"signature_delta","signature":"c2ln"}}}})",
                index));
        event("content_block_stop",
              fmt::format(R"({{"type":"content_block_stop","index":{}}})", index));
        flush();
    }
    void text(int index, std::initializer_list<std::string_view> pieces) {
        event(
            "content_block_start",
            fmt::format(
                R"({{"type":"content_block_start","index":{},"content_block":{{"type":"text","text":""}}}})",
                index));
        for (auto p : pieces) {
            event(
                "content_block_delta",
                fmt::format(
                    R"({{"type":"content_block_delta","index":{},"delta":{{"type":"text_delta","text":"{}"}}}})",
                    index, p));
            flush();
        }
        event("content_block_stop",
              fmt::format(R"({{"type":"content_block_stop","index":{}}})", index));
    }
    // `input_json` is JSON text, escaped here for the partial_json string.
    void tool_use(int index, std::string_view id, std::string_view name,
                  std::string_view input_json) {
        std::string escaped;
        for (char c : input_json) {
            if (c == '"' || c == '\\')
                escaped += '\\';
            escaped += c;
        }
        event(
            "content_block_start",
            fmt::format(
                R"({{"type":"content_block_start","index":{},"content_block":{{"type":"tool_use","id":"{}","name":"{}","input":{{}}}}}})",
                index, id, name));
        event(
            "content_block_delta",
            fmt::format(
                R"({{"type":"content_block_delta","index":{},"delta":{{"type":"input_json_delta","partial_json":"{}"}}}})",
                index, escaped));
        event("content_block_stop",
              fmt::format(R"({{"type":"content_block_stop","index":{}}})", index));
        flush();
    }
    void stop(std::string_view reason, int output_tokens) {
        event(
            "message_delta",
            fmt::format(
                R"({{"type":"message_delta","delta":{{"stop_reason":"{}","stop_sequence":null}},"usage":{{"output_tokens":{}}}}})",
                reason, output_tokens));
        event("message_stop", R"({"type":"message_stop"})");
        wire_ += "0\r\n\r\n";
        flush(1'000'000);
    }

  private:
    SyntheticCapture& cap_;
    std::uint64_t gen_;
    std::string wire_;
};

constexpr std::string_view kSystem =
    R"([{"type":"text","text":"You are Claude Code, Anthropic's official CLI for Claude.","cache_control":{"type":"ephemeral"}},{"type":"text","text":"Use the tools to answer. Keep answers short."}])";
constexpr std::string_view kTools =
    R"([{"name":"Bash","description":"Runs a shell command and returns its output.","input_schema":{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}},{"name":"Read","description":"Reads a file.","input_schema":{"type":"object","properties":{"file_path":{"type":"string"}}}}])";

std::string request_body(std::string_view messages) {
    return fmt::format(
        R"({{"model":"claude-sonnet-4-5-20250929","max_tokens":32000,"stream":true,"system":{},"tools":{},"messages":[{}]}})",
        kSystem, kTools, messages);
}

void telemetry(SyntheticCapture& cap, std::uint64_t gen, int n) {
    cap.write(gen, fmt::format("GET /v1/initialize?n={} HTTP/1.1\r\nHost: statsig.anthropic.com\r\n"
                               "Authorization: Bearer tel-SECRET-token\r\n\r\n",
                               n));
    cap.advance_ns(40'000'000);
    cap.read(gen,
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
             "{\"ok\":true}");
    cap.advance_ns(5'000'000);
}

void tool_session(const std::string& path) {
    ct::testing::SyntheticOptions options;
    options.uuid_seed = uuid_seed("html-report-tool");
    options.target_cmdline = {"claude", "-p", "List the files here"};
    SyntheticCapture cap(path, options);
    cap.process(kPid, 1, "/usr/bin/node", {"claude", "-p", "List the files here"});
    cap.note("warning",
             "probes on /usr/bin/node were attached 12.0 ms after pid 4321 executed it; TLS "
             "traffic it made before then is not in the capture");

    cap.note("info", "held pid 4321 for 0.3 ms while examining /usr/bin/node");
    auto tel = cap.open_connection(kPid, 0x2000, "claude");
    cap.socket(tel, 6, "34.128.128.0", 443, 50100);
    telemetry(cap, tel, 1);

    auto api = cap.open_connection(kPid, 0x1000, "claude");
    cap.socket(api, 5, "160.79.104.10", 443, 50000);
    // A screenshot (a 2x2 PNG) and the question.
    const std::string user =
        R"({"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGM4YWMDRAwQCgAlPgUBdJmUYAAAAABJRU5ErkJggg=="}},{"type":"text","text":"List the files here"}]})";
    cap.write(api, post(request_body(user)));
    cap.advance_ns(350'000'000);  // time to first token
    {
        Answer a(cap, api);
        a.start(1200, 3000, 500);
        a.thinking(0, "The user wants the files; I will run ls.");
        a.text(1, {"I will list ", "the files."});
        a.tool_use(2, "toolu_01ABC", "Bash", R"({"command":"ls -1"})");
        a.stop("tool_use", 87);
    }
    cap.advance_ns(60'000'000);  // the tool runs
    const std::string assistant =
        R"({"role":"assistant","content":[{"type":"thinking","thinking":"The user wants the files; I will run ls.","signature":"c2ln"},{"type":"text","text":"I will list the files."},{"type":"tool_use","id":"toolu_01ABC","name":"Bash","input":{"command":"ls -1"}}]})";
    // The tool's output: two files, then a long listing, then markup that must stay text.
    std::string listing;
    for (int i = 0; i < 800; ++i)
        listing += fmt::format("\\nfile{:03}.log", i);
    const std::string result = fmt::format(
        R"({{"role":"user","content":[{{"type":"tool_result","tool_use_id":"toolu_01ABC","content":"alpha.txt\nbeta.txt{}\n</script><img src=x onerror=window.pwned=1>","is_error":false}}]}})",
        listing);
    cap.write(api, post(request_body(user + "," + assistant + "," + result)));
    cap.advance_ns(280'000'000);
    {
        Answer a(cap, api);
        a.start(1350, 4200, 0);
        a.text(0, {"There are two files: ", "alpha.txt and beta.txt."});
        a.stop("end_turn", 14);
    }
    // Telemetry after the answer; part of its response is lost in the recorder.
    telemetry(cap, tel, 2);
    cap.lose(tel, CT_DIR_READ, 700, CT_LOSS_RING_FULL);
    cap.close(api);
    cap.close(tel);
    // A connection no TLS probe read (as Go's or rustls' TLS would be).
    cap.tcp({.pid = kPid,
             .fd = 9,
             .remote = "140.82.112.3",
             .remote_port = 443,
             .local_port = 50200,
             .sent = 900,
             .received = 4100,
             .duration_ns = 200'000'000});
    cap.exit(kPid, 0);
    cap.finish();
}

void long_session(const std::string& path, int calls) {
    ct::testing::SyntheticOptions options;
    options.uuid_seed = uuid_seed("html-report-long");
    options.target_cmdline = {"claude"};
    SyntheticCapture cap(path, options);
    cap.process(kPid, 1, "/usr/bin/node", {"claude"});
    auto tel = cap.open_connection(kPid, 0x9000, "claude");
    cap.socket(tel, 7, "34.128.128.0", 443, 51000);

    const int side = calls >= 50 ? 4 : 0;  // side conversations of 10 calls
    const int main_calls = calls - side * 10;
    std::uint64_t api = 0;
    int on_connection = 0;
    auto next_connection = [&](int i) {
        if (api == 0 || on_connection == 50) {
            if (api)
                cap.close(api);
            api = cap.open_connection(kPid, 0x1000 + static_cast<std::uint64_t>(i), "claude");
            cap.socket(api, 5, "160.79.104.10", 443, static_cast<std::uint16_t>(50000 + i % 1000));
            on_connection = 0;
        }
        ++on_connection;
    };
    auto one_call = [&](int i, std::string& history, int turn, const char* topic) {
        next_connection(i);
        if (turn == 0)
            history = fmt::format(
                R"({{"role":"user","content":[{{"type":"text","text":"Task {}: fix the failing test in {}"}}]}})",
                i, topic);
        cap.write(api, post(request_body(history)));
        cap.advance_ns(200'000'000 + static_cast<std::uint64_t>(i % 7) * 30'000'000);
        Answer a(cap, api);
        a.start(1000 + turn * 120, 2000 + turn * 100, 50);
        a.text(0, {"Step ", "working on ", "the next file."});
        std::string id = fmt::format("toolu_{:04}", i);
        a.tool_use(1, id, turn % 2 ? "Read" : "Bash",
                   turn % 2 ? fmt::format(R"({{"file_path":"/src/file{}.cpp"}})", turn)
                            : fmt::format(R"({{"command":"make test-{}"}})", turn));
        a.stop("tool_use", 40 + i % 30);
        history += fmt::format(
            R"(,{{"role":"assistant","content":[{{"type":"text","text":"Step working on the next file."}},{{"type":"tool_use","id":"{}","name":"{}","input":{{}}}}]}})",
            id, turn % 2 ? "Read" : "Bash");
        history += fmt::format(
            R"(,{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"{}","content":"output of call {} in {}"}}]}})",
            id, i, topic);
        cap.advance_ns(30'000'000);
        if (i % 25 == 24)
            telemetry(cap, tel, i);
    };
    std::string main_history, side_history;
    int i = 0;
    for (int turn = 0; turn < main_calls; ++turn) {
        one_call(i++, main_history, turn, "main");
        // A side conversation (a subagent) every so often.
        if (side && turn % (main_calls / side) == main_calls / side / 2 && i < calls) {
            for (int s = 0; s < 10; ++s)
                one_call(i++, side_history, s, "subagent");
        }
    }
    if (api)
        cap.close(api);
    cap.close(tel);
    cap.exit(kPid, 0);
    cap.finish();
}

// One Anthropic call whose question is `mib` MiB of text (a pasted log).
void big_session(const std::string& path, int mib) {
    ct::testing::SyntheticOptions options;
    options.uuid_seed = uuid_seed("html-report-big");
    options.payload_cap = 64u << 20;
    SyntheticCapture cap(path, options);
    cap.process(kPid, 1, "/usr/bin/node", {"claude"});
    auto api = cap.open_connection(kPid, 0x1000, "claude");
    std::string log;
    while (log.size() < static_cast<std::size_t>(mib) << 20)
        log += "2026-01-01 12:00:00 INFO a line of the pasted log ÿ\\n";
    cap.write(api, post(request_body(fmt::format(
                       R"({{"role":"user","content":"Why does this fail? {}"}})", log))));
    cap.advance_ns(100'000'000);
    Answer a(cap, api);
    a.start(900000, 0, 0);
    a.text(0, {"It fails because of the last line."});
    a.stop("end_turn", 9);
    cap.close(api);
    cap.exit(kPid, 0);
    cap.finish();
}

// OpenAI Chat Completions: a streamed answer that calls a function, then the
// tool message with its result and a JSON answer.
void openai_session(const std::string& path) {
    ct::testing::SyntheticOptions options;
    options.uuid_seed = uuid_seed("html-report-openai");
    SyntheticCapture cap(path, options);
    cap.process(kPid, 1, "/usr/bin/python3", {"python3", "agent.py"});
    auto g = cap.open_connection(kPid, 0x3000, "python3");
    cap.socket(g, 5, "162.159.140.245", 443, 52000);
    auto request = [](std::string_view body) {
        return fmt::format(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer "
            "sk-proj-SECRET\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
            body.size(), body);
    };
    const std::string head =
        R"({"model":"gpt-4o","stream":true,"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}],"messages":[{"role":"system","content":"You are a weather bot."},{"role":"user","content":"Weather in Paris?"})";
    cap.write(g, request(head + "]}"));
    cap.advance_ns(250'000'000);
    std::string wire =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (
        std::string_view data :
        {R"({"id":"c1","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Let me check."}}]})",
         R"({"id":"c1","model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_9","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}}]})",
         R"({"id":"c1","model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})",
         R"({"id":"c1","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":9,"prompt_tokens_details":{"cached_tokens":32}}})",
         "[DONE]"}) {
        wire += chunk(fmt::format("data: {}\n\n", data));
        cap.read(g, wire);
        wire.clear();
        cap.advance_ns(15'000'000);
    }
    cap.read(g, "0\r\n\r\n");
    cap.advance_ns(40'000'000);
    std::string again = head;
    again.replace(again.find(R"("stream":true)"), 13, R"("stream":false)");
    cap.write(
        g,
        request(
            again +
            R"(,{"role":"assistant","content":"Let me check.","tool_calls":[{"id":"call_9","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"call_9","content":"18 C, sunny"}]})"));
    cap.advance_ns(300'000'000);
    const std::string answer =
        R"({"id":"c2","object":"chat.completion","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"It is 18 C and sunny in Paris."},"finish_reason":"stop"}],"usage":{"prompt_tokens":80,"completion_tokens":12}})";
    cap.read(g, fmt::format("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                            "{}\r\n\r\n{}",
                            answer.size(), answer));
    // The Responses API: instructions, input items with a function call and its
    // output, a streamed answer with reasoning, text and another function call.
    cap.advance_ns(100'000'000);
    const std::string responses_body =
        R"({"model":"gpt-5","stream":true,"instructions":"Answer about the weather.","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"And in Lyon?"}]},{"type":"function_call","call_id":"fc_0","name":"get_weather","arguments":"{\"city\":\"Lyon\"}"},{"type":"function_call_output","call_id":"fc_0","output":"21 C"}]})";
    cap.write(g, fmt::format("POST /v1/responses HTTP/1.1\r\nHost: api.openai.com\r\ncontent-type: "
                             "application/json\r\ncontent-length: {}\r\n\r\n{}",
                             responses_body.size(), responses_body));
    cap.advance_ns(200'000'000);
    wire =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (
        auto [type, data] : std::initializer_list<std::pair<std::string_view, std::string_view>>{
            {"response.created",
             R"({"type":"response.created","response":{"id":"resp_1","model":"gpt-5","status":"in_progress"}})"},
            {"response.output_text.delta",
             R"({"type":"response.output_text.delta","output_index":1,"delta":"21 C in Lyon."})"},
            {"response.completed",
             R"({"type":"response.completed","response":{"id":"resp_1","model":"gpt-5","status":"completed","output":[{"type":"reasoning","summary":[{"type":"summary_text","text":"The tool said 21 C."}]},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"21 C in Lyon."}]},{"type":"function_call","call_id":"fc_1","name":"get_forecast","arguments":"{\"city\":\"Lyon\"}"}],"usage":{"input_tokens":11,"output_tokens":22,"input_tokens_details":{"cached_tokens":3}}}})"}}) {
        wire += chunk(fmt::format("event: {}\ndata: {}\n\n", type, data));
        cap.read(g, wire);
        wire.clear();
        cap.advance_ns(15'000'000);
    }
    cap.read(g, "0\r\n\r\n");
    cap.close(g);
    cap.exit(kPid, 0);
    cap.finish();
}

// File `index` of a --watch series: its place in the series and one exchange.
void series_file(const std::string& path, int index) {
    ct::testing::SyntheticOptions options;
    options.uuid_seed = fmt::format("html-report-series-{}", index);
    ct::testing::SyntheticSeries series;
    series.series_seed = "html-report-series";
    series.index = static_cast<std::uint64_t>(index);
    series.first_seq = 1000 * static_cast<std::uint64_t>(index);
    if (index > 0)
        series.previous_seed = fmt::format("html-report-series-{}", index - 1);
    series.rules = {"name=claude", "cmdline=agent\\.py"};
    options.series = series;
    SyntheticCapture cap(path, options);
    cap.process(kPid, 1, "/usr/bin/node", {"claude"});
    auto tel = cap.open_connection(kPid, 0x3000 + static_cast<std::uint64_t>(index), "claude");
    cap.socket(tel, 6, "34.128.128.0", 443, static_cast<std::uint16_t>(50200 + index));
    telemetry(cap, tel, index + 1);
    cap.close(tel);
    cap.finish("rotated (size)");
}

// Two Codex sessions in one directory: the same instructions, developer item and
// setup user items (AGENTS.md, <environment_context>), different asks; each
// session's second call adds reasoning, a function call and its output.
void codex_session(const std::string& path) {
    ct::testing::SyntheticOptions options;
    options.uuid_seed = uuid_seed("html-report-codex");
    SyntheticCapture cap(path, options);
    cap.process(kPid, 1, "/usr/bin/codex", {"codex"});
    auto call = [](std::string_view ask, bool second) {
        std::string body = fmt::format(
            R"({{"model":"gpt-5-codex","instructions":"You are Codex.","input":[)"
            R"({{"type":"message","role":"developer","content":[{{"type":"input_text","text":"<permissions instructions>workspace-write</permissions instructions>"}}]}},)"
            R"({{"type":"message","role":"user","content":[{{"type":"input_text","text":"# AGENTS.md for /w"}}]}},)"
            R"({{"type":"message","role":"user","content":[{{"type":"input_text","text":"<environment_context><cwd>/w</cwd></environment_context>"}}]}},)"
            R"({{"type":"message","role":"user","content":[{{"type":"input_text","text":"{}"}}]}})",
            ask);
        if (second)
            body +=
                R"(,{"type":"reasoning","summary":[]},{"type":"function_call","name":"shell","arguments":"{}","call_id":"c1"},{"type":"function_call_output","call_id":"c1","output":"a"})";
        body += "]}";
        return fmt::format(
            "POST /v1/responses HTTP/1.1\r\nHost: api.openai.com\r\ncontent-type: "
            "application/json\r\ncontent-length: {}\r\n\r\n{}",
            body.size(), body);
    };
    std::uint64_t ssl = 0x4000;
    std::uint16_t port = 53000;
    for (bool second : {false, true}) {
        for (std::string_view ask : {"Fix the build", "Write the docs"}) {
            auto g = cap.open_connection(kPid, ssl++, "codex");
            cap.socket(g, static_cast<int>(5 + ssl % 16), "162.159.140.245", 443, port++);
            cap.write(g, call(ask, second));
            cap.close(g);
            cap.advance_ns(1'000'000);
        }
    }
    cap.finish();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        fmt::print(stderr, "usage: {} OUT.ctz tool | long N\n", argv[0]);
        return 2;
    }
    std::string kind = argv[2];
    if (kind == "tool") {
        tool_session(argv[1]);
    } else if (kind == "big" && argc > 3) {
        big_session(argv[1], std::atoi(argv[3]));
    } else if (kind == "openai") {
        openai_session(argv[1]);
    } else if (kind == "long" && argc > 3) {
        long_session(argv[1], std::atoi(argv[3]));
    } else if (kind == "codex") {
        codex_session(argv[1]);
    } else if (kind == "series" && argc > 3) {
        series_file(argv[1], std::atoi(argv[3]));
    } else {
        fmt::print(stderr, "unknown kind {}\n", kind);
        return 2;
    }
    return 0;
}
