#include "server/http_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "connection_decoder.hpp"
#include "protocols/http1/parse.hpp"
#include "server/http2_server.hpp"

namespace ct::replay::serve {
namespace {

namespace http1 = analyze::http1;

// Requests bigger than this are refused (413).
constexpr std::size_t kMaxRequest = 256u << 20;

struct SslCtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
};

class Fd {
  public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    ~Fd() { reset(); }
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    int get() const { return fd_; }
    void reset() {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = -1;
    }

  private:
    int fd_;
};

// The bytes of one client connection, plain or TLS.
class Channel {
  public:
    Channel(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}
    // > 0 bytes read, 0 closed, < 0 error.
    long read(char* buf, std::size_t len) {
        if (ssl_) {
            std::size_t got = 0;
            return SSL_read_ex(ssl_.get(), buf, len, &got) == 1 ? static_cast<long>(got) : 0;
        }
        while (true) {
            ssize_t n = ::recv(fd_, buf, len, 0);
            if (n < 0 && errno == EINTR)
                continue;
            return n;
        }
    }
    bool write(std::string_view data) {
        while (!data.empty()) {
            if (ssl_) {
                std::size_t done = 0;
                if (SSL_write_ex(ssl_.get(), data.data(), data.size(), &done) != 1)
                    return false;
                data.remove_prefix(done);
                continue;
            }
            ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return false;
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }
    bool buffered() const { return ssl_ && SSL_pending(ssl_.get()) > 0; }
    bool is_h2() const {
        if (!ssl_)
            return false;
        const unsigned char* proto = nullptr;
        unsigned int len = 0;
        SSL_get0_alpn_selected(ssl_.get(), &proto, &len);
        return len == 2 && proto[0] == 'h' && proto[1] == '2';
    }
    int fd() const { return fd_; }
    void close_notify() {
        if (ssl_)
            SSL_shutdown(ssl_.get());
    }

  private:
    int fd_;
    std::unique_ptr<SSL, SslFree> ssl_;
};

std::string reason_for(int status, const std::string& recorded) {
    if (!recorded.empty())
        return recorded;
    switch (status) {
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 204:
            return "No Content";
        case 304:
            return "Not Modified";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 429:
            return "Too Many Requests";
        case 500:
            return "Internal Server Error";
        case 529:
            return "Overloaded";
        default:
            return "Status";
    }
}

std::string chunk(std::string_view bytes) {
    return fmt::format("{:x}\r\n", bytes.size()).append(bytes).append("\r\n");
}

}  // namespace

struct Server::Impl {
    ReplaySession& session;
    ServerOptions options;
    Fd listen_fd;
    Fd wake_read, wake_write;
    std::unique_ptr<SSL_CTX, SslCtxFree> ssl_ctx;
    std::thread acceptor;
    std::mutex mutex;
    std::condition_variable stop_cv;
    bool stopping = false;
    std::set<int> open_fds;
    std::map<std::uint64_t, std::thread> workers;  // one per connection
    std::vector<std::uint64_t> finished;           // workers done, to be joined
    std::uint64_t next_worker = 0;

    Impl(ReplaySession& s, ServerOptions o) : session(s), options(std::move(o)) {}

    void log(const std::string& line) {
        if (options.log)
            options.log(line);
    }

    // Waits `ns` (scaled by --speed); false if the server is stopping.
    bool pause(std::uint64_t ns) {
        std::unique_lock lock(mutex);
        if (options.no_delay || ns == 0)
            return !stopping;
        const auto wait = std::chrono::nanoseconds(
            static_cast<std::int64_t>(static_cast<double>(ns) / options.speed));
        stop_cv.wait_for(lock, wait, [&] { return stopping; });
        return !stopping;
    }

    void accept_loop() {
        while (true) {
            pollfd fds[2] = {{listen_fd.get(), POLLIN, 0}, {wake_read.get(), POLLIN, 0}};
            if (::poll(fds, 2, -1) < 0) {
                if (errno == EINTR)
                    continue;
                return;
            }
            if (fds[1].revents)
                return;
            int fd = ::accept4(listen_fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0)
                continue;
            std::unique_lock lock(mutex);
            if (stopping) {
                ::close(fd);
                return;
            }
            for (std::uint64_t id : finished) {  // they hold no lock any more: joining is quick
                workers[id].join();
                workers.erase(id);
            }
            finished.clear();
            open_fds.insert(fd);
            const std::uint64_t id = next_worker++;
            workers.emplace(id, std::thread([this, fd, id] { serve_connection(fd, id); }));
        }
    }

    void serve_connection(int fd, std::uint64_t id) {
        {
            bool ok = false;
            Channel channel = open_channel(fd, ok);
            if (ok) {
                exchange_loop(channel);
                channel.close_notify();
            }
        }
        {
            std::unique_lock lock(mutex);
            open_fds.erase(fd);  // before the number can be reused
            finished.push_back(id);
        }
        ::close(fd);
    }

    Channel open_channel(int fd, bool& ok) {
        char first = 0;
        ssize_t n;
        do {
            n = ::recv(fd, &first, 1, MSG_PEEK);
        } while (n < 0 && errno == EINTR);
        if (n <= 0)
            return Channel(fd, nullptr);
        if (first != 0x16) {  // not a TLS handshake record: plain HTTP
            ok = true;
            return Channel(fd, nullptr);
        }
        if (!ssl_ctx) {
            log("a client started TLS but the server has no certificate (--plain)");
            return Channel(fd, nullptr);
        }
        SSL* ssl = SSL_new(ssl_ctx.get());
        if (!ssl)
            return Channel(fd, nullptr);
        Channel channel(fd, ssl);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) != 1) {
            char err[256];
            ERR_error_string_n(ERR_get_error(), err, sizeof err);
            log(fmt::format("TLS handshake failed: {}", err));
            ERR_clear_error();
            return channel;
        }
        if (channel.is_h2())
            log("TLS connection speaks HTTP/2 (ALPN h2)");
        ok = true;
        return channel;
    }

    // HTTP/2 on this connection; `early` holds bytes already read from it.
    void http2(Channel& channel, std::string early) {
        Http2Io io;
        io.fd = channel.fd();
        io.read = [&](char* out, std::size_t len) -> long {
            if (!early.empty()) {
                const std::size_t n = std::min(len, early.size());
                std::memcpy(out, early.data(), n);
                early.erase(0, n);
                return static_cast<long>(n);
            }
            return channel.read(out, len);
        };
        io.write = [&](std::string_view data) { return channel.write(data); };
        io.buffered = [&] { return !early.empty() || channel.buffered(); };
        Http2Context ctx{session, options.speed, options.no_delay,
                         [this] {
                             std::unique_lock lock(mutex);
                             return stopping;
                         },
                         [this](const std::string& line) { log(line); }};
        serve_http2(io, ctx);
    }

    void exchange_loop(Channel& channel) {
        if (channel.is_h2())
            return http2(channel, {});
        std::string buf;
        bool sent_continue = false;
        char tmp[65536];
        while (true) {
            if (buf.size() >= 24 && http1::is_http2_preface(buf))  // h2c with prior knowledge
                return http2(channel, std::move(buf));
            http1::Message request;
            http1::ParseContext ctx;
            auto r = http1::parse_frame(http1::MessageKind::Request, buf, ctx, request);
            if (r.state == analyze::ParseState::Invalid) {
                channel.write(
                    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                log("a request that is not HTTP/1.x: connection closed");
                return;
            }
            if (r.state == analyze::ParseState::NeedsMoreData) {
                if (request.head_parsed && !sent_continue &&
                    request.has_token("Expect", "100-continue")) {
                    sent_continue = true;
                    if (!channel.write("HTTP/1.1 100 Continue\r\n\r\n"))
                        return;
                }
                if (buf.size() > kMaxRequest) {
                    channel.write(
                        "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: "
                        "close\r\n\r\n");
                    return;
                }
                long n = channel.read(tmp, sizeof tmp);
                if (n <= 0)
                    return;
                buf.append(tmp, static_cast<std::size_t>(n));
                continue;
            }
            buf.erase(0, r.consumed);
            sent_continue = false;
            if (!respond(channel, request))
                return;
        }
    }

    // False when the connection must close.
    bool respond(Channel& channel, http1::Message& request) {
        const bool close = request.has_token("Connection", "close") || request.version_minor == 0;
        analyze::DecodedBody body = analyze::decode_message_body(request);
        Answer a = session.answer(request.method, request.target, body.bytes);
        std::string head;
        if (!a.exchange) {
            head = fmt::format(
                "HTTP/1.1 599 ct-replay: no recorded exchange matches\r\nContent-Type: "
                "application/json\r\n"
                "x-should-retry: false\r\nContent-Length: {}\r\n{}\r\n",
                a.error_body.size(), close ? "Connection: close\r\n" : "");
            return channel.write(head + a.error_body) && !close;
        }
        const RecordedExchange& x = *a.exchange;
        if (!pause(x.response_delay_ns))
            return false;
        head = fmt::format("HTTP/1.1 {} {}\r\n", x.status, reason_for(x.status, x.reason));
        for (const auto& h : x.headers)
            head += fmt::format("{}: {}\r\n", h.name, h.value);
        const bool no_body = http1::iequals(request.method, "HEAD") || x.status < 200 ||
                             x.status == 204 || x.status == 304;
        const bool stream = x.sse && !no_body;
        std::size_t total = 0;
        for (const auto& c : x.chunks)
            total += c.bytes.size();
        if (stream)
            head += "Transfer-Encoding: chunked\r\n";
        else if (!no_body)
            head += fmt::format("Content-Length: {}\r\n", total);
        if (close)
            head += "Connection: close\r\n";
        head += "\r\n";
        if (no_body)
            return channel.write(head) && !close;
        if (!stream) {
            for (const auto& c : x.chunks)
                head += c.bytes;
            return channel.write(head) && !close;
        }
        if (!channel.write(head))
            return false;
        for (const auto& c : x.chunks) {
            if (!pause(c.delay_ns))
                return false;
            if (!channel.write(chunk(c.bytes)))
                return false;
        }
        return channel.write("0\r\n\r\n") && !close;
    }
};

Server::Server(ReplaySession& session, ServerOptions options)
    : impl_(std::make_unique<Impl>(session, std::move(options))) {
    if (impl_->options.speed <= 0)
        impl_->options.speed = 1.0;
}

Server::~Server() {
    stop();
}

Expected<std::uint16_t> Server::start() {
    Impl& s = *impl_;
    if (!s.options.cert_file.empty()) {
        s.ssl_ctx.reset(SSL_CTX_new(TLS_server_method()));
        if (!s.ssl_ctx)
            return fail("cannot create a TLS context");
        SSL_CTX_set_min_proto_version(s.ssl_ctx.get(), TLS1_2_VERSION);
        if (SSL_CTX_use_certificate_chain_file(s.ssl_ctx.get(), s.options.cert_file.c_str()) != 1 ||
            SSL_CTX_use_PrivateKey_file(s.ssl_ctx.get(), s.options.key_file.c_str(),
                                        SSL_FILETYPE_PEM) != 1)
            return fail("cannot load the server certificate " + s.options.cert_file);
        // h2 when the client offers it (unless --http1-only), else http/1.1.
        SSL_CTX_set_alpn_select_cb(
            s.ssl_ctx.get(),
            [](SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void* arg) -> int {
                static const unsigned char kBoth[] = {2,   'h', '2', 8,   'h', 't',
                                                      't', 'p', '/', '1', '.', '1'};
                const bool h2 = *static_cast<const bool*>(arg);
                const unsigned char* ours = h2 ? kBoth : kBoth + 3;
                const unsigned int ours_len = h2 ? sizeof kBoth : sizeof kBoth - 3;
                unsigned char* sel = nullptr;
                if (SSL_select_next_proto(&sel, outlen, ours, ours_len, in, inlen) !=
                    OPENSSL_NPN_NEGOTIATED)
                    return SSL_TLSEXT_ERR_NOACK;
                *out = sel;
                return SSL_TLSEXT_ERR_OK;
            },
            &s.options.http2);
    }
    s.listen_fd = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (s.listen_fd.get() < 0)
        return fail_errno("socket");
    int one = 1;
    ::setsockopt(s.listen_fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(s.options.port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(s.listen_fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        return fail_errno(fmt::format("cannot listen on 127.0.0.1:{}", s.options.port));
    if (::listen(s.listen_fd.get(), 64) != 0)
        return fail_errno("listen");
    socklen_t len = sizeof addr;
    ::getsockname(s.listen_fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0)
        return fail_errno("pipe");
    s.wake_read = Fd(pipefd[0]);
    s.wake_write = Fd(pipefd[1]);
    s.acceptor = std::thread([&s] { s.accept_loop(); });
    return ntohs(addr.sin_port);
}

void Server::stop() {
    Impl& s = *impl_;
    {
        std::unique_lock lock(s.mutex);
        if (s.stopping)
            return;
        s.stopping = true;
        for (int fd : s.open_fds)
            ::shutdown(fd, SHUT_RDWR);
    }
    s.stop_cv.notify_all();
    if (s.wake_write.get() >= 0) {
        char c = 1;
        (void)!::write(s.wake_write.get(), &c, 1);
    }
    if (s.acceptor.joinable())
        s.acceptor.join();
    std::map<std::uint64_t, std::thread> workers;
    {
        std::unique_lock lock(s.mutex);
        workers.swap(s.workers);
    }
    for (auto& [id, t] : workers)
        t.join();
}

}  // namespace ct::replay::serve
