#include "locate/boringssl/stripped_boringssl_locator.hpp"

#include <elf.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>

#include "locate/boringssl/reason_codes.hpp"
#include "locate/boringssl/role_classifier.hpp"
#include "locate/boringssl/site_attribution.hpp"
#include "locate/boringssl/x86_64_analyzer.hpp"

namespace ct::locate::boringssl {
namespace {

// The error function must be the target of most decoded sites, and of at least this
// many, before we believe it is ERR_put_error.
constexpr size_t kMinErrorFunctionVotes = 3;
// ssl_lib.cc has about 60 error sites; far more loads of its path is not BoringSSL
// (and would make the analysis slow).
constexpr size_t kMaxPathLoads = 4096;

}  // namespace

StructuralResult locate_stripped_boringssl(const ElfImage& image,
                                           const std::vector<SourcePathString>& ssl_lib_paths) {
    StructuralResult result = start_structural_result("BoringSSL", ssl_lib_paths);
    auto analyzer = make_code_analyzer(image);
    if (!analyzer)
        return refuse(std::move(result), analyzer.error().message);
    CodeAnalyzer& code = **analyzer;

    // 1. Instructions that load the path: candidate OPENSSL_PUT_ERROR sites.
    std::vector<std::pair<AddressLoad, uint64_t>> loads;  // load, string vaddr
    for (const auto& path : ssl_lib_paths) {
        for (const auto& load : code.find_address_loads(path.vaddr)) {
            loads.emplace_back(load, path.vaddr);
        }
    }
    std::map<std::string, size_t> forms;
    for (const auto& [load, va] : loads)
        ++forms[load.form];
    std::string form_text;
    for (const auto& [form, n] : forms)
        form_text += fmt::format("{}{} x {}", form_text.empty() ? "" : ", ", n, form);
    result.evidence.push_back(fmt::format("{} instructions load the path ({})", loads.size(),
                                          form_text.empty() ? "none" : form_text));
    if (loads.size() > kMaxPathLoads) {
        return refuse(std::move(result),
                      fmt::format("{} instructions load the ssl_lib.cc path: not BoringSSL's "
                                  "error calls",
                                  loads.size()));
    }
    if (loads.empty()) {
        return refuse(std::move(result),
                      "BoringSSL's ssl/ssl_lib.cc path is present but no code loads it");
    }

    // 2. The function most of them call with (ERR_LIB_SSL, ..., file, line) is
    //    ERR_put_error; a tail jump to it then counts as a call too.
    std::map<uint64_t, size_t> votes;
    size_t decoded = 0;
    for (const auto& [load, va] : loads) {
        auto call = code.decode_error_call(load.insn_va, va);
        if (call && call->library == kErrLibSsl && call->callee_va != 0) {
            ++votes[call->callee_va];
            ++decoded;
        }
    }
    auto best = std::max_element(votes.begin(), votes.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    if (best == votes.end() || best->second < kMinErrorFunctionVotes ||
        best->second * 2 <= decoded) {
        return refuse(std::move(result),
                      fmt::format("no common error function: {} of {} path loads decode as "
                                  "ERR_put_error(ERR_LIB_SSL, ...) calls, best target has {} "
                                  "votes",
                                  decoded, loads.size(), best == votes.end() ? 0 : best->second));
    }
    const uint64_t error_function = best->first;
    code.set_error_function(error_function);

    std::map<uint64_t, ErrorCall> calls;
    std::map<unsigned, size_t> layouts;
    for (const auto& [load, va] : loads) {
        auto call = code.decode_error_call(load.insn_va, va);
        if (!call || call->callee_va != error_function || call->library != kErrLibSsl ||
            !call->reason) {
            continue;
        }
        if (calls.emplace(call->site_end_va, *call).second)
            ++layouts[call->file_argument];
    }
    std::string layout_text;
    for (const auto& [slot, n] : layouts) {
        layout_text += fmt::format("{}{} with __FILE__ as argument {}",
                                   layout_text.empty() ? "" : ", ", n, slot);
    }
    result.evidence.push_back(fmt::format(
        "ERR_put_error at {:#x}: {} error sites call it with ERR_LIB_SSL and a literal reason ({})",
        error_function, calls.size(), layout_text));

    // 3. Which function holds each site.
    std::vector<uint64_t> sites;
    for (const auto& [site, call] : calls)
        sites.push_back(site);
    const SiteAttribution attribution = attribute_sites(code, sites);
    result.evidence.push_back(fmt::format(
        "{} functions hold {} of the sites ({} unattributed); {} stray call targets rejected as "
        "entries",
        attribution.functions.size(), sites.size() - attribution.orphan_sites.size(),
        attribution.orphan_sites.size(), attribution.entries_rejected));

    for (const auto& [site, why] : attribution.orphan_sites) {
        const ErrorCall& call = calls.at(site);
        result.evidence.push_back(
            fmt::format("unattributed error site {:#x} (reason {}, line {}): {}", call.site_va,
                        *call.reason, call.line.value_or(0), why));
    }

    // 4. Roles from reason codes and call relations.
    RoleClassification roles = classify_roles(calls, attribution);
    for (auto& note : roles.notes)
        result.evidence.push_back(std::move(note));
    if (!roles.refusals.empty()) {
        std::string text;
        for (const auto& r : roles.refusals)
            text += (text.empty() ? "" : "; ") + r;
        return refuse(std::move(result), std::move(text));
    }
    for (auto& finding : roles.found) {
        auto offset = image.file_offset_of(finding.vaddr);
        if (!offset) {
            return refuse(std::move(result), fmt::format("{} at {:#x} is not backed by the file",
                                                         role_symbol(finding.role), finding.vaddr));
        }
        result.targets.push_back(
            Target{finding.role, finding.vaddr, *offset, std::move(finding.evidence)});
    }
    std::sort(result.targets.begin(), result.targets.end(),
              [](const Target& a, const Target& b) { return a.role < b.role; });
    return result;
}

}  // namespace ct::locate::boringssl
