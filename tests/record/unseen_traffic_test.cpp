// ct-record's end summary names TCP traffic no probe read, with the program and,
// when its file tells, why; "nothing lost" only when nothing was lost or unseen.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>

#include "status_line.hpp"
#include "unseen_traffic.hpp"

namespace ct::record {
namespace {

// A file that looks like an ELF binary holding `marker`.
class FakeBinary {
  public:
    explicit FakeBinary(const std::string& marker, const std::string& name = "prog") {
        char dir[] = "/tmp/ct-record-test-XXXXXX";
        dir_ = ::mkdtemp(dir);
        path_ = dir_ + "/" + name;
        std::ofstream f(path_, std::ios::binary);
        f << "\x7f"
             "ELF"
          << std::string(60, '\0') << marker << std::string(16, '\0');
    }
    ~FakeBinary() {
        ::unlink(path_.c_str());
        ::rmdir(dir_.c_str());
    }
    const std::string& path() const { return path_; }

  private:
    std::string dir_, path_;
};

std::span<const std::uint8_t> bytes_of(const auto& ev) {
    return {reinterpret_cast<const std::uint8_t*>(&ev), sizeof ev};
}

ct_tcp_event tcp_event(std::uint32_t pid, std::uint64_t sent, std::uint64_t received,
                       bool tls_seen) {
    ct_tcp_event ev{};
    ev.hdr.type = CT_EVENT_TCP;
    ev.hdr.size = sizeof ev;
    ev.hdr.pid = pid;
    ev.family = AF_INET;
    ev.origin = CT_TCP_FROM_CONNECT;
    ev.end = CT_TCP_END_CLOSE;
    ev.remote_port = 8443;
    ev.remote_addr[10] = ev.remote_addr[11] = 0xff;
    inet_pton(AF_INET, "127.0.0.1", ev.remote_addr + 12);
    ev.bytes_sent = sent;
    ev.bytes_received = received;
    ev.flags = tls_seen ? CT_TCP_TLS_SEEN : 0;
    return ev;
}

TEST(UnseenTraffic, NamesTheProgramThePeerAndWhy) {
    FakeBinary go(std::string("\xff Go buildinf:", 14));
    UnseenTraffic u;
    u.note_exe(42, go.path());
    u.on_event(bytes_of(tcp_event(42, 517, 2150, false)));
    u.on_event(bytes_of(tcp_event(42, 900, 900, true)));  // a probe read this one
    u.on_event(bytes_of(tcp_event(42, 0, 0, false)));     // moved nothing
    EXPECT_EQ(u.unseen_connections(), 1u);
    auto lines = u.report_lines();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0], "pid 42 " + go.path() +
                            ": 1 connection to 127.0.0.1:8443 that no probe could read (a Go "
                            "program: not TLS through crypto/tls.(*Conn), or a Go build whose "
                            "crypto/tls could not be probed (see ct-record --probe-report); 517 "
                            "B sent, 2.1 KiB received)");
}

TEST(UnseenTraffic, ExecFilenameAndForkNameTheProcess) {
    FakeBinary wget("libgnutls.so.30", "wget");
    UnseenTraffic u;
    ct_exec_event exec{};
    exec.hdr.type = CT_EVENT_EXEC;
    exec.hdr.size = sizeof exec;
    exec.hdr.pid = 7;
    std::strncpy(exec.filename, wget.path().c_str(), sizeof exec.filename - 1);
    u.on_event(bytes_of(exec));
    ct_fork_event fork{};
    fork.hdr.type = CT_EVENT_FORK;
    fork.hdr.size = sizeof fork;
    fork.hdr.pid = 7;
    fork.child_pid = 8;
    u.on_event(bytes_of(fork));
    u.on_event(bytes_of(tcp_event(8, 10, 20, false)));
    auto lines = u.report_lines();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find("pid 8 " + wget.path() + ": 1 connection to 127.0.0.1:8443"),
              std::string::npos)
        << lines[0];
    EXPECT_NE(lines[0].find("GnuTLS"), std::string::npos) << lines[0];
}

TEST(UnseenTraffic, TlsConnectionsWithoutSocketAreMentioned) {
    UnseenTraffic u;
    ct_conn_event open{};
    open.hdr.type = CT_EVENT_CONN;
    open.hdr.size = sizeof open;
    open.hdr.pid = 5;
    open.kind = CT_CONN_OPEN;
    open.conn_gen = 3;
    u.on_event(bytes_of(open));
    u.on_event(bytes_of(tcp_event(5, 10, 20, false)));
    auto lines = u.report_lines();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find("(unknown program)"), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("plain TCP, or TLS in a library ct does not probe"), std::string::npos);
    EXPECT_NE(lines[0].find("1 TLS connection of this process had no known socket"),
              std::string::npos)
        << lines[0];
}

// A TLS connection that moved plaintext but was never tied to a socket is reported as
// such (its addresses are unknown, not guessed); one with a SOCKET event is not.
TEST(UnseenTraffic, TlsConnectionsWithDataButNoSocketAreListed) {
    UnseenTraffic u;
    u.note_exe(7, "/usr/bin/node");
    for (std::uint64_t gen : {1, 2, 3}) {
        ct_data_event d{};
        d.hdr.type = CT_EVENT_DATA;
        d.hdr.size = sizeof d;
        d.hdr.pid = 7;
        d.conn_gen = gen;
        u.on_event(bytes_of(d));
    }
    EXPECT_EQ(u.socketless_lines().size(), 1u);
    ct_socket_event sock{};
    sock.hdr.type = CT_EVENT_SOCKET;
    sock.hdr.size = sizeof sock;
    sock.hdr.pid = 7;
    sock.ssl = 0x1000;
    sock.origin = CT_SOCKET_FROM_CIPHERTEXT;
    for (std::uint64_t gen : {1, 3}) {
        sock.conn_gen = gen;
        u.on_event(bytes_of(sock));
    }
    auto lines = u.socketless_lines();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find("pid 7 /usr/bin/node: 1 of 3 TLS connections with data have no "
                            "known socket"),
              std::string::npos)
        << lines[0];
    sock.conn_gen = 2;
    u.on_event(bytes_of(sock));
    EXPECT_TRUE(u.socketless_lines().empty());
    RecordingStats s;
    std::string summary = format_summary(s, "x.ctz", 1.0, {}, lines);
    EXPECT_NE(summary.find("UNKNOWN SOCKET"), std::string::npos) << summary;
    EXPECT_NE(summary.find("    " + lines[0] + "\n"), std::string::npos) << summary;
}

TEST(UnseenTraffic, LateProbesAreGivenAsTheReason) {
    UnseenTraffic u;
    u.note_exe(9, "/nonexistent/agent");
    u.note_late_probes(9, "/nonexistent/agent");
    u.on_event(bytes_of(tcp_event(9, 10, 20, false)));
    auto lines = u.report_lines();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find("its probes on /nonexistent/agent came late"), std::string::npos)
        << lines[0];
}

// rustls found by the locator in a library the process maps (Copilot's runtime.node),
// or in the executable examined before it started (pid 0): named with the file.
TEST(UnseenTraffic, RustlsFromTheLocatorIsGivenAsTheReason) {
    UnseenTraffic u;
    u.note_exe(9, "/opt/copilot/copilot");
    u.note_unprobed_tls(9, "/cache/runtime.node", "rustls-0.23.46");
    u.on_event(bytes_of(tcp_event(9, 10, 20, false)));
    u.note_exe(11, "/opt/codex/codex");
    u.note_unprobed_tls(0, "/opt/codex/codex", "rustls-0.23.46");
    u.on_event(bytes_of(tcp_event(11, 10, 20, false)));
    auto lines = u.report_lines();
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_NE(lines[0].find("/cache/runtime.node contains rustls-0.23.46, which ct does not "
                            "probe: TLS through rustls is not recorded"),
              std::string::npos)
        << lines[0];
    EXPECT_NE(lines[1].find("(/opt/codex/codex contains rustls-0.23.46, which ct does not probe"),
              std::string::npos)
        << lines[1];
}

TEST(UnseenTraffic, ReasonFromTheFile) {
    EXPECT_EQ(unprobed_tls_reason(""), "");
    EXPECT_EQ(unprobed_tls_reason("/nonexistent/prog"), "");
    FakeBinary rust("rustls-0.23.1");
    EXPECT_EQ(unprobed_tls_reason(rust.path()), "it contains rustls, which is not supported");
    FakeBinary plain("nothing to see");
    EXPECT_EQ(unprobed_tls_reason(plain.path()), "");
    FakeBinary java("", "java");
    EXPECT_EQ(unprobed_tls_reason(java.path()),
              "a Java program: Java's TLS (JSSE) is not supported");
}

TEST(Summary, NothingLostOnlyWithoutLossAndUnseenTraffic) {
    RecordingStats s;
    EXPECT_NE(format_summary(s, "x.ctz", 1.0).find("nothing lost"), std::string::npos);
    std::string with_unseen = format_summary(s, "x.ctz", 1.0, {"pid 1 /bin/x: 1 connection"});
    EXPECT_EQ(with_unseen.find("nothing lost"), std::string::npos) << with_unseen;
    EXPECT_NE(with_unseen.find("UNSEEN"), std::string::npos);
    EXPECT_NE(with_unseen.find("    pid 1 /bin/x: 1 connection\n"), std::string::npos);
    s.untracked_tcp = 2;
    std::string untracked = format_summary(s, "x.ctz", 1.0);
    EXPECT_EQ(untracked.find("nothing lost"), std::string::npos) << untracked;
    EXPECT_NE(untracked.find("UNTRACKED: 2 TCP connections"), std::string::npos) << untracked;
    s.untracked_tcp = 0;
    s.lost_events = 1;
    EXPECT_EQ(format_summary(s, "x.ctz", 1.0).find("nothing lost"), std::string::npos);
}

}  // namespace
}  // namespace ct::record
