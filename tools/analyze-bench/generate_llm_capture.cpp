// Writes a large synthetic capture of agent-like LLM traffic for the import
// benchmark: keep-alive connections carrying Anthropic Messages calls whose
// requests grow with the conversation and whose answers stream as SSE (text
// deltas and tool_use), with the project's own capture writer.
//
//   analyze-bench-gen OUT.ctz [TARGET_MIB]
#include <fmt/format.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "synthetic_capture.hpp"

namespace {

class Words {
  public:
    explicit Words(unsigned seed) : rng_(seed) {
        const char* base[] = {"the",    "file",   "function", "returns",   "error",  "value",
                              "test",   "build",  "config",   "path",      "user",   "request",
                              "parse",  "stream", "token",    "model",     "check",  "update",
                              "create", "delete", "list",     "directory", "output", "input"};
        for (const char* w : base)
            words_.emplace_back(w);
        // Rarer words so text does not compress unrealistically well.
        for (int i = 0; i < 2000; ++i) {
            std::string w;
            for (int k = 0; k < 3 + static_cast<int>(rng_() % 8); ++k)
                w += static_cast<char>('a' + rng_() % 26);
            words_.push_back(w);
        }
    }
    std::string sentence(int n) {
        std::string s;
        for (int i = 0; i < n; ++i) {
            std::size_t idx = rng_() % 3 ? rng_() % 24 : rng_() % words_.size();
            if (i)
                s += ' ';
            s += words_[idx];
        }
        return s + ".";
    }

  private:
    std::mt19937 rng_;
    std::vector<std::string> words_;
};

std::string json_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\')
            out += '\\';
        out += c;
    }
    return out;
}

std::string chunk(const std::string& data) {
    return fmt::format("{:x}\r\n{}\r\n", data.size(), data);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        fmt::print(stderr, "usage: {} OUT.ctz [TARGET_MIB]\n", argv[0]);
        return 2;
    }
    const std::uint64_t target = (argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 256) << 20;
    ct::testing::SyntheticOptions options;
    options.uuid_seed = std::string("bench-") + argv[1];
    ct::testing::SyntheticCapture cap(argv[1], options);
    cap.process(4242, 1, "/usr/bin/node", {"node", "/usr/lib/agent/cli.js"});
    Words words(17);
    std::string system = json_escape(words.sentence(1500));
    std::string tools = "[";
    for (int t = 0; t < 12; ++t) {
        tools += fmt::format(
            R"({}{{"name":"tool_{}","description":"{}","input_schema":{{"type":"object"}}}})",
            t ? "," : "", t, json_escape(words.sentence(60)));
    }
    tools += "]";

    std::uint64_t bytes = 0;
    int session = 0;
    while (bytes < target) {
        auto g = cap.open_connection(4242, 0x7000 + static_cast<std::uint64_t>(session), "node");
        std::string history;
        for (int turn = 0; turn < 20 && bytes < target; ++turn) {
            history += fmt::format(R"({}{{"role":"user","content":"{}"}})",
                                   history.empty() ? "" : ",", json_escape(words.sentence(40)));
            std::string body = fmt::format(
                R"({{"model":"claude-sonnet-4-5","max_tokens":8192,"stream":true,"system":"{}","tools":{},"messages":[{}]}})",
                system, tools, history);
            std::string request = fmt::format(
                "POST /v1/messages?beta=true HTTP/1.1\r\nHost: api.anthropic.com\r\nx-api-key: "
                "sk-ant-bench\r\n"
                "anthropic-version: 2023-06-01\r\ncontent-type: "
                "application/json\r\ncontent-length: {}\r\n\r\n{}",
                body.size(), body);
            cap.write(g, request);
            cap.advance_ns(300'000'000);
            std::string wire =
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: "
                "chunked\r\n\r\n";
            auto event = [&](const std::string& type, const std::string& data) {
                wire += chunk("event: " + type + "\ndata: " + data + "\n\n");
            };
            event(
                "message_start",
                R"({"type":"message_start","message":{"id":"msg_b","model":"claude-sonnet-4-5","usage":{"input_tokens":2000,"output_tokens":1}}})");
            event(
                "content_block_start",
                R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})");
            std::string answer;
            for (int k = 0; k < 60; ++k) {
                std::string delta = words.sentence(3);
                answer += delta;
                event(
                    "content_block_delta",
                    fmt::format(
                        R"({{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{} "}}}})",
                        json_escape(delta)));
                // A read every few events, as TLS records arrive.
                if (k % 4 == 3) {
                    cap.read(g, wire);
                    bytes += wire.size();
                    wire.clear();
                    cap.advance_ns(20'000'000);
                }
            }
            event("content_block_stop", R"({"type":"content_block_stop","index":0})");
            event(
                "content_block_start",
                R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_b","name":"tool_3","input":{}}})");
            event(
                "content_block_delta",
                R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"path\":\"/src/main.cpp\"}"}})");
            event("content_block_stop", R"({"type":"content_block_stop","index":1})");
            event(
                "message_delta",
                R"({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":321}})");
            event("message_stop", R"({"type":"message_stop"})");
            wire += "0\r\n\r\n";
            cap.read(g, wire);
            bytes += wire.size() + request.size();
            history +=
                fmt::format(R"(,{{"role":"assistant","content":"{}"}})", json_escape(answer));
        }
        cap.close(g);
        ++session;
    }
    cap.finish();
    fmt::print("{} plaintext bytes in {} connections\n", bytes, session);
    return 0;
}
