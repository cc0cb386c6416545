// TCP connections that no TLS probe read (TCP events without TLS_SEEN) reach the
// database, the summary and the timeline; the recorder's warnings reach the summary.
#include <gtest/gtest.h>

#include <cstdio>

#include "analyze_capture.hpp"
#include "capture/capture_contents.hpp"
#include "summary.hpp"
#include "synthetic_capture.hpp"
#include "test_db.hpp"
#include "test_files.hpp"
#include "timeline.hpp"

namespace ct::analyze {
namespace {

const char* kLateProbe =
    "probes on /opt/agent/bin were attached 12.0 ms after pid 300 executed it; TLS traffic it "
    "made before then is not in the capture";

// curl (pid 300) makes one TLS request its probes read; wget (pid 200) talks to the
// same server through GnuTLS (unseen), accepts an IPv6 connection it then leaves open
// at exit (unseen), and opens one that moves nothing (not traffic).
void write_capture(const std::string& path) {
    testing::SyntheticCapture cap(path);
    cap.process(300, 1, "/usr/bin/curl", {"curl", "https://127.0.0.1:8443/"});
    cap.process(200, 1, "/usr/bin/wget", {"wget", "https://127.0.0.1:8443/"});
    cap.note("warning", kLateProbe);
    cap.note("info", "an informational note stays out of the summary");

    auto g = cap.open_connection(300, 0x3000, "curl");
    cap.socket(g, 5, "127.0.0.1", 8443, 41000);
    cap.write(g, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    cap.read(g, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    cap.tcp({.pid = 300,
             .fd = 5,
             .remote_port = 8443,
             .local_port = 41000,
             .sent = 700,
             .received = 900,
             .tls_gen = g});
    cap.close(g);

    cap.advance_ns(5'000'000);
    cap.tcp({.pid = 200,
             .fd = 4,
             .remote_port = 8443,
             .local_port = 42000,
             .sent = 517,
             .received = 2200});
    cap.tcp({.pid = 200, .fd = 7, .remote = "10.0.0.9", .remote_port = 80, .local_port = 43000});
    cap.tcp({.pid = 200,
             .fd = 6,
             .remote = "2001:db8::5",
             .remote_port = 5555,
             .local_port = 9000,
             .origin = CT_TCP_FROM_ACCEPT,
             .end = CT_TCP_END_EXIT,
             .sent = 10,
             .received = 20});
    cap.exit(200, 0);
    cap.exit(300, 0);
    cap.finish();
}

using testing::Db;

TEST(UnseenTraffic, LoadedFromTcpEvents) {
    testing::TempDir dir;
    write_capture(dir.file("s.ctz"));
    auto contents = replay::load_capture(dir.file("s.ctz"));
    ASSERT_TRUE(contents) << contents.error().what();
    ASSERT_EQ(contents->tcp_connections.size(), 4u);
    std::size_t unseen = 0;
    for (const auto& t : contents->tcp_connections)
        unseen += t.unseen() ? 1 : 0;
    EXPECT_EQ(unseen, 2u);
    const auto& curl = contents->tcp_connections[0];
    EXPECT_EQ(curl.pid, 300u);
    EXPECT_TRUE(curl.tls_seen);
    EXPECT_EQ(curl.conn_gen, contents->connections.at(0).conn_gen);
    const auto& accepted = contents->tcp_connections[3];
    EXPECT_EQ(accepted.origin, "accept");
    EXPECT_EQ(accepted.end_reason, "exit");
    EXPECT_EQ(accepted.remote_addr, "2001:db8::5");
    EXPECT_EQ(accepted.remote_port, 5555);
}

TEST(UnseenTraffic, ImportedSummarisedAndOnTheTimeline) {
    testing::TempDir dir;
    const std::string capture = dir.file("s.ctz");
    write_capture(capture);
    auto opened = open_session_database(dir.file("db.sqlite"));
    ASSERT_TRUE(opened) << opened.error().what();
    Db d{std::move(*opened)};
    auto r = import_capture_file(d.db, capture, false);
    ASSERT_TRUE(r) << r.error().what();

    EXPECT_EQ(d.count("SELECT count(*) FROM tcp_connections"), 4);
    EXPECT_EQ(d.count("SELECT count(*) FROM tcp_connections WHERE unseen = 1"), 2);
    EXPECT_EQ(d.count("SELECT count(*) FROM tcp_connections WHERE pid = 200 AND unseen = 1"
                      " AND exe = '/usr/bin/wget' AND remote_addr = '127.0.0.1'"
                      " AND remote_port = 8443 AND bytes_sent = 517 AND bytes_received = 2200"
                      " AND origin = 'connect' AND family = 'ipv4' AND end_reason = 'close'"
                      " AND process_id = (SELECT id FROM processes WHERE pid = 200)"),
              1);
    EXPECT_EQ(d.count("SELECT count(*) FROM tcp_connections WHERE family = 'ipv6' AND unseen = 1"
                      " AND origin = 'accept' AND end_reason = 'exit'"),
              1);
    // The curl socket names its TLS connection.
    EXPECT_EQ(d.count("SELECT count(*) FROM tcp_connections t JOIN connections c"
                      " ON c.conn_gen = t.tls_conn_gen AND c.capture_id = t.capture_id"
                      " WHERE t.pid = 300 AND t.tls_seen = 1 AND t.unseen = 0"),
              1);
    EXPECT_EQ(d.count("SELECT count(*) FROM tcp_connections WHERE bytes_sent + bytes_received = 0"
                      " AND unseen = 0 AND tls_seen = 0"),
              1);
    EXPECT_EQ(
        d.count("SELECT count(*) FROM v_unseen_connections WHERE peer = '[2001:db8::5]:5555'"), 1);

    auto summary = capture_summary(d.db, r->result.capture_id);
    ASSERT_TRUE(summary) << summary.error().what();
    EXPECT_NE(summary->find("Unseen TCP traffic"), std::string::npos) << *summary;
    EXPECT_NE(summary->find("pid 200 /usr/bin/wget: connect to 127.0.0.1:8443  sent 517 B"),
              std::string::npos)
        << *summary;
    EXPECT_NE(summary->find("accept from [2001:db8::5]:5555"), std::string::npos) << *summary;
    EXPECT_EQ(summary->find("10.0.0.9"), std::string::npos) << *summary;
    EXPECT_EQ(summary->find("pid 300 /usr/bin/curl: connect"), std::string::npos) << *summary;
    // The recorder's warnings, not its informational notes.
    EXPECT_NE(summary->find(std::string("warning (recorder): ") + kLateProbe), std::string::npos)
        << *summary;
    EXPECT_EQ(summary->find("informational"), std::string::npos) << *summary;

    auto contents = replay::load_capture(capture);
    ASSERT_TRUE(contents);
    char* buffer = nullptr;
    std::size_t size = 0;
    std::FILE* out = open_memstream(&buffer, &size);
    print_timeline(*contents, {}, out);
    std::fclose(out);
    std::string text(buffer, size);
    std::free(buffer);
    EXPECT_NE(text.find("tcp#2 connect to 127.0.0.1:8443 pid 200 /usr/bin/wget"), std::string::npos)
        << text;
    EXPECT_NE(text.find("tcp#2 end (close): 517 bytes sent, 2200 received; UNSEEN"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("tcp#1 end (close): 700 bytes sent, 900 received; read as conn#1"),
              std::string::npos)
        << text;
}

TEST(UnseenTraffic, NothingUnseenSaysNone) {
    testing::TempDir dir;
    const std::string capture = dir.file("s.ctz");
    {
        testing::SyntheticCapture cap(capture);
        cap.process(300, 1, "/usr/bin/curl", {"curl"});
        auto g = cap.open_connection(300, 0x3000, "curl");
        cap.write(g, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        cap.tcp({.pid = 300, .fd = 5, .sent = 100, .received = 100, .tls_gen = g});
        cap.finish();
    }
    auto opened = open_session_database(dir.file("db.sqlite"));
    ASSERT_TRUE(opened);
    Db d{std::move(*opened)};
    auto r = import_capture_file(d.db, capture, false);
    ASSERT_TRUE(r);
    auto summary = capture_summary(d.db, r->result.capture_id);
    ASSERT_TRUE(summary);
    EXPECT_NE(summary->find("Unseen TCP traffic (connections no TLS probe could read):\n  (none)"),
              std::string::npos)
        << *summary;
    EXPECT_EQ(summary->find("Warnings"), std::string::npos) << *summary;
}

}  // namespace
}  // namespace ct::analyze
