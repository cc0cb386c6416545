// Assigns each error site to the function that contains it. Stripped binaries have no
// function bounds (and Bun's BoringSSL has no unwind entries either), so an entry is
// a direct call target that looks like a function start, and a site belongs to the
// nearest such entry whose control flow reaches it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "locate/boringssl/code_analyzer.hpp"

namespace ct::locate::boringssl {

struct SiteAttribution {
    std::map<uint64_t, FunctionFacts> functions;  // by entry
    std::map<uint64_t, uint64_t> function_of_site;
    std::map<uint64_t, std::string> orphan_sites;  // site -> why it has no function
    std::map<uint64_t, unsigned> direct_callers;   // entry -> number of call sites
    size_t entries_rejected = 0;                   // call targets that failed the entry test
};

// `sites`: end addresses of the error sites' address loads.
// `known_entries` (sorted): exact function starts from the unwind table, when the
// binary has one; trusted without the entry test, and exploration stops at them.
SiteAttribution attribute_sites(CodeAnalyzer& analyzer, const std::vector<uint64_t>& sites,
                                const std::vector<uint64_t>& known_entries = {});

}  // namespace ct::locate::boringssl
