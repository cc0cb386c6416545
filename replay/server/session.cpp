#include "server/session.hpp"

#include <fmt/format.h>

namespace ct::replay::serve {

using nlohmann::json;

ReplaySession::ReplaySession(Recording recording, Normalizer normalizer)
    : recording_(std::move(recording)), normalizer_(std::move(normalizer)) {
    const auto& xs = recording_.exchanges;
    normalized_.reserve(xs.size());
    for (std::size_t i = 0; i < xs.size(); ++i) {
        normalized_.push_back(normalizer_.normalize(xs[i].request_body));
        queues_[normalizer_.match_key(xs[i].method, xs[i].target, xs[i].request_body)].push_back(i);
    }
    served_count_.assign(xs.size(), 0);
}

Answer ReplaySession::answer(const std::string& method, const std::string& target,
                             const std::string& body) {
    const std::string key = normalizer_.match_key(method, target, body);
    std::unique_lock lock(mutex_);
    Answer a;
    a.request_number = ++requests_;
    auto q = queues_.find(key);
    if (q != queues_.end()) {
        std::size_t& next = next_in_queue_[key];
        if (next < q->second.size()) {
            const std::size_t i = q->second[next++];
            ++served_count_[i];
            a.exchange = &recording_.exchanges[i];
            if (live_)
                live_(fmt::format("request {}: {} {} -> recorded exchange #{} ({})",
                                  a.request_number, method, target, a.exchange->number,
                                  a.exchange->status));
            return a;
        }
    }
    Unmatched u = explain(a.request_number, method, target, body);
    if (q != queues_.end())
        u.why = fmt::format("matches recorded exchange(s) already served ({} recorded)",
                            q->second.size());
    json err = {{"type", "error"},
                {"error",
                 {{"type", "ct_replay_unmatched"},
                  {"message", fmt::format("ct-replay: no recorded exchange matches {} {}: {}",
                                          method, target, u.why)},
                  {"closest_recorded_exchange", u.closest ? json(*u.closest) : json()},
                  {"differences", json::array()}}}};
    for (const auto& d : u.differences)
        err["error"]["differences"].push_back(d.text());
    // Replace rather than throw should a recorded string not be valid UTF-8.
    a.error_body = err.dump(-1, ' ', false, json::error_handler_t::replace);
    if (live_) {
        std::string line =
            fmt::format("request {}: {} {} UNMATCHED: {}", a.request_number, method, target, u.why);
        for (const auto& d : u.differences)
            line += "\n    " + d.text();
        live_(line);
    }
    unmatched_.push_back(std::move(u));
    return a;
}

Unmatched ReplaySession::explain(std::size_t request_number, const std::string& method,
                                 const std::string& target, const std::string& body) const {
    Unmatched u;
    u.request_number = request_number;
    u.method = method;
    u.target = target;
    const auto doc = normalizer_.normalize(body);
    const auto& xs = recording_.exchanges;
    std::optional<std::size_t> best;
    std::size_t best_score = 0;
    for (std::size_t i = 0; i < xs.size(); ++i) {
        std::size_t score = 0;
        if (xs[i].method != method)
            score += 2'000'000;
        if (xs[i].target != target)
            score += 1'000'000;
        if (doc && normalized_[i])
            score += count_differences(*normalized_[i], *doc, 100'000);
        else if (xs[i].request_body != body)
            score += 1;
        // An exchange not served yet is the likelier counterpart of equal scores.
        score = score * 2 + (served_count_[i] ? 1 : 0);
        if (!best || score < best_score) {
            best = i;
            best_score = score;
        }
    }
    if (!best) {
        u.why = "the recording has no exchanges";
        return u;
    }
    const RecordedExchange& x = xs[*best];
    u.closest = x.number;
    if (x.method != method || x.target != target)
        u.differences.push_back({"request line", fmt::format("'{} {}'", x.method, x.target),
                                 fmt::format("'{} {}'", method, target), ""});
    if (doc && normalized_[*best]) {
        auto diffs = diff_json(*normalized_[*best], *doc, 3);
        describe_turns(diffs, *doc);
        for (auto& d : diffs)
            u.differences.push_back(std::move(d));
    } else if (x.request_body != body) {
        u.differences.push_back({"body", fmt::format("({} bytes, not JSON)", x.request_body.size()),
                                 fmt::format("({} bytes{})", body.size(), doc ? "" : ", not JSON"),
                                 ""});
    }
    u.why = fmt::format("closest recorded exchange is #{} ({} {})", x.number, x.method, x.target);
    return u;
}

bool ReplaySession::followed() const {
    std::unique_lock lock(mutex_);
    if (!unmatched_.empty())
        return false;
    for (std::size_t c : served_count_)
        if (c == 0)
            return false;
    return true;
}

std::size_t ReplaySession::requests() const {
    std::unique_lock lock(mutex_);
    return requests_;
}

std::vector<Unmatched> ReplaySession::unmatched() const {
    std::unique_lock lock(mutex_);
    return unmatched_;
}

std::vector<bool> ReplaySession::served() const {
    std::unique_lock lock(mutex_);
    std::vector<bool> out;
    for (std::size_t c : served_count_)
        out.push_back(c > 0);
    return out;
}

std::string ReplaySession::report() const {
    std::unique_lock lock(mutex_);
    const auto& xs = recording_.exchanges;
    std::size_t served = 0;
    for (std::size_t c : served_count_)
        served += c ? 1 : 0;
    std::string out = fmt::format(
        "ct-replay report: {} requests, {} matched, {} unmatched; {} of {} recorded exchanges "
        "served\n",
        requests_, requests_ - unmatched_.size(), unmatched_.size(), served, xs.size());
    for (std::size_t i = 0; i < xs.size(); ++i) {
        const auto& x = xs[i];
        out += fmt::format("  {} #{} {} {} -> {}{}\n", served_count_[i] ? "served   " : "not asked",
                           x.number, x.method, x.target, x.status,
                           x.sse ? fmt::format(" ({} SSE events)", x.sse_events) : "");
    }
    for (const auto& u : unmatched_) {
        out += fmt::format("  UNMATCHED request {}: {} {}: {}\n", u.request_number, u.method,
                           u.target, u.why);
        for (const auto& d : u.differences)
            out += "      " + d.text() + "\n";
    }
    for (const auto& s : recording_.skipped)
        out += "  not servable: " + s + "\n";
    bool ok = unmatched_.empty() && served == xs.size();
    out += ok ? "result: the run followed the recording\n"
              : "result: the run DIVERGED from the recording\n";
    return out;
}

}  // namespace ct::replay::serve
