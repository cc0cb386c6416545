// /proc/net/tcp and tcp6 lines become the addresses the BPF side would report.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>

#include "tcp_scan.hpp"

namespace ct::record {
namespace {

const char* kTcp =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode\n"
    "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "12345 1 0000000000000000 100 0 0 10 0\n"
    "   1: 0100007F:A1B2 0A00000A:20FB 01 00000000:00000000 00:00000000 00000000  1000        0 "
    "67890 1 0000000000000000 20 4 30 10 -1\n"
    "   2: garbage\n";

const char* kTcp6 =
    "  sl  local_address                         remote_address                        st "
    "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000001000000:C350 00000000000000000000000001000000:15B3 01 "
    "00000000:00000000 00:00000000 00000000     0        0 424242 1 0000000000000000 20 4 0 10 "
    "-1\n";

TEST(ProcNetTcp, Ipv4) {
    auto socks = parse_proc_net_tcp(kTcp, false);
    ASSERT_EQ(socks.size(), 2u);
    EXPECT_EQ(socks[0].state, 10u);  // listening
    const auto& s = socks[1];
    EXPECT_EQ(s.family, AF_INET);
    EXPECT_EQ(s.state, 1u);
    EXPECT_EQ(s.inode, 67890u);
    EXPECT_EQ(s.local_port, 0xA1B2);
    EXPECT_EQ(s.remote_port, 8443);
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, s.remote_addr + 12, text, sizeof text);
    EXPECT_STREQ(text, "10.0.0.10");
    EXPECT_EQ(s.remote_addr[10], 0xff);
    EXPECT_EQ(s.remote_addr[11], 0xff);
}

TEST(ProcNetTcp, Ipv6) {
    auto socks = parse_proc_net_tcp(kTcp6, true);
    ASSERT_EQ(socks.size(), 1u);
    const auto& s = socks[0];
    EXPECT_EQ(s.family, AF_INET6);
    EXPECT_EQ(s.remote_port, 5555);
    EXPECT_EQ(s.local_port, 50000);
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, s.remote_addr, text, sizeof text);
    EXPECT_STREQ(text, "::1");
}

}  // namespace
}  // namespace ct::record
