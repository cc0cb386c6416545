#include "unseen_traffic.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "status_line.hpp"
#include "util/unique_fd.hpp"

namespace ct::record {

namespace {

// The bytes of a file, mapped read-only (empty if it cannot be read).
class MappedBytes {
  public:
    explicit MappedBytes(const std::string& path) {
        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        struct stat st {};
        if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
            return;
        void* p = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE,
                         fd.get(), 0);
        if (p == MAP_FAILED)
            return;
        data_ = static_cast<const char*>(p);
        size_ = static_cast<std::size_t>(st.st_size);
    }
    ~MappedBytes() {
        if (data_)
            ::munmap(const_cast<char*>(data_), size_);
    }
    MappedBytes(const MappedBytes&) = delete;
    MappedBytes& operator=(const MappedBytes&) = delete;

    bool contains(std::string_view needle) const {
        return data_ && std::string_view(data_, size_).find(needle) != std::string_view::npos;
    }
    bool is_elf() const {
        static constexpr char kElfMagic[4] = {0x7f, 'E', 'L', 'F'};
        return size_ >= 4 && std::memcmp(data_, kElfMagic, 4) == 0;
    }

  private:
    const char* data_ = nullptr;
    std::size_t size_ = 0;
};

std::string basename_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string unprobed_tls_reason(const std::string& exe_path) {
    if (exe_path.empty())
        return {};
    std::string base = basename_of(exe_path);
    if (base == "java")
        return "a Java program: Java's TLS (JSSE) is not supported";
    MappedBytes file(exe_path);
    if (!file.is_elf())
        return {};
    // Ordered from the most specific evidence to the least.
    if (file.contains("\xff Go buildinf:"))
        return "a Go program: not TLS through crypto/tls.(*Conn), or a Go build whose "
               "crypto/tls could not be probed (see ct-record --probe-report)";
    if (file.contains("libgnutls.so"))
        return "it uses GnuTLS, whose gnutls_record_send/recv are probed: plain TCP, or TLS "
               "outside them (kTLS sendfile, gnutls_record_recv_packet)";
    if (file.contains("libjvm.so"))
        return "a Java program: Java's TLS (JSSE) is not supported";
    if (file.contains("libnss3.so"))
        return "it uses NSS, which is not supported";
    if (file.contains("rustls"))
        return "it contains rustls, which is not supported";
    return {};
}

std::string tcp_peer_text(const ct_tcp_event& ev) {
    static const std::uint8_t kV4Mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char buf[INET6_ADDRSTRLEN] = {};
    if (std::memcmp(ev.remote_addr, kV4Mapped, 12) == 0) {
        inet_ntop(AF_INET, ev.remote_addr + 12, buf, sizeof buf);
        return fmt::format("{}:{}", buf, ev.remote_port);
    }
    inet_ntop(AF_INET6, ev.remote_addr, buf, sizeof buf);
    return fmt::format("[{}]:{}", buf, ev.remote_port);
}

void UnseenTraffic::on_event(std::span<const std::uint8_t> event) {
    auto h = abi::read_header(event);
    if (!h)
        return;
    switch (h->type) {
        case CT_EVENT_TCP: {
            auto ev = *abi::read_struct<ct_tcp_event>(event);
            if (!(ev.flags & CT_TCP_TLS_SEEN) && ev.bytes_sent + ev.bytes_received > 0)
                unseen_[h->pid].push_back(ev);
            break;
        }
        case CT_EVENT_CONN: {
            auto ev = *abi::read_struct<ct_conn_event>(event);
            if (ev.kind == CT_CONN_OPEN)
                tls_gens_[h->pid].insert(ev.conn_gen);
            break;
        }
        case CT_EVENT_DATA: {
            auto ev = *abi::read_struct<ct_data_event>(event);
            data_gens_[h->pid].insert(ev.conn_gen);
            break;
        }
        case CT_EVENT_SOCKET: {
            auto ev = *abi::read_struct<ct_socket_event>(event);
            if (ev.ssl != 0)
                gens_with_socket_.insert(ev.conn_gen);
            break;
        }
        case CT_EVENT_EXEC: {
            auto ev = *abi::read_struct<ct_exec_event>(event);
            exe_[h->pid].assign(ev.filename, strnlen(ev.filename, sizeof ev.filename));
            break;
        }
        case CT_EVENT_FORK: {
            auto ev = *abi::read_struct<ct_fork_event>(event);
            if (auto it = exe_.find(h->pid); it != exe_.end() && !exe_.contains(ev.child_pid))
                exe_[ev.child_pid] = it->second;
            break;
        }
        default:
            break;
    }
}

void UnseenTraffic::note_exe(pid_t pid, const std::string& exe) {
    if (!exe.empty())
        exe_[static_cast<std::uint32_t>(pid)] = exe;
}

void UnseenTraffic::note_late_probes(pid_t pid, const std::string& path) {
    late_probes_[static_cast<std::uint32_t>(pid)] = path;
}

void UnseenTraffic::note_unprobed_tls(pid_t pid, const std::string& path, const std::string& what) {
    std::string why = fmt::format(
        "{} contains {}, which ct does not probe: TLS through rustls is not recorded", path, what);
    if (pid != 0)
        unprobed_by_pid_.emplace(static_cast<std::uint32_t>(pid), why);
    unprobed_by_path_.emplace(path, std::move(why));
}

std::size_t UnseenTraffic::unseen_connections() const {
    std::size_t n = 0;
    for (const auto& [pid, list] : unseen_)
        n += list.size();
    return n;
}

std::vector<std::string> UnseenTraffic::report_lines() const {
    std::vector<std::string> out;
    for (const auto& [pid, list] : unseen_) {
        std::vector<std::string> peers;
        std::uint64_t sent = 0, received = 0;
        for (const auto& ev : list) {
            std::string peer = fmt::format("{} {}", ev.origin == CT_TCP_FROM_ACCEPT ? "from" : "to",
                                           tcp_peer_text(ev));
            if (std::find(peers.begin(), peers.end(), peer) == peers.end())
                peers.push_back(std::move(peer));
            sent += ev.bytes_sent;
            received += ev.bytes_received;
        }
        std::string peer_text;
        for (std::size_t i = 0; i < peers.size() && i < 3; ++i)
            peer_text += (i ? ", " : "") + peers[i];
        if (peers.size() > 3)
            peer_text += fmt::format(" and {} more", peers.size() - 3);
        auto exe_it = exe_.find(pid);
        std::string exe = exe_it != exe_.end() ? exe_it->second : std::string("(unknown program)");
        std::string why;
        if (auto u = unprobed_by_pid_.find(pid); u != unprobed_by_pid_.end())
            why = u->second;
        else if (auto p = unprobed_by_path_.find(exe); p != unprobed_by_path_.end())
            why = p->second;
        else if (exe_it != exe_.end())
            why = unprobed_tls_reason(exe);
        if (auto late = late_probes_.find(pid); why.empty() && late != late_probes_.end()) {
            why = fmt::format(
                "its probes on {} came late: TLS it did before them is not in the capture",
                late->second);
        }
        if (why.empty())
            why = "plain TCP, or TLS in a library ct does not probe";
        std::string line = fmt::format(
            "pid {} {}: {} connection{} {} that no probe could read ({}; {} sent, {} "
            "received)",
            pid, exe, list.size(), list.size() == 1 ? "" : "s", peer_text, why, human_bytes(sent),
            human_bytes(received));
        // A TLS connection whose socket was never found may be among these.
        std::size_t without_socket = 0;
        if (auto it = tls_gens_.find(pid); it != tls_gens_.end()) {
            for (auto gen : it->second)
                without_socket += gens_with_socket_.contains(gen) ? 0 : 1;
        }
        if (without_socket > 0) {
            line += fmt::format(
                "; {} TLS connection{} of this process had no known socket and may be among them",
                without_socket, without_socket == 1 ? "" : "s");
        }
        out.push_back(std::move(line));
    }
    return out;
}

std::vector<std::string> UnseenTraffic::socketless_lines() const {
    std::vector<std::string> out;
    for (const auto& [pid, gens] : data_gens_) {
        std::size_t n = 0;
        for (auto gen : gens)
            n += gens_with_socket_.contains(gen) ? 0 : 1;
        if (n == 0)
            continue;
        auto exe_it = exe_.find(pid);
        out.push_back(fmt::format(
            "pid {} {}: {} of {} TLS connection{} with data have no known socket (none of their "
            "ciphertext was seen going out, and no I/O inside their TLS calls): their addresses "
            "and ports are unknown",
            pid, exe_it != exe_.end() ? exe_it->second : std::string("(unknown program)"), n,
            gens.size(), gens.size() == 1 ? "" : "s"));
    }
    return out;
}

}  // namespace ct::record
