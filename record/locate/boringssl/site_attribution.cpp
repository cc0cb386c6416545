#include "locate/boringssl/site_attribution.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace ct::locate::boringssl {
namespace {

// How far before a site its function may start, and how far a function may extend;
// both bound the work on hostile input. BoringSSL's ssl_lib.cc functions are far
// smaller.
constexpr uint64_t kMaxDistanceToEntry = 256u << 10;

}  // namespace

SiteAttribution attribute_sites(CodeAnalyzer& analyzer, const std::vector<uint64_t>& sites,
                                const std::vector<uint64_t>& known_entries) {
    SiteAttribution result;
    std::vector<AddressRange> windows;
    for (uint64_t site : sites) {
        windows.push_back(AddressRange{site > kMaxDistanceToEntry ? site - kMaxDistanceToEntry : 0,
                                       site + kMaxDistanceToEntry});
    }
    const std::map<uint64_t, unsigned> call_targets = analyzer.direct_call_targets(windows);

    // Entries where exploration stops; candidates that fail the full entry test leave.
    std::set<uint64_t> boundaries;
    for (const auto& [target, callers] : call_targets) {
        if (analyzer.looks_like_boundary(target))
            boundaries.insert(target);
    }
    const std::set<uint64_t> site_set(sites.begin(), sites.end());
    std::map<uint64_t, bool> entry_verdict;
    for (const auto& w : windows) {
        auto it = std::lower_bound(known_entries.begin(), known_entries.end(), w.begin);
        for (; it != known_entries.end() && *it < w.end; ++it) {
            boundaries.insert(*it);
            entry_verdict[*it] = true;
        }
    }
    struct Explored {
        FunctionFacts facts;
        size_t boundaries_version;
    };
    std::map<uint64_t, Explored> explored;
    size_t boundaries_version = 0;

    auto facts_for = [&](uint64_t entry) -> const FunctionFacts& {
        auto it = explored.find(entry);
        if (it == explored.end() || it->second.boundaries_version != boundaries_version) {
            it = explored
                     .insert_or_assign(
                         entry, Explored{analyzer.explore_function(entry, boundaries, site_set),
                                         boundaries_version})
                     .first;
        }
        return it->second.facts;
    };

    for (uint64_t site : sites) {
        std::string why =
            fmt::format("no function entry within {} KiB before it", kMaxDistanceToEntry >> 10);
        bool attributed = false;
        auto it = boundaries.upper_bound(site);
        while (it != boundaries.begin()) {
            const uint64_t entry = *std::prev(it);
            if (site - entry > kMaxDistanceToEntry)
                break;
            auto verdict = entry_verdict.find(entry);
            if (verdict == entry_verdict.end()) {
                std::string why_not;
                verdict =
                    entry_verdict.emplace(entry, analyzer.plausible_entry(entry, why_not)).first;
            }
            if (!verdict->second) {
                // A stray call target inside some function: forget it and look further back.
                it = boundaries.erase(std::prev(it));
                ++boundaries_version;
                ++result.entries_rejected;
                continue;
            }
            const FunctionFacts& facts = facts_for(entry);
            if (facts.sites_reached.contains(site)) {
                result.function_of_site[site] = entry;
                attributed = true;
            } else {
                why = fmt::format("the nearest function entry before it, {:#x}, does not reach it",
                                  entry);
            }
            break;
        }
        if (!attributed)
            result.orphan_sites[site] = why;
    }
    // Facts for the final boundary set (a rejection may have come after an exploration).
    for (const auto& [site, entry] : result.function_of_site) {
        if (!result.functions.contains(entry)) {
            result.functions[entry] = facts_for(entry);
            auto callers = call_targets.find(entry);
            result.direct_callers[entry] = callers == call_targets.end() ? 0 : callers->second;
        }
    }
    // Re-check attribution against the final explorations.
    for (auto it = result.function_of_site.begin(); it != result.function_of_site.end();) {
        if (!result.functions[it->second].sites_reached.contains(it->first)) {
            result.orphan_sites[it->first] = fmt::format(
                "{:#x} stopped reaching it after other entries were rejected", it->second);
            it = result.function_of_site.erase(it);
        } else {
            ++it;
        }
    }
    return result;
}

}  // namespace ct::locate::boringssl
