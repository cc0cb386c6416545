// record-bench-gnutls-workload: the GnuTLS twin of record-bench-workload's per-call
// mode. A GnuTLS client and server in one thread, connected by in-memory transport
// functions (no syscalls), so that what a pair costs is GnuTLS plus the probes.
//
// Commands on stdin, one answer line each:
//     run N SIZE   N pairs of gnutls_record_send by the client until SIZE bytes are
//                  sent (one call per TLS record, <= 16 KiB) + gnutls_record_recv by
//                  the server until SIZE bytes arrived
//                  -> "ok ns_per_pair=X cpu_ns_per_pair=C sends_per_pair=S reads_per_pair=Y"
//     quit
// Prints "ready pid=PID" once the handshake is done. PSK credentials: no certificate.
#include <gnutls/gnutls.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace {

std::uint64_t now_ns(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

// One direction of the in-memory connection: bytes[head..] are unread.
struct Pipe {
    std::vector<unsigned char> bytes;
    size_t head = 0;
};

struct Endpoint {
    Pipe* in = nullptr;
    Pipe* out = nullptr;
    gnutls_session_t session = nullptr;
};

ssize_t push(gnutls_transport_ptr_t ptr, const void* data, size_t len) {
    auto* e = static_cast<Endpoint*>(ptr);
    const auto* p = static_cast<const unsigned char*>(data);
    if (e->out->head == e->out->bytes.size()) {
        e->out->bytes.clear();
        e->out->head = 0;
    }
    e->out->bytes.insert(e->out->bytes.end(), p, p + len);
    return static_cast<ssize_t>(len);
}

ssize_t pull(gnutls_transport_ptr_t ptr, void* data, size_t len) {
    auto* e = static_cast<Endpoint*>(ptr);
    const size_t avail = e->in->bytes.size() - e->in->head;
    if (avail == 0) {
        gnutls_transport_set_errno(e->session, EAGAIN);
        return -1;
    }
    const size_t n = std::min(len, avail);
    std::memcpy(data, e->in->bytes.data() + e->in->head, n);
    e->in->head += n;
    return static_cast<ssize_t>(n);
}

void check(int rc, const char* what) {
    if (rc < 0)
        throw std::runtime_error(fmt::format("{}: {}", what, gnutls_strerror(rc)));
}

const unsigned char kKey[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

int server_key(gnutls_session_t, const char*, gnutls_datum_t* key) {
    key->data = static_cast<unsigned char*>(gnutls_malloc(sizeof kKey));
    if (!key->data)
        return -1;
    std::memcpy(key->data, kKey, sizeof kKey);
    key->size = sizeof kKey;
    return 0;
}

class Pair {
  public:
    Pair() {
        check(gnutls_psk_allocate_client_credentials(&client_cred_), "client credentials");
        const gnutls_datum_t key{const_cast<unsigned char*>(kKey), sizeof kKey};
        check(gnutls_psk_set_client_credentials(client_cred_, "bench", &key, GNUTLS_PSK_KEY_RAW),
              "client key");
        check(gnutls_psk_allocate_server_credentials(&server_cred_), "server credentials");
        gnutls_psk_set_server_credentials_function(server_cred_, server_key);
        client_.in = &to_client_;
        client_.out = &to_server_;
        server_.in = &to_server_;
        server_.out = &to_client_;
        setup(client_, GNUTLS_CLIENT);
        setup(server_, GNUTLS_SERVER);
        bool client_done = false, server_done = false;
        for (int i = 0; i < 1000 && !(client_done && server_done); ++i) {
            if (!client_done)
                client_done = step(gnutls_handshake(client_.session), "client handshake");
            if (!server_done)
                server_done = step(gnutls_handshake(server_.session), "server handshake");
        }
        if (!client_done || !server_done)
            throw std::runtime_error("handshake did not finish");
    }
    ~Pair() {
        gnutls_deinit(client_.session);
        gnutls_deinit(server_.session);
        gnutls_psk_free_client_credentials(client_cred_);
        gnutls_psk_free_server_credentials(server_cred_);
    }
    Pair(const Pair&) = delete;
    Pair& operator=(const Pair&) = delete;

    std::string run(long pairs, size_t size) {
        std::vector<unsigned char> out(size), in(size);
        for (size_t i = 0; i < size; ++i)
            out[i] = static_cast<unsigned char>(i * 7);
        std::uint64_t sends = 0, reads = 0;
        const std::uint64_t wall0 = now_ns(CLOCK_MONOTONIC);
        const std::uint64_t cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
        for (long p = 0; p < pairs; ++p) {
            for (size_t off = 0; off < size;) {
                ssize_t n = gnutls_record_send(client_.session, out.data() + off, size - off);
                check(static_cast<int>(n), "gnutls_record_send");
                off += static_cast<size_t>(n);
                ++sends;
            }
            for (size_t got = 0; got < size;) {
                ssize_t n = gnutls_record_recv(server_.session, in.data() + got, size - got);
                check(static_cast<int>(n), "gnutls_record_recv");
                if (n == 0)
                    throw std::runtime_error("unexpected end of stream");
                got += static_cast<size_t>(n);
                ++reads;
            }
        }
        const double cpu = static_cast<double>(now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0);
        const double wall = static_cast<double>(now_ns(CLOCK_MONOTONIC) - wall0);
        const double n = static_cast<double>(pairs);
        return fmt::format(
            "ok ns_per_pair={:.1f} cpu_ns_per_pair={:.1f} sends_per_pair={:.2f} "
            "reads_per_pair={:.2f}",
            wall / n, cpu / n, static_cast<double>(sends) / n, static_cast<double>(reads) / n);
    }

  private:
    void setup(Endpoint& e, unsigned flags) {
        check(gnutls_init(&e.session, flags | GNUTLS_NONBLOCK), "gnutls_init");
        check(gnutls_priority_set_direct(e.session, "NORMAL:+ECDHE-PSK:+PSK", nullptr), "priority");
        check(gnutls_credentials_set(e.session, GNUTLS_CRD_PSK,
                                     flags & GNUTLS_CLIENT ? static_cast<void*>(client_cred_)
                                                           : static_cast<void*>(server_cred_)),
              "credentials");
        gnutls_transport_set_ptr(e.session, &e);
        gnutls_transport_set_push_function(e.session, push);
        gnutls_transport_set_pull_function(e.session, pull);
    }
    static bool step(int rc, const char* what) {
        if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
            return false;
        check(rc, what);
        return true;
    }

    Pipe to_client_, to_server_;
    Endpoint client_, server_;
    gnutls_psk_client_credentials_t client_cred_ = nullptr;
    gnutls_psk_server_credentials_t server_cred_ = nullptr;
};

}  // namespace

int main() {
    try {
        check(gnutls_global_init(), "gnutls_global_init");
        Pair pair;
        std::cout << "ready pid=" << ::getpid() << std::endl;
        for (std::string line; std::getline(std::cin, line);) {
            std::istringstream words(line);
            std::string cmd;
            words >> cmd;
            if (cmd == "quit")
                break;
            try {
                long pairs = 0;
                size_t size = 0;
                if (cmd != "run" || !(words >> pairs >> size) || pairs <= 0 || size == 0 ||
                    size > (4u << 20))
                    throw std::runtime_error("usage: run N SIZE (SIZE <= 4 MiB)");
                std::cout << pair.run(pairs, size) << std::endl;
            } catch (const std::exception& e) {
                std::cout << "error " << e.what() << std::endl;
            }
        }
    } catch (const std::exception& e) {
        std::cerr << "record-bench-gnutls-workload: " << e.what() << "\n";
        return 1;
    }
    gnutls_global_deinit();
    return 0;
}
