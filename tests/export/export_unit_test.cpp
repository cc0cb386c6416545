// The HAR and OTLP exports without third-party checkers (those are in
// export_test.py): helpers, what the exports hold for the synthetic session, and
// the OTLP/HTTP sender against a scripted local server.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "analyze_capture.hpp"
#include "export/export_util.hpp"
#include "export/har.hpp"
#include "export/otlp.hpp"
#include "export/scope.hpp"
#include "export_session.hpp"
#include "test_files.hpp"
#include "util/unique_fd.hpp"

namespace ct::analyze::exports {
namespace {

using nlohmann::json;

TEST(ExportUtil, Base64Utf8Iso8601Uri) {
    EXPECT_EQ(base64(""), "");
    EXPECT_EQ(base64("f"), "Zg==");
    EXPECT_EQ(base64("fo"), "Zm8=");
    EXPECT_EQ(base64("foo"), "Zm9v");
    EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
    EXPECT_EQ(base64(std::string("\xff\x00\x80", 3)), "/wCA");

    EXPECT_TRUE(valid_utf8("plain é € 😀"));
    EXPECT_FALSE(valid_utf8("\xc0\x80"));          // overlong NUL
    EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));      // a surrogate
    EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
    EXPECT_FALSE(valid_utf8("ab\xe2\x82"));        // cut short
    EXPECT_FALSE(valid_utf8("\x80"));

    EXPECT_EQ(iso8601(0), "1970-01-01T00:00:00.000000Z");
    EXPECT_EQ(iso8601(1'700'000'000'123'456'789), "2023-11-14T22:13:20.123456Z");

    EXPECT_EQ(uri_safe("/a b?x=%41&y=%zz&z=\xc3\xa9\""), "/a%20b?x=%41&y=%25zz&z=%C3%A9%22");
    EXPECT_EQ(url_of("GET", "/p?q=1", "h.example:8443"), "https://h.example:8443/p?q=1");
    EXPECT_EQ(url_of("GET", "http://proxy.example/x", "ignored"), "http://proxy.example/x");
}

class ExportSession : public ::testing::Test {
  protected:
    void SetUp() override {
        ct::testing::write_export_session(dir_.file("s.ctz"));
        auto db = open_session_database(dir_.file("db.sqlite"));
        ASSERT_TRUE(db) << db.error().what();
        db_.emplace(std::move(*db));
        auto imported = import_capture_file(*db_, dir_.file("s.ctz"), false);
        ASSERT_TRUE(imported) << imported.error().what();
        capture_id_ = imported->result.capture_id;
    }
    std::string text(const std::string& sql) {
        auto st = db_->prepare(sql);
        EXPECT_TRUE(st);
        auto row = st->step();
        EXPECT_TRUE(row && *row) << sql;
        return std::string(st->column_text(0));
    }

    ct::testing::TempDir dir_;
    std::optional<sqlite::Database> db_;
    std::int64_t capture_id_ = 0;
};

TEST_F(ExportSession, ScopeFindsCapturesAndConversations) {
    const std::string uuid = text("SELECT uuid FROM captures");
    auto by_uuid = resolve_scope(*db_, {}, uuid, "");
    ASSERT_TRUE(by_uuid);
    EXPECT_EQ(by_uuid->capture_ids, std::vector<std::int64_t>{capture_id_});
    auto by_id = resolve_scope(*db_, {capture_id_}, std::to_string(capture_id_), "");
    ASSERT_TRUE(by_id);
    EXPECT_EQ(by_id->capture_ids.size(), 1u) << "each capture once";
    EXPECT_FALSE(resolve_scope(*db_, {}, "no-such-uuid", ""));
    EXPECT_FALSE(resolve_scope(*db_, {}, "", ""));
    EXPECT_FALSE(resolve_scope(*db_, {}, "", "not hex"));
    EXPECT_FALSE(resolve_scope(*db_, {}, "", "ABCDEF"));
    const std::string key = text("SELECT conversation FROM v_llm_conversations LIMIT 1");
    auto conv = resolve_scope(*db_, {}, "", key);
    ASSERT_TRUE(conv);
    EXPECT_EQ(conv->capture_ids, std::vector<std::int64_t>{capture_id_});
    EXPECT_EQ(conv->conversation, key);
}

TEST_F(ExportSession, HarHoldsEveryExchange) {
    auto har = build_har(*db_, {{capture_id_}, {}});
    ASSERT_TRUE(har) << har.error().what();
    auto doc = json::parse(har->json);
    const auto& entries = doc["log"]["entries"];
    ASSERT_EQ(entries.size(), 9u);
    EXPECT_EQ(har->entries, 9u);
    std::map<std::string, json> by_url;
    for (const auto& e : entries)
        by_url[e["request"]["method"].get<std::string>() + " " +
               e["request"]["url"].get<std::string>()] = e;
    const auto& png = by_url.at("POST https://api.anthropic.com/upload");
    EXPECT_EQ(png["response"]["content"]["encoding"], "base64");
    EXPECT_EQ(png["request"]["postData"]["encoding"], "base64");
    EXPECT_EQ(png["request"]["postData"]["text"], base64(std::string("\xff\xfe\x00\x01"
                                                                     "binary\x80",
                                                                     11)));
    const auto& h2 = by_url.at("POST https://h2.example/v2/items");
    EXPECT_EQ(h2["request"]["httpVersion"], "HTTP/2");
    EXPECT_EQ(h2["request"]["postData"]["text"], "h2 request body");
    EXPECT_EQ(h2["response"]["content"]["text"], R"({"created":true})");
    EXPECT_EQ(h2["serverIPAddress"], "93.184.215.14");
    const auto& slow = by_url.at("GET https://slow.example/slow");
    EXPECT_EQ(slow["response"]["status"], 0);
    const auto& first = entries[0];
    EXPECT_EQ(first["timings"]["wait"], 200.001);  // the scripted 200 ms (+1 µs per event)
    EXPECT_EQ(har->json.find("sk-ant-secret-123"), std::string::npos);

    const std::string key = text(
        "SELECT conversation FROM v_llm_conversations WHERE "
        "first_message = 'List files'");
    auto conv = build_har(*db_, {{capture_id_}, key});
    ASSERT_TRUE(conv);
    EXPECT_EQ(conv->entries, 2u);
}

TEST_F(ExportSession, OtlpSpansAreDeterministicAndCarryGenAiValues) {
    auto a = build_otlp(*db_, {{capture_id_}, {}});
    auto b = build_otlp(*db_, {{capture_id_}, {}});
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->json, b->json);
    EXPECT_EQ(a->spans, 18u);
    EXPECT_EQ(a->llm_spans, 3u);
    auto doc = json::parse(a->json);
    const auto& spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"];
    std::string uuid = text("SELECT uuid FROM captures");
    std::erase(uuid, '-');
    std::map<std::string, json> by_id;
    for (const auto& s : spans) {
        EXPECT_EQ(s["traceId"], uuid);
        EXPECT_TRUE(by_id.emplace(s["spanId"].get<std::string>(), s).second) << "unique ids";
    }
    auto attr = [](const json& span, const std::string& key) -> json {
        for (const auto& kv : span["attributes"])
            if (kv["key"] == key)
                return kv["value"];
        return nullptr;
    };
    int chats = 0;
    for (const auto& s : spans) {
        if (s["name"] != "chat claude-sonnet-4-5" ||
            attr(s, "gen_ai.response.id") != json{{"stringValue", "msg_1"}})
            continue;
        ++chats;
        EXPECT_EQ(s["kind"], 3);
        EXPECT_EQ(attr(s, "gen_ai.usage.input_tokens"), (json{{"intValue", "550"}}));
        EXPECT_EQ(attr(s, "gen_ai.usage.output_tokens"), (json{{"intValue", "57"}}));
        EXPECT_EQ(attr(s, "gen_ai.response.finish_reasons"),
                  (json{{"arrayValue", {{"values", {{{"stringValue", "tool_use"}}}}}}}));
        const auto& http = by_id.at(s["parentSpanId"].get<std::string>());
        EXPECT_EQ(http["name"], "POST");
        EXPECT_EQ(attr(http, "url.full"),
                  (json{{"stringValue", "https://api.anthropic.com/v1/messages"}}));
        const auto& process = by_id.at(http["parentSpanId"].get<std::string>());
        EXPECT_EQ(process["name"], "process agent");
    }
    EXPECT_EQ(chats, 1);
}

// A one-shot HTTP server on loopback: reads a request, answers `reply`.
class ScriptedServer {
  public:
    explicit ScriptedServer(std::string reply) : reply_(std::move(reply)) {
        listener_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        EXPECT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), len), 0);
        EXPECT_EQ(::listen(listener_.get(), 1), 0);
        ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~ScriptedServer() { thread_.join(); }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    const std::string& request() const { return request_; }

  private:
    void serve() {
        UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        char buf[65536];
        while (true) {
            auto head = request_.find("\r\n\r\n");
            if (head != std::string::npos) {
                auto cl = request_.find("Content-Length: ");
                if (cl != std::string::npos &&
                    request_.size() >= head + 4 + std::stoul(request_.substr(cl + 16)))
                    break;
            }
            ssize_t n = ::recv(conn.get(), buf, sizeof buf, 0);
            if (n <= 0)
                break;
            request_.append(buf, static_cast<std::size_t>(n));
        }
        ::send(conn.get(), reply_.data(), reply_.size(), MSG_NOSIGNAL);
    }

    std::string reply_;
    UniqueFd listener_;
    int port_ = 0;
    std::string request_;
    std::thread thread_;
};

TEST(OtlpPost, SendsJsonToV1TracesAndReadsTheAnswer) {
    const std::string body = R"({"resourceSpans":[]})";
    {
        ScriptedServer server(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            "Content-Length: 2\r\n\r\n{}");
        auto sent = post_otlp(server.url() + "/", body);
        ASSERT_TRUE(sent) << sent.error().what();
        EXPECT_EQ(*sent, "HTTP/1.1 200 OK");
        EXPECT_TRUE(server.request().starts_with("POST /v1/traces HTTP/1.1\r\n"))
            << server.request();
        EXPECT_NE(server.request().find("\r\nContent-Type: application/json\r\n"),
                  std::string::npos);
        EXPECT_TRUE(server.request().ends_with("\r\n\r\n" + body));
    }
    {
        ScriptedServer server("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        ASSERT_TRUE(post_otlp(server.url() + "/otel/v1/traces", body));
        EXPECT_TRUE(server.request().starts_with("POST /otel/v1/traces HTTP/1.1\r\n"));
    }
    {
        ScriptedServer server("HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\n\r\nbad traceId");
        auto sent = post_otlp(server.url(), body);
        ASSERT_FALSE(sent);
        EXPECT_NE(sent.error().what().find("400 Bad Request: bad traceId"), std::string::npos);
    }
    {
        const std::string partial =
            R"({"partialSuccess":{"rejectedSpans":"3","errorMessage":"too old"}})";
        ScriptedServer server("HTTP/1.1 200 OK\r\nContent-Length: " +
                              std::to_string(partial.size()) + "\r\n\r\n" + partial);
        auto sent = post_otlp(server.url(), body);
        ASSERT_FALSE(sent);
        EXPECT_NE(sent.error().what().find("rejected 3 spans: too old"), std::string::npos);
    }
    EXPECT_FALSE(check_otlp_endpoint("https://collector.example:4318"));
    EXPECT_FALSE(check_otlp_endpoint("collector.example:4318"));
    EXPECT_FALSE(check_otlp_endpoint("http://user@collector.example"));
    EXPECT_FALSE(check_otlp_endpoint("http://collector.example:port"));
    EXPECT_TRUE(check_otlp_endpoint("http://[::1]:4318"));
}

}  // namespace
}  // namespace ct::analyze::exports
