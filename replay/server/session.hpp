// The state of one replay: which recorded exchange answers each request, and
// the divergence report. Thread-safe; knows nothing of sockets.
#pragma once

#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/matching.hpp"
#include "server/recording.hpp"

namespace ct::replay::serve {

struct Unmatched {
    std::size_t request_number = 0;  // 1-based, in arrival order
    std::string method;
    std::string target;
    std::optional<std::size_t> closest;  // recorded exchange number
    std::string why;                     // one line
    std::vector<Difference> differences;
};

struct Answer {
    std::size_t request_number = 0;
    const RecordedExchange* exchange = nullptr;  // nullptr: unmatched
    std::string error_body;                      // JSON, for a 599 answer
};

class ReplaySession {
  public:
    ReplaySession(Recording recording, Normalizer normalizer);

    // Picks the answer for a request (and records the decision).
    Answer answer(const std::string& method, const std::string& target, const std::string& body);

    // Called with one line per decision (for -v); set before serving starts.
    void set_live_log(std::function<void(const std::string&)> log) { live_ = std::move(log); }

    const Recording& recording() const { return recording_; }
    bool followed() const;  // every request matched and every recorded exchange was served
    std::string report() const;
    std::size_t requests() const;
    std::vector<Unmatched> unmatched() const;
    std::vector<bool> served() const;

  private:
    Unmatched explain(std::size_t request_number, const std::string& method,
                      const std::string& target, const std::string& body) const;

    Recording recording_;
    Normalizer normalizer_;
    std::vector<std::optional<nlohmann::json>> normalized_;   // per recorded exchange
    std::map<std::string, std::vector<std::size_t>> queues_;  // match key -> exchange indexes
    std::map<std::string, std::size_t> next_in_queue_;
    std::function<void(const std::string&)> live_;

    mutable std::mutex mutex_;
    std::size_t requests_ = 0;
    std::vector<std::size_t> served_count_;
    std::vector<Unmatched> unmatched_;
};

}  // namespace ct::replay::serve
