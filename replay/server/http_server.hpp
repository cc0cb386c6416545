// The replay server on 127.0.0.1: HTTP/1.1 with keep-alive and HTTP/2, plain or
// TLS on the same port (a connection that starts with a TLS handshake gets TLS;
// h2 is chosen by ALPN, or by the HTTP/2 preface on a plain connection).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server/session.hpp"
#include "util/error.hpp"

namespace ct::replay::serve {

struct ServerOptions {
    std::uint16_t port = 0;  // 0: any free port
    double speed = 1.0;      // SSE spacing is divided by this
    bool no_delay = false;   // send SSE events at once
    bool http2 = true;       // offer h2 by ALPN (HTTP/2 with prior knowledge is always served)
    std::string cert_file;   // empty: no TLS
    std::string key_file;
    std::function<void(const std::string&)> log;  // -v lines, or empty
};

class Server {
  public:
    Server(ReplaySession& session, ServerOptions options);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds and starts accepting in a thread; returns the port.
    Expected<std::uint16_t> start();
    // Stops accepting, closes every connection and waits for their threads.
    void stop();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ct::replay::serve
