#include "tcp_scan.hpp"

#include <dirent.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace ct::record {

namespace {

constexpr unsigned kTcpListen = 10;

bool parse_hex_u32(std::string_view s, std::uint32_t& out) {
    if (s.empty() || s.size() > 8)
        return false;
    std::uint32_t v = 0;
    for (char c : s) {
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;
        if (d < 0)
            return false;
        v = v << 4 | static_cast<std::uint32_t>(d);
    }
    out = v;
    return true;
}

// "0100007F:1F90" (IPv4) or 32 hex digits ":" port (IPv6). The kernel prints each
// 32-bit word of the address as it lies in memory read as a host-order integer, so
// writing the words back in host order restores the network-order bytes.
bool parse_endpoint(std::string_view text, bool ipv6, std::uint8_t (&addr)[16],
                    std::uint16_t& port) {
    auto colon = text.find(':');
    if (colon == std::string_view::npos)
        return false;
    std::string_view hex = text.substr(0, colon);
    std::uint32_t p = 0;
    if (!parse_hex_u32(text.substr(colon + 1), p) || p > 0xffff)
        return false;
    port = static_cast<std::uint16_t>(p);
    std::memset(addr, 0, sizeof addr);
    if (!ipv6) {
        std::uint32_t word = 0;
        if (hex.size() != 8 || !parse_hex_u32(hex, word))
            return false;
        addr[10] = addr[11] = 0xff;
        std::memcpy(addr + 12, &word, 4);
        return true;
    }
    if (hex.size() != 32)
        return false;
    for (int i = 0; i < 4; ++i) {
        std::uint32_t word = 0;
        if (!parse_hex_u32(hex.substr(static_cast<std::size_t>(i) * 8, 8), word))
            return false;
        std::memcpy(addr + i * 4, &word, 4);
    }
    return true;
}

std::string read_file(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

}  // namespace

std::vector<ProcTcpSocket> parse_proc_net_tcp(const std::string& text, bool ipv6) {
    std::vector<ProcTcpSocket> out;
    std::istringstream lines(text);
    std::string line;
    std::getline(lines, line);  // header
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        std::string sl, local, remote, state, queues, timer, retr, uid, timeout, inode;
        if (!(fields >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >>
              timeout >> inode)) {
            continue;
        }
        ProcTcpSocket s;
        s.family = ipv6 ? AF_INET6 : AF_INET;
        std::uint32_t st = 0;
        if (!parse_endpoint(local, ipv6, s.local_addr, s.local_port) ||
            !parse_endpoint(remote, ipv6, s.remote_addr, s.remote_port) ||
            !parse_hex_u32(state, st)) {
            continue;
        }
        s.state = st;
        char* end = nullptr;
        s.inode = std::strtoull(inode.c_str(), &end, 10);
        if (!end || *end != '\0')
            continue;
        out.push_back(s);
    }
    return out;
}

std::vector<std::pair<ct_tcp_key, ct_tcp_state>> open_tcp_connections(pid_t pid,
                                                                      std::uint64_t now_ns) {
    std::map<std::uint64_t, ProcTcpSocket> by_inode;
    std::string base = "/proc/" + std::to_string(pid);
    for (bool ipv6 : {false, true}) {
        for (const auto& s :
             parse_proc_net_tcp(read_file(base + (ipv6 ? "/net/tcp6" : "/net/tcp")), ipv6)) {
            if (s.state != kTcpListen && s.inode != 0)
                by_inode[s.inode] = s;
        }
    }
    std::vector<std::pair<ct_tcp_key, ct_tcp_state>> out;
    if (by_inode.empty())
        return out;
    DIR* dir = ::opendir((base + "/fd").c_str());
    if (!dir)
        return out;
    while (dirent* d = ::readdir(dir)) {
        char* end = nullptr;
        long fd = std::strtol(d->d_name, &end, 10);
        if (!end || *end != '\0' || d->d_name[0] == '\0')
            continue;
        char target[64] = {};
        std::string link = base + "/fd/" + d->d_name;
        ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
        if (n <= 0 || std::strncmp(target, "socket:[", 8) != 0)
            continue;
        auto it = by_inode.find(std::strtoull(target + 8, nullptr, 10));
        if (it == by_inode.end())
            continue;
        const auto& s = it->second;
        ct_tcp_state st{};
        st.ev.open_ns = now_ns;
        st.ev.fd = static_cast<std::int32_t>(fd);
        st.ev.family = s.family;
        st.ev.local_port = s.local_port;
        st.ev.remote_port = s.remote_port;
        st.ev.origin = CT_TCP_FROM_PROC;
        std::memcpy(st.ev.local_addr, s.local_addr, 16);
        std::memcpy(st.ev.remote_addr, s.remote_addr, 16);
        out.emplace_back(ct_tcp_key{static_cast<std::uint32_t>(pid), st.ev.fd}, st);
    }
    ::closedir(dir);
    return out;
}

}  // namespace ct::record
