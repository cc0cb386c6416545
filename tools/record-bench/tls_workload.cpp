// record-bench-workload: the TLS workload that record-bench traces.
//
//   record-bench-workload          reads commands on stdin, answers one line each:
//     run N SIZE          N pairs of SSL_write(SIZE) by a client + SSL_read until SIZE
//                         bytes by a server, both in this thread over an in-memory BIO
//                         pair (no syscalls: only TLS and probe costs count)
//                         -> "ok ns_per_pair=X cpu_ns_per_pair=C reads_per_pair=Y"
//                         (C: this thread's CPU time, which excludes waiting for a CPU)
//     bio N SIZE          N BIO_write(SIZE) calls on a memory BIO (libcrypto, no TLS),
//                         emptied every 64 calls -> "ok ns_per_call=X cpu_ns_per_call=C"
//     connect PORT        TLS client connection to 127.0.0.1:PORT -> "ok"
//     blast SECONDS SIZE  SSL_write(SIZE) on it as fast as possible for SECONDS
//                         -> "ok calls=N bytes=B seconds=S"
//     close               SSL_shutdown and close the connection -> "ok"
//     quit
//   record-bench-workload --sink   TLS server on 127.0.0.1 that reads and discards:
//                         prints "port N", then "closed BYTES" when a connection ends
//
// The bytes written are the stream of bench_pattern.hpp (a call writes the next
// SIZE bytes of it), so record-bench-check can compare a capture with them.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bench_pattern.hpp"
#include "util/unique_fd.hpp"

namespace {

using ct::UniqueFd;
namespace rb = ct::record_bench;

struct SslCtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

[[noreturn]] void die(const std::string& what) {
    std::string detail;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        detail += std::string("; ") + buf;
    }
    throw std::runtime_error(what + detail);
}

std::uint64_t thread_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

std::uint64_t now_ns() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

// A server context with a fresh self-signed P-256 certificate.
CtxPtr make_server_ctx() {
    std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_EC_gen("P-256"));
    std::unique_ptr<X509, X509Free> cert(X509_new());
    if (!key || !cert)
        die("cannot make a key");
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    const char* cn = "localhost";
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                               -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0)
        die("cannot sign the certificate");
    CtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx || SSL_CTX_use_certificate(ctx.get(), cert.get()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1) {
        die("cannot make the server context");
    }
    SSL_CTX_set_num_tickets(ctx.get(), 0);  // nothing for the client to read after the handshake
    return ctx;
}

CtxPtr make_client_ctx() {
    CtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx)
        die("cannot make the client context");
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    return ctx;
}

// Client and server in one thread over a BIO pair.
class MemoryPair {
  public:
    MemoryPair(SSL_CTX* client_ctx, SSL_CTX* server_ctx)
        : client_(SSL_new(client_ctx)), server_(SSL_new(server_ctx)) {
        if (!client_ || !server_)
            die("SSL_new failed");
        BIO *client_bio = nullptr, *server_bio = nullptr;
        // Room for the largest call's records, so one SSL_write never has to wait.
        constexpr std::size_t kBioBytes = rb::kMaxCallBytes + (1u << 20);
        if (BIO_new_bio_pair(&client_bio, kBioBytes, &server_bio, kBioBytes) != 1)
            die("BIO_new_bio_pair failed");
        SSL_set_bio(client_.get(), client_bio, client_bio);
        SSL_set_bio(server_.get(), server_bio, server_bio);
        SSL_set_connect_state(client_.get());
        SSL_set_accept_state(server_.get());
        bool client_done = false, server_done = false;
        for (int i = 0; i < 100 && !(client_done && server_done); ++i) {
            client_done = client_done || SSL_do_handshake(client_.get()) == 1;
            server_done = server_done || SSL_do_handshake(server_.get()) == 1;
        }
        if (!client_done || !server_done)
            die("in-memory handshake failed");
        read_buf_.resize(rb::kMaxCallBytes);
    }

    struct Result {
        double ns_per_pair;      // wall time
        double cpu_ns_per_pair;  // this thread's CPU time (user + system, probes included)
        double reads_per_pair;
    };

    Result run(const std::vector<std::uint8_t>& pattern, std::uint64_t pairs, std::size_t size) {
        std::uint64_t reads = 0;
        std::uint64_t start = now_ns(), cpu_start = thread_cpu_ns();
        for (std::uint64_t i = 0; i < pairs; ++i) {
            const std::uint8_t* src = pattern.data() + offset_;
            offset_ = (offset_ + size) % rb::kPatternBytes;
            int w = SSL_write(client_.get(), src, static_cast<int>(size));
            if (w != static_cast<int>(size))
                die(fmt::format("SSL_write returned {}", w));
            std::size_t got = 0;
            while (got < size) {
                int r = SSL_read(server_.get(), read_buf_.data(), static_cast<int>(size - got));
                if (r <= 0)
                    die(fmt::format("SSL_read returned {}", r));
                got += static_cast<std::size_t>(r);
                ++reads;
            }
        }
        std::uint64_t cpu = thread_cpu_ns() - cpu_start;
        std::uint64_t elapsed = now_ns() - start;
        double n = static_cast<double>(pairs);
        return {static_cast<double>(elapsed) / n, static_cast<double>(cpu) / n,
                static_cast<double>(reads) / n};
    }

  private:
    SslPtr client_, server_;
    std::vector<std::uint8_t> read_buf_;
    std::size_t offset_ = 0;
};

// BIO_write on a memory BIO: libcrypto's BIO_write outside any TLS call, as a program that
// uses libcrypto for something else (PEM, base64, digests through BIO chains) calls it.
struct BioResult {
    double ns_per_call;
    double cpu_ns_per_call;
};

BioResult memory_bio_writes(const std::vector<std::uint8_t>& pattern, std::uint64_t calls,
                            std::size_t size) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    if (!bio)
        die("BIO_new failed");
    std::uint64_t start = now_ns(), cpu_start = thread_cpu_ns();
    for (std::uint64_t i = 0; i < calls; ++i) {
        if (BIO_write(bio.get(), pattern.data(), static_cast<int>(size)) != static_cast<int>(size))
            die("BIO_write failed");
        if (i % 64 == 63)
            (void)BIO_reset(bio.get());
    }
    std::uint64_t cpu = thread_cpu_ns() - cpu_start;
    std::uint64_t elapsed = now_ns() - start;
    double n = static_cast<double>(calls);
    return {static_cast<double>(elapsed) / n, static_cast<double>(cpu) / n};
}

UniqueFd tcp_connect(int port) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        throw std::runtime_error(fmt::format("cannot connect to 127.0.0.1:{}", port));
    return fd;
}

// A TLS client connection over TCP.
class TcpClient {
  public:
    TcpClient(SSL_CTX* ctx, int port) : fd_(tcp_connect(port)), ssl_(SSL_new(ctx)) {
        if (!ssl_ || SSL_set_fd(ssl_.get(), fd_.get()) != 1 || SSL_connect(ssl_.get()) != 1)
            die("TLS connect failed");
    }
    ~TcpClient() { SSL_shutdown(ssl_.get()); }
    TcpClient(const TcpClient&) = delete;
    TcpClient& operator=(const TcpClient&) = delete;

    std::string blast(const std::vector<std::uint8_t>& pattern, double seconds, std::size_t size) {
        std::uint64_t calls = 0, bytes = 0;
        std::uint64_t start = now_ns();
        std::uint64_t deadline = start + static_cast<std::uint64_t>(seconds * 1e9);
        std::uint64_t now = start;
        while (now < deadline) {
            const std::uint8_t* src = pattern.data() + offset_;
            int w = SSL_write(ssl_.get(), src, static_cast<int>(size));
            if (w != static_cast<int>(size))
                die(fmt::format("SSL_write returned {}", w));
            offset_ = (offset_ + size) % rb::kPatternBytes;
            ++calls;
            bytes += size;
            now = now_ns();
        }
        return fmt::format("ok calls={} bytes={} seconds={:.6f}", calls, bytes,
                           static_cast<double>(now - start) / 1e9);
    }

  private:
    UniqueFd fd_;
    SslPtr ssl_;
    std::size_t offset_ = 0;
};

int command_loop() {
    auto pattern = rb::make_pattern();
    CtxPtr client_ctx = make_client_ctx(), server_ctx = make_server_ctx();
    MemoryPair pair(client_ctx.get(), server_ctx.get());
    std::unique_ptr<TcpClient> tcp;
    std::cout << "ready pid=" << ::getpid() << std::endl;
    for (std::string line; std::getline(std::cin, line);) {
        std::istringstream in(line);
        std::string cmd;
        in >> cmd;
        try {
            if (cmd == "run") {
                std::uint64_t n = 0;
                std::size_t size = 0;
                in >> n >> size;
                if (n == 0 || size == 0 || size > rb::kMaxCallBytes)
                    throw std::runtime_error("usage: run N SIZE (SIZE <= 4 MiB)");
                auto r = pair.run(pattern, n, size);
                std::cout << fmt::format(
                                 "ok ns_per_pair={:.1f} cpu_ns_per_pair={:.1f} "
                                 "reads_per_pair={:.2f}",
                                 r.ns_per_pair, r.cpu_ns_per_pair, r.reads_per_pair)
                          << std::endl;
            } else if (cmd == "bio") {
                std::uint64_t n = 0;
                std::size_t size = 0;
                in >> n >> size;
                if (n == 0 || size == 0 || size > rb::kMaxCallBytes)
                    throw std::runtime_error("usage: bio N SIZE (SIZE <= 4 MiB)");
                auto r = memory_bio_writes(pattern, n, size);
                std::cout << fmt::format("ok ns_per_call={:.1f} cpu_ns_per_call={:.1f}",
                                         r.ns_per_call, r.cpu_ns_per_call)
                          << std::endl;
            } else if (cmd == "connect") {
                int port = 0;
                in >> port;
                tcp = std::make_unique<TcpClient>(client_ctx.get(), port);
                std::cout << "ok" << std::endl;
            } else if (cmd == "blast") {
                double seconds = 0;
                std::size_t size = 0;
                in >> seconds >> size;
                if (!tcp || seconds <= 0 || size == 0 || size > rb::kMaxCallBytes)
                    throw std::runtime_error("usage: connect PORT, then blast SECONDS SIZE");
                std::cout << tcp->blast(pattern, seconds, size) << std::endl;
            } else if (cmd == "close") {
                tcp.reset();
                std::cout << "ok" << std::endl;
            } else if (cmd == "quit") {
                break;
            } else {
                throw std::runtime_error("unknown command: " + cmd);
            }
        } catch (const std::exception& e) {
            std::cout << "error " << e.what() << std::endl;
        }
    }
    return 0;
}

// Reads and discards; one thread per connection.
int sink() {
    CtxPtr ctx = make_server_ctx();
    UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    int one = 1;
    ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener.get(), 16) != 0 ||
        ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        throw std::runtime_error("cannot listen");
    }
    std::cout << "port " << ntohs(addr.sin_port) << std::endl;
    std::mutex out_mutex;
    for (;;) {
        int c = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        std::thread([conn = UniqueFd(c), &ctx, &out_mutex]() {
            SslPtr ssl(SSL_new(ctx.get()));
            std::uint64_t bytes = 0;
            if (ssl && SSL_set_fd(ssl.get(), conn.get()) == 1 && SSL_accept(ssl.get()) == 1) {
                std::vector<std::uint8_t> buf(1u << 16);
                int r;
                while ((r = SSL_read(ssl.get(), buf.data(), static_cast<int>(buf.size()))) > 0)
                    bytes += static_cast<std::uint64_t>(r);
            }
            std::lock_guard lock(out_mutex);
            std::cout << "closed " << bytes << std::endl;
        }).detach();
    }
}

}  // namespace

int main(int argc, char** argv) {
    try {
        if (argc > 1 && std::string(argv[1]) == "--sink")
            return sink();
        if (argc > 1) {
            std::cerr << "usage: record-bench-workload [--sink] (commands on stdin, see source)\n";
            return 2;
        }
        return command_loop();
    } catch (const std::exception& e) {
        std::cerr << "record-bench-workload: " << e.what() << "\n";
        return 1;
    }
}
