// TCP connections a process already has open when ct-record -p starts, from
// /proc, as entries for the BPF map that tracks them (origin CT_TCP_FROM_PROC).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ct_abi.hpp"

namespace ct::record {

// One line of /proc/net/tcp or tcp6, parsed.
struct ProcTcpSocket {
    std::uint16_t family = 0;  // AF_INET or AF_INET6
    std::uint8_t local_addr[16] = {};
    std::uint8_t remote_addr[16] = {};  // IPv4 as IPv4-mapped IPv6
    std::uint16_t local_port = 0;
    std::uint16_t remote_port = 0;
    unsigned state = 0;  // TCP_ESTABLISHED 1, ..., TCP_LISTEN 10
    std::uint64_t inode = 0;
};

// Parses the text of /proc/net/tcp (ipv6 = false) or /proc/net/tcp6; bad lines are skipped.
std::vector<ProcTcpSocket> parse_proc_net_tcp(const std::string& text, bool ipv6);

// The connected TCP sockets (not listening) among pid's file descriptors.
std::vector<std::pair<ct_tcp_key, ct_tcp_state>> open_tcp_connections(pid_t pid,
                                                                      std::uint64_t now_ns);

}  // namespace ct::record
