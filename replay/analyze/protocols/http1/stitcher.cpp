#include "protocols/http1/stitcher.hpp"

#include <algorithm>

namespace ct::analyze::http1 {

std::vector<Pairing> stitch(const std::vector<Message>& requests,
                            const std::vector<Message>& responses) {
    std::vector<Pairing> pairings(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i)
        pairings[i].request = i;
    std::vector<Pairing> orphans;  // responses without a request

    std::size_t next_request = 0;  // oldest request not yet answered or skipped
    // End of the requests that started before the current response; responses come
    // in time order, so it only moves forward (linear time even for hostile input).
    std::size_t last_candidate = 0;
    std::vector<std::size_t> pending_interim;
    for (std::size_t r = 0; r < responses.size(); ++r) {
        const Message& response = responses[r];
        // Requests that started before this response did (times are 0 when unknown).
        last_candidate = std::max(last_candidate, next_request);
        while (last_candidate < requests.size() &&
               requests[last_candidate].start_monotonic_ns <= response.start_monotonic_ns) {
            ++last_candidate;
        }
        std::optional<std::size_t> chosen;
        if (last_candidate > next_request) {
            chosen = response.after_resync ? last_candidate - 1 : next_request;
        }
        if (response.is_interim()) {
            pending_interim.push_back(r);
            if (!chosen)
                continue;
            // Interim responses attach to the request they precede.
            continue;
        }
        if (!chosen) {
            Pairing orphan;
            orphan.response = r;
            orphan.interim = std::move(pending_interim);
            pending_interim.clear();
            orphans.push_back(std::move(orphan));
            continue;
        }
        pairings[*chosen].response = r;
        pairings[*chosen].interim = std::move(pending_interim);
        pending_interim.clear();
        next_request = *chosen + 1;
    }
    for (std::size_t r : pending_interim) {
        // 1xx answers whose final response never came: keep them with their request.
        if (next_request < pairings.size()) {
            pairings[next_request].interim.push_back(r);
        } else {
            Pairing orphan;
            orphan.interim.push_back(r);
            orphans.push_back(std::move(orphan));
        }
    }
    // Orphan responses go where their time puts them: a merge by time, since both
    // lists are in time order.
    auto time_of = [&](const Pairing& p) -> std::uint64_t {
        if (p.request)
            return requests[*p.request].start_monotonic_ns;
        if (p.response)
            return responses[*p.response].start_monotonic_ns;
        return p.interim.empty() ? 0 : responses[p.interim.front()].start_monotonic_ns;
    };
    if (!orphans.empty()) {
        std::vector<Pairing> merged;
        merged.reserve(pairings.size() + orphans.size());
        std::size_t o = 0;
        for (auto& p : pairings) {
            while (o < orphans.size() && time_of(orphans[o]) < time_of(p))
                merged.push_back(std::move(orphans[o++]));
            merged.push_back(std::move(p));
        }
        while (o < orphans.size())
            merged.push_back(std::move(orphans[o++]));
        pairings = std::move(merged);
    }
    return pairings;
}

}  // namespace ct::analyze::http1
