// OTLP/HTTP with JSON over a plain TCP socket: enough HTTP/1.1 for one POST.
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <nlohmann/json.hpp>

#include "export/otlp.hpp"
#include "util/unique_fd.hpp"

namespace ct::analyze::exports {
namespace {

struct Endpoint {
    std::string host;  // without brackets
    std::string port = "80";
    std::string path;  // the path to POST to
    std::string host_header;
};

Expected<Endpoint> parse_endpoint(const std::string& url) {
    if (url.starts_with("https://"))
        return fail("--otlp-endpoint " + url +
                    ": https is not supported (ct-analyze sends plain HTTP); send to a local "
                    "collector over http://, or write the file with --otlp and send it with "
                    "curl -H 'Content-Type: application/json' --data-binary @FILE URL/v1/traces");
    if (!url.starts_with("http://"))
        return fail("--otlp-endpoint " + url + ": give an http:// URL, e.g. http://localhost:4318");
    std::string rest = url.substr(7);
    auto slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    std::string path = slash == std::string::npos ? "" : rest.substr(slash);
    if (auto q = path.find_first_of("?#"); q != std::string::npos)
        return fail("--otlp-endpoint " + url + ": no query or fragment, please");
    Endpoint e;
    e.host_header = authority;
    if (authority.starts_with("[")) {
        auto close = authority.find(']');
        if (close == std::string::npos)
            return fail("--otlp-endpoint " + url + ": bad IPv6 address");
        e.host = authority.substr(1, close - 1);
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':')
                return fail("--otlp-endpoint " + url + ": bad authority");
            e.port = authority.substr(close + 2);
        }
    } else if (auto colon = authority.find(':'); colon != std::string::npos) {
        e.host = authority.substr(0, colon);
        e.port = authority.substr(colon + 1);
    } else {
        e.host = authority;
    }
    if (e.host.empty() || e.port.empty() ||
        e.port.find_first_not_of("0123456789") != std::string::npos || e.port.size() > 5)
        return fail("--otlp-endpoint " + url + ": bad host or port");
    if (authority.find('@') != std::string::npos)
        return fail("--otlp-endpoint " + url + ": user information in the URL is not supported");
    while (path.ends_with("/"))
        path.pop_back();
    e.path = path.ends_with("/v1/traces") ? path : path + "/v1/traces";
    return e;
}

// Waits until `fd` is ready for `events`, at most `timeout`.
Expected<void> wait_for(int fd, short events, std::chrono::milliseconds timeout, const char* what) {
    pollfd p{fd, events, 0};
    while (true) {
        int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
        if (n > 0)
            return {};
        if (n == 0)
            return fail(std::string("OTLP endpoint: timed out ") + what);
        if (errno != EINTR)
            return fail_errno("poll");
    }
}

}  // namespace

Expected<void> check_otlp_endpoint(const std::string& endpoint) {
    auto e = parse_endpoint(endpoint);
    if (!e)
        return std::unexpected(e.error());
    return {};
}

Expected<std::string> post_otlp(const std::string& endpoint, const std::string& json) {
    auto e = parse_endpoint(endpoint);
    if (!e)
        return std::unexpected(e.error());
    constexpr auto kTimeout = std::chrono::seconds(30);

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = ::getaddrinfo(e->host.c_str(), e->port.c_str(), &hints, &found); rc != 0)
        return fail("OTLP endpoint " + e->host + ": " + ::gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
    UniqueFd sock;
    std::string connect_error;
    for (addrinfo* a = found; a; a = a->ai_next) {
        UniqueFd fd(
            ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol));
        if (!fd)
            continue;
        if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
            if (errno != EINPROGRESS) {
                connect_error = std::strerror(errno);
                continue;
            }
            if (auto w = wait_for(fd.get(), POLLOUT, kTimeout, "connecting"); !w) {
                connect_error = w.error().what();
                continue;
            }
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) {
                connect_error = std::strerror(err);
                continue;
            }
        }
        sock = std::move(fd);
        break;
    }
    if (!sock)
        return fail("OTLP endpoint " + e->host_header + ": cannot connect: " + connect_error);

    std::string request =
        "POST " + e->path + " HTTP/1.1\r\nHost: " + e->host_header +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(json.size()) +
        "\r\nUser-Agent: ct-analyze\r\nConnection: close\r\n\r\n";
    request += json;
    std::size_t sent = 0;
    while (sent < request.size()) {
        ssize_t n = ::send(sock.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (auto w = wait_for(sock.get(), POLLOUT, kTimeout, "sending"); !w)
                return std::unexpected(w.error());
        } else {
            return fail_errno("OTLP endpoint " + e->host_header + ": send");
        }
    }
    // The answer: read until the server closes (we asked for Connection: close) or
    // the Content-Length is complete.
    std::string answer;
    char buf[16384];
    while (answer.size() < (4u << 20)) {
        ssize_t n = ::recv(sock.get(), buf, sizeof buf, 0);
        if (n > 0) {
            answer.append(buf, static_cast<std::size_t>(n));
            auto head_end = answer.find("\r\n\r\n");
            if (head_end != std::string::npos) {
                std::string head = answer.substr(0, head_end);
                for (auto& c : head)
                    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                auto cl = head.find("\r\ncontent-length:");
                if (cl != std::string::npos &&
                    answer.size() >=
                        head_end + 4 + std::strtoull(head.c_str() + cl + 17, nullptr, 10))
                    break;
            }
        } else if (n == 0) {
            break;
        } else if (errno == EAGAIN || errno == EINTR) {
            if (auto w = wait_for(sock.get(), POLLIN, kTimeout, "waiting for the answer"); !w)
                return std::unexpected(w.error());
        } else {
            return fail_errno("OTLP endpoint " + e->host_header + ": recv");
        }
    }
    auto line_end = answer.find("\r\n");
    std::string status_line = answer.substr(0, line_end);
    int status = 0;
    if (status_line.starts_with("HTTP/1.") && status_line.size() >= 12)
        status = std::atoi(status_line.c_str() + 9);
    auto head_end = answer.find("\r\n\r\n");
    std::string body = head_end == std::string::npos ? "" : answer.substr(head_end + 4);
    if (status < 200 || status > 299)
        return fail("OTLP endpoint http://" + e->host_header + e->path + " answered " +
                    (status_line.empty() ? "nothing" : status_line) +
                    (body.empty() ? "" : ": " + body.substr(0, 500)));
    // ExportTraceServiceResponse: a partial success names the spans it rejected.
    auto parsed = nlohmann::json::parse(body, nullptr, false);
    if (parsed.is_object() && parsed.contains("partialSuccess") &&
        parsed["partialSuccess"].is_object()) {
        const auto& partial = parsed["partialSuccess"];
        std::string rejected = "0";
        if (partial.contains("rejectedSpans")) {
            const auto& r = partial["rejectedSpans"];
            rejected = r.is_string() ? r.get<std::string>() : r.dump();
        }
        if (rejected != "0")
            return fail("OTLP endpoint rejected " + rejected +
                        " spans: " + partial.value("errorMessage", std::string()));
    }
    return status_line;
}

}  // namespace ct::analyze::exports
