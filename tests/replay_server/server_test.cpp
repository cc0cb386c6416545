// The replay server on captures written by the project's own writer (no BPF):
// responses as recorded, SSE event by event, 599 for requests that match nothing,
// and ct-replay's exit status.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include <signal.h>
#include <spawn.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "gzip.hpp"
#include "protocols/http1/parse.hpp"
#include "server/http_server.hpp"
#include "server/recording.hpp"
#include "sqlite/database.hpp"
#include "server/session.hpp"
#include "synthetic_capture.hpp"
#include "test_files.hpp"

namespace ct::replay::serve {
namespace {

namespace http1 = analyze::http1;

using testing::gzip;

const std::string kAsk =
    R"({"model":"claude-x","stream":true,"metadata":{"user_id":"u1"},"messages":[{"role":"user","content":"hi"}]})";
const std::vector<std::string> kEvents = {
    "event: message_start\ndata: {\"type\":\"message_start\"}\n\n",
    "event: content_block_delta\ndata: "
    "{\"type\":\"content_block_delta\",\"delta\":{\"text\":\"Hello\"}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
};
const std::string kModels = R"({"data":[{"id":"claude-x"}]})";
constexpr std::uint64_t kEventGapNs = 100'000'000;
constexpr std::uint64_t kThinkNs = 50'000'000;

std::string all_events() {
    std::string s;
    for (const auto& e : kEvents)
        s += e;
    return s;
}

// One keep-alive connection: a streamed call (chunked SSE, 100 ms between events)
// and a gzip-encoded GET.
void write_capture(const std::string& path) {
    testing::SyntheticCapture cap(path);
    cap.process(100, 1, "/usr/bin/agent", {"agent"});
    auto gen = cap.open_connection(100, 0x1000, "agent");
    cap.socket(gen, 5, "160.79.104.10", 443, 40000);
    cap.write(
        gen, fmt::format(
                 "POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nx-api-key: sk-secret\r\n"
                 "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
                 kAsk.size(), kAsk));
    cap.read(gen,
             "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
             "Connection: keep-alive\r\nrequest-id: req_1\r\n\r\n");
    for (const auto& e : kEvents) {
        cap.advance_ns(kEventGapNs);
        cap.read(gen, fmt::format("{:x}\r\n{}\r\n", e.size(), e));
    }
    cap.read(gen, "0\r\n\r\n");
    cap.write(gen,
              "GET /v1/models?limit=5 HTTP/1.1\r\nHost: api.anthropic.com\r\nAccept-Encoding: "
              "gzip\r\n\r\n");
    const std::string gz = gzip(kModels);
    cap.advance_ns(kThinkNs);  // the server took its time
    cap.read(gen,
             fmt::format(
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                 "Content-Length: {}\r\n\r\n{}",
                 gz.size(), gz));
    cap.close(gen);
    cap.exit(100, 0);
    cap.finish();
}

struct Reply {
    http1::Message message;
    std::size_t reads = 0;  // socket reads it took: >1 when sent in pieces
};

class Client {
  public:
    explicit Client(std::uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            throw std::runtime_error("connect");
    }
    ~Client() { ::close(fd_); }
    Reply request(const std::string& method, const std::string& target, const std::string& body) {
        std::string raw = fmt::format(
            "{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: anything\r\n", method, target);
        if (!body.empty())
            raw += fmt::format("Content-Type: application/json\r\nContent-Length: {}\r\n",
                               body.size());
        raw += "\r\n" + body;
        EXPECT_EQ(::send(fd_, raw.data(), raw.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(raw.size()));
        Reply reply;
        while (true) {
            http1::ParseContext ctx;
            ctx.request_method = method;
            auto r = http1::parse_frame(http1::MessageKind::Response, buf_, ctx, reply.message);
            if (r.state == analyze::ParseState::Success) {
                buf_.erase(0, r.consumed);
                return reply;
            }
            if (r.state == analyze::ParseState::Invalid)
                throw std::runtime_error("invalid response");
            char tmp[4096];
            ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
            if (n <= 0)
                throw std::runtime_error("connection closed before the response ended");
            ++reply.reads;
            buf_.append(tmp, static_cast<std::size_t>(n));
        }
    }

  private:
    int fd_ = -1;
    std::string buf_;
};

class ReplayServer : public ::testing::Test {
  protected:
    void SetUp() override {
        capture_ = dir_.file("session.ctz");
        write_capture(capture_);
    }
    ReplaySession session() {
        auto rec = load_recording(capture_);
        if (!rec)
            throw std::runtime_error(rec.error().what());
        return ReplaySession(std::move(*rec), Normalizer());
    }
    testing::TempDir dir_;
    std::string capture_;
};

TEST_F(ReplayServer, LoadsTheRecordedExchanges) {
    auto rec = load_recording(capture_);
    ASSERT_TRUE(rec) << rec.error().what();
    ASSERT_EQ(rec->exchanges.size(), 2u);
    const auto& sse = rec->exchanges[0];
    EXPECT_EQ(sse.target, "/v1/messages");
    EXPECT_TRUE(sse.sse);
    ASSERT_EQ(sse.chunks.size(), kEvents.size());
    for (std::size_t i = 0; i < kEvents.size(); ++i) {
        EXPECT_EQ(sse.chunks[i].bytes, kEvents[i]);
        EXPECT_GE(sse.chunks[i].delay_ns, kEventGapNs);
        EXPECT_LT(sse.chunks[i].delay_ns, 2 * kEventGapNs);
    }
    for (const auto& h : sse.headers) {  // framing and hop-by-hop headers are the server's business
        EXPECT_FALSE(http1::iequals(h.name, "Transfer-Encoding"));
        EXPECT_FALSE(http1::iequals(h.name, "Connection"));
    }
    EXPECT_EQ(rec->exchanges[1].target, "/v1/models?limit=5");
    EXPECT_EQ(rec->exchanges[1].content_encoding, "gzip");
    EXPECT_GE(rec->exchanges[1].response_delay_ns, kThinkNs);
    EXPECT_LT(rec->exchanges[1].response_delay_ns, 2 * kThinkNs);
    EXPECT_LT(rec->exchanges[0].response_delay_ns, kThinkNs);
}

TEST_F(ReplayServer, AnswersAsRecorded) {
    ReplaySession s = session();
    ServerOptions o;
    o.no_delay = true;
    Server server(s, o);
    auto port = server.start();
    ASSERT_TRUE(port) << port.error().what();
    Client c(*port);
    // Key order and the volatile user id differ from the recording.
    Reply r = c.request(
        "POST", "/v1/messages",
        R"({"messages":[{"content":"hi","role":"user"}],"metadata":{"user_id":"u2"},"model":"claude-x","stream":true})");
    EXPECT_EQ(r.message.status, 200);
    EXPECT_EQ(r.message.value_of("Content-Type"), "text/event-stream");
    EXPECT_EQ(r.message.value_of("request-id"), "req_1");
    EXPECT_EQ(r.message.framing, http1::BodyFraming::Chunked);
    EXPECT_EQ(r.message.body, all_events());

    Reply g = c.request("GET", "/v1/models?limit=5", "");  // same keep-alive connection
    EXPECT_EQ(g.message.status, 200);
    EXPECT_EQ(g.message.value_of("Content-Encoding"), "gzip");
    EXPECT_EQ(g.message.framing, http1::BodyFraming::ContentLength);
    EXPECT_EQ(g.message.body, gzip(kModels));
    EXPECT_TRUE(s.followed());

    Reply again = c.request("GET", "/v1/models?limit=5", "");  // served once only
    EXPECT_EQ(again.message.status, 599);
    auto err = nlohmann::json::parse(again.message.body);
    EXPECT_EQ(err["error"]["closest_recorded_exchange"], 2);
    server.stop();
    EXPECT_FALSE(s.followed());
}

TEST_F(ReplayServer, UnmatchedRequestGets599WithTheDifference) {
    ReplaySession s = session();
    ServerOptions o;
    o.no_delay = true;
    Server server(s, o);
    auto port = server.start();
    ASSERT_TRUE(port);
    Client c(*port);
    std::string changed = kAsk;
    changed.replace(changed.find("\"hi\""), 4, "\"ho\"");
    Reply r = c.request("POST", "/v1/messages", changed);
    EXPECT_EQ(r.message.status, 599);
    auto err = nlohmann::json::parse(r.message.body);
    EXPECT_EQ(err["error"]["closest_recorded_exchange"], 1);
    ASSERT_EQ(err["error"]["differences"].size(), 1u);
    EXPECT_EQ(err["error"]["differences"][0], "messages[0].content: 'hi' -> 'ho'  [turn 1, user]");
    // One connection after another (each served by its own thread, reaped as the next comes).
    for (int i = 0; i < 20; ++i) {
        Client again(*port);
        EXPECT_EQ(again.request("GET", "/nothing/" + std::to_string(i), "").message.status, 599);
    }
    EXPECT_EQ(s.requests(), 21u);
    EXPECT_EQ(s.unmatched().size(), 21u);
}

// Bytes that are not HTTP do not take the server down.
TEST_F(ReplayServer, SurvivesGarbage) {
    ReplaySession s = session();
    ServerOptions o;
    o.no_delay = true;
    Server server(s, o);
    auto port = server.start();
    ASSERT_TRUE(port);
    auto raw = [&](const std::string& bytes) {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(*port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        EXPECT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(bytes.size()));
        ::shutdown(fd, SHUT_WR);
        std::string got;
        char buf[4096];
        ssize_t n;
        while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0)  // the server closes the connection
            got.append(buf, static_cast<std::size_t>(n));
        ::close(fd);
        return got;
    };
    EXPECT_TRUE(raw("\x01\x02 not http at all\r\n\r\n").starts_with("HTTP/1.1 400"));
    EXPECT_EQ(raw("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\xff\xff\xff\xff\xff\xff")
                  .find("HTTP/1.1"),
              std::string::npos);
    EXPECT_EQ(raw(std::string("\x16\x03\x01\x00\x05hello")),
              "");  // TLS without a certificate: closed
    raw("POST /v1/messages HTTP/1.1\r\nContent-Length: 99999\r\n\r\nshort");  // ends early
    Client c(*port);
    EXPECT_EQ(c.request("POST", "/v1/messages", kAsk).message.status, 200);
}

// SSE spacing follows the recording divided by --speed: compared as a ratio of
// two replays in one run, not against a wall-clock bound.
TEST_F(ReplayServer, SpeedScalesTheEventSpacing) {
    auto timed = [&](double speed) {
        ReplaySession s = session();
        ServerOptions o;
        o.speed = speed;
        Server server(s, o);
        auto port = server.start();
        EXPECT_TRUE(port);
        Client c(*port);
        auto t0 = std::chrono::steady_clock::now();
        Reply r = c.request("POST", "/v1/messages", kAsk);
        auto t1 = std::chrono::steady_clock::now();
        EXPECT_EQ(r.message.body, all_events());
        EXPECT_GE(r.reads, 2u);  // the events came separately
        return std::chrono::duration<double>(t1 - t0).count();
    };
    // At speed 1 the events keep their recorded spacing: never less.
    const double normal = timed(1.0);
    EXPECT_GE(normal, static_cast<double>(kEvents.size() * kEventGapNs) / 1e9);
    // At speed 8 they come 8x closer. A busy machine only adds time to a run, so
    // the quickest of five is the one that shows the spacing (one run at load 15
    // took more than a third of the normal one).
    double fast = timed(8.0);
    for (int i = 0; i < 4; ++i)
        fast = std::min(fast, timed(8.0));
    EXPECT_GT(normal, 3 * fast) << normal << " s at speed 1, " << fast << " s at speed 8";
}

int run_replay(const std::string& args) {
    int status =
        std::system((std::string(CT_REPLAY_BIN) + " " + args + " >/dev/null 2>&1").c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A python client that sends the recorded requests through ANTHROPIC_BASE_URL
// (and trusts the CA through SSL_CERT_FILE when the URL is https).
std::string client(const std::string& question) {
    return fmt::format(
        "/usr/bin/python3 -c '"
        "import http.client, os, ssl, urllib.parse\n"
        "u = urllib.parse.urlparse(os.environ[\"ANTHROPIC_BASE_URL\"])\n"
        "c = http.client.HTTPSConnection(u.hostname, u.port, context=ssl.create_default_context()) "
        "if u.scheme == \"https\" else http.client.HTTPConnection(u.hostname, u.port)\n"
        "c.request(\"POST\", \"/v1/messages\", body=\"{}\", headers={{\"content-type\": "
        "\"application/json\"}})\n"
        "r = c.getresponse(); assert r.status == 200, r.status; r.read()\n"
        "c.request(\"GET\", \"/v1/models?limit=5\"); r = c.getresponse(); r.read()\n"
        "'",
        question);
}

TEST_F(ReplayServer, RunExitStatus) {
    if (::access("/usr/bin/python3", X_OK) != 0)
        GTEST_SKIP() << "no python3";
    std::string q = kAsk;
    std::string escaped;
    for (char ch : q)
        escaped += ch == '"' ? std::string("\\\"") : std::string(1, ch);
    EXPECT_EQ(run_replay("run --no-delay --plain " + capture_ + " -- " + client(escaped)), 0);
    EXPECT_EQ(run_replay("run --no-delay " + capture_ + " -- " + client(escaped)), 0);  // over TLS
    std::string changed = escaped;
    changed.replace(changed.find("hi"), 2, "ho");
    EXPECT_EQ(run_replay("run --no-delay --plain " + capture_ + " -- " + client(changed)), 1);
    // --ignore makes the difference one that does not count (and the option takes one value).
    EXPECT_EQ(run_replay("run --no-delay --plain --ignore 'messages.*.content' " + capture_ +
                         " -- " + client(changed)),
              0);
    // --host keeps the exchanges recorded with that Host only.
    EXPECT_EQ(run_replay("run --no-delay --plain --host api.anthropic.com " + capture_ + " -- " +
                         client(escaped)),
              0);
    EXPECT_EQ(run_replay("run --no-delay --plain --host example.com " + capture_ + " -- " +
                         client(escaped)),
              1);
    EXPECT_EQ(run_replay("run --no-delay --plain " + capture_ + " -- /bin/false"), 1);
    EXPECT_EQ(run_replay("run --speed 2 --no-delay " + capture_ + " -- /bin/true"), 2);
    EXPECT_EQ(run_replay("run --plain " + capture_ + " -- /nonexistent/command"), 3);
    EXPECT_EQ(run_replay("serve"), 2);
    EXPECT_EQ(run_replay("run " + dir_.file("missing.ctz") + " -- /bin/true"), 2);
}

// `ct-replay serve` until SIGTERM: the environment on stdout, the report on stderr.
struct Served {
    int status = -1;
    std::string out;
    std::string err;
};

Served serve_and_ask(const std::string& capture, const std::string& err_file,
                     const std::function<void(std::uint16_t)>& client) {
    int out_pipe[2];
    EXPECT_EQ(::pipe(out_pipe), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addclose(&fa, out_pipe[0]);
    std::vector<std::string> args = {CT_REPLAY_BIN, "serve", "--plain",
                                     "--no-delay",  "-v",    capture};
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    EXPECT_EQ(posix_spawn(&pid, CT_REPLAY_BIN, &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    ::close(out_pipe[1]);
    Served s;
    std::uint16_t port = 0;
    char buf[4096];
    while (port == 0) {  // until the server says where it listens
        ssize_t n = ::read(out_pipe[0], buf, sizeof buf);
        if (n <= 0)
            break;
        s.out.append(buf, static_cast<std::size_t>(n));
        const std::string key = "export ANTHROPIC_BASE_URL=http://127.0.0.1:";
        auto at = s.out.find(key);
        auto nl = at == std::string::npos ? at : s.out.find('\n', at);
        if (nl != std::string::npos)
            port = static_cast<std::uint16_t>(
                std::stoi(s.out.substr(at + key.size(), nl - at - key.size())));
    }
    EXPECT_NE(port, 0) << s.out;
    if (port)
        client(port);
    ::kill(pid, SIGTERM);
    ssize_t n;
    while ((n = ::read(out_pipe[0], buf, sizeof buf)) > 0)
        s.out.append(buf, static_cast<std::size_t>(n));
    ::close(out_pipe[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    s.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream in(err_file);
    std::stringstream ss;
    ss << in.rdbuf();
    s.err = ss.str();
    return s;
}

TEST_F(ReplayServer, ServeReportsOnSigterm) {
    Served all = serve_and_ask(capture_, dir_.file("err1"), [](std::uint16_t port) {
        Client c(port);
        EXPECT_EQ(c.request("POST", "/v1/messages", kAsk).message.status, 200);
        EXPECT_EQ(c.request("GET", "/v1/models?limit=5", "").message.status, 200);
    });
    EXPECT_EQ(all.status, 0) << all.err;
    EXPECT_NE(all.out.find("export OPENAI_BASE_URL=http://127.0.0.1:"), std::string::npos)
        << all.out;
    EXPECT_NE(all.err.find("2 requests, 2 matched, 0 unmatched; 2 of 2 recorded exchanges served"),
              std::string::npos)
        << all.err;
    // -v: each decision as it is taken.
    EXPECT_NE(all.err.find("request 1: POST /v1/messages -> recorded exchange #1 (200)"),
              std::string::npos);

    Served part = serve_and_ask(capture_, dir_.file("err2"), [](std::uint16_t port) {
        Client c(port);
        EXPECT_EQ(c.request("GET", "/v1/models?limit=6", "").message.status, 599);
    });
    EXPECT_EQ(part.status, 1) << part.err;
    EXPECT_NE(part.err.find("not asked #1 POST /v1/messages"), std::string::npos) << part.err;
    EXPECT_NE(part.err.find("request line: 'GET /v1/models?limit=5' -> 'GET /v1/models?limit=6'"),
              std::string::npos)
        << part.err;
}

// HTTP/2 by ALPN: curl multiplexes both requests on one h2 connection.
TEST_F(ReplayServer, Http2WithCurl) {
    if (::access("/usr/bin/curl", X_OK) != 0)
        GTEST_SKIP() << "no curl";
    const std::string out1 = dir_.file("out1"), out2 = dir_.file("out2"),
                      versions = dir_.file("versions");
    // In a script file, so that no quoting stands between the body and curl.
    const std::string script = dir_.file("client.sh");
    {
        std::ofstream f(script);
        f << fmt::format(
            "/usr/bin/curl -sS --http2 -w '%{{http_version}} %{{http_code}}\\n' -H 'content-type: "
            "application/json' "
            "-d '{}' -o {} \"$ANTHROPIC_BASE_URL/v1/messages\" --next --http2 "
            "-w '%{{http_version}} %{{http_code}}\\n' -o {} "
            "\"$ANTHROPIC_BASE_URL/v1/models?limit=5\" > {}\n",
            kAsk, out1, out2, versions);
    }
    int status = std::system((std::string(CT_REPLAY_BIN) + " run " + capture_ + " -- /bin/sh " +
                              script + " >/dev/null 2>&1")
                                 .c_str());
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    auto read = [](const std::string& path) {
        auto bytes = testing::read_file(path);
        return std::string(bytes.begin(), bytes.end());
    };
    EXPECT_EQ(read(versions), "2 200\n2 200\n");
    EXPECT_EQ(read(out1), all_events());
    EXPECT_EQ(read(out2), gzip(kModels));
}

// From a ct-analyze database: the same exchanges, bodies decoded (so served
// without their Content-Encoding), SSE split at the same events with the same times.
TEST_F(ReplayServer, FromTheAnalyzerDatabase) {
    const std::string db = dir_.file("sessions.db");
    ASSERT_EQ(std::system((std::string(CT_ANALYZE_BIN) + " --quiet --no-progress --db " + db + " " +
                           capture_ + " >/dev/null 2>&1")
                              .c_str()),
              0);
    auto from_file = load_recording(capture_);
    auto from_db = load_recording_from_db(db, "");
    ASSERT_TRUE(from_file && from_db) << (from_db ? "" : from_db.error().what());
    ASSERT_EQ(from_db->exchanges.size(), from_file->exchanges.size());
    for (std::size_t i = 0; i < from_db->exchanges.size(); ++i) {
        const auto& a = from_file->exchanges[i];
        const auto& b = from_db->exchanges[i];
        EXPECT_EQ(b.method + " " + b.target, a.method + " " + a.target);
        EXPECT_EQ(b.request_body, a.request_body);
        EXPECT_EQ(b.status, a.status);
        EXPECT_EQ(b.sse, a.sse);
        if (a.sse) {
            ASSERT_EQ(b.chunks.size(), a.chunks.size());
            for (std::size_t c = 0; c < a.chunks.size(); ++c) {
                EXPECT_EQ(b.chunks[c].bytes, a.chunks[c].bytes);
                EXPECT_EQ(b.chunks[c].delay_ns, a.chunks[c].delay_ns);
            }
        }
        EXPECT_EQ(b.response_delay_ns, a.response_delay_ns);
    }
    const auto& models = from_db->exchanges[1];
    ASSERT_EQ(models.chunks.size(), 1u);
    EXPECT_EQ(models.chunks[0].bytes, kModels);
    for (const auto& h : models.headers)
        EXPECT_FALSE(http1::iequals(h.name, "Content-Encoding"));
    EXPECT_FALSE(load_recording_from_db(db, "no-such-uuid"));
    // One conversation: only its LLM calls (not the GET of the model list), the same
    // exchanges as in the whole capture.
    {
        auto conn = analyze::sqlite::Database::open(db, analyze::sqlite::Database::Mode::ReadOnly);
        ASSERT_TRUE(conn);
        auto st = conn->prepare(
            "SELECT conversation, calls FROM v_llm_conversations ORDER BY calls DESC LIMIT 1");
        ASSERT_TRUE(st);
        auto row = st->step();
        ASSERT_TRUE(row && *row) << "the capture holds no LLM conversation";
        const std::string key(st->column_text(0));
        const auto calls = static_cast<std::size_t>(st->column_int64(1));
        auto one = load_recording_from_db(db, "", key);
        ASSERT_TRUE(one) << one.error().what();
        ASSERT_EQ(one->exchanges.size(), calls);
        for (const auto& x : one->exchanges)
            EXPECT_EQ(x.method, "POST") << x.target;
        auto lower = key;
        for (auto& ch : lower)
            ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        ASSERT_TRUE(load_recording_from_db(db, "", lower));  // either case
        EXPECT_FALSE(load_recording_from_db(db, "", "00FF"));
    }
    if (::access("/usr/bin/python3", X_OK) == 0) {
        std::string escaped;
        for (char ch : kAsk)
            escaped += ch == '"' ? std::string("\\\"") : std::string(1, ch);
        EXPECT_EQ(run_replay("run --no-delay --db " + db + " -- " + client(escaped)), 0);
    }
}

}  // namespace
}  // namespace ct::replay::serve
