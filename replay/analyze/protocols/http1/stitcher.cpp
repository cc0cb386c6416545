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
    std::vector<std::size_t> pending_interim;
    for (std::size_t r = 0; r < responses.size(); ++r) {
        const Message& response = responses[r];
        // Requests that started before this response did (times are 0 when unknown).
        std::size_t last_candidate = next_request;
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
    // Orphan responses go where their time puts them.
    for (auto& orphan : orphans) {
        std::uint64_t t = 0;
        if (orphan.response)
            t = responses[*orphan.response].start_monotonic_ns;
        else if (!orphan.interim.empty())
            t = responses[orphan.interim.front()].start_monotonic_ns;
        auto pos = std::find_if(pairings.begin(), pairings.end(), [&](const Pairing& p) {
            return p.request && requests[*p.request].start_monotonic_ns > t;
        });
        pairings.insert(pos, std::move(orphan));
    }
    return pairings;
}

}  // namespace ct::analyze::http1
