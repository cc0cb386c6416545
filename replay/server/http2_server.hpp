// HTTP/2 (RFC 9113) for the replay server, through nghttp2: one connection,
// served on the calling thread; SSE events paced by deferring their DATA.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "server/session.hpp"

namespace ct::replay::serve {

struct Http2Io {
    int fd = -1;                                   // to wait for input
    std::function<long(char*, std::size_t)> read;  // > 0 bytes, 0 closed, < 0 error
    std::function<bool(std::string_view)> write;
    std::function<bool()> buffered;  // bytes already read from fd but not yet returned (TLS)
};

struct Http2Context {
    ReplaySession& session;
    double speed = 1.0;
    bool no_delay = false;
    std::function<bool()> stopping;
    std::function<void(const std::string&)> log;
};

// Serves until the client or the server ends the connection.
void serve_http2(const Http2Io& io, const Http2Context& context);

}  // namespace ct::replay::serve
