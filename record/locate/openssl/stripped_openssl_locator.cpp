#include "locate/openssl/stripped_openssl_locator.hpp"

#include <elf.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "locate/boringssl/site_attribution.hpp"
#include "locate/boringssl/x86_64_analyzer.hpp"

namespace ct::locate::openssl {
namespace {

using boringssl::CallArguments;
using boringssl::CodeAnalyzer;
using boringssl::FunctionFacts;
using boringssl::SiteAttribution;

// ERR_set_debug must be the callee of most decoded sites, and of at least this many.
constexpr size_t kMinErrorFunctionVotes = 3;
// ssl_lib.c has about 400 error sites; far more loads of its path is not OpenSSL.
constexpr size_t kMaxPathLoads = 8192;
constexpr size_t kMaxFunctionName = 64;
constexpr uint64_t kMaxLine = 1000000;
constexpr size_t kScanChunk = 8u << 20;
// Bytes between the end of `call ERR_new` and the path load: a few register loads.
constexpr unsigned kMaxArgumentSetup = 48;

// What ERR_raise(ERR_LIB_SSL, reason) compiles to in OpenSSL 3:
//   ERR_new(); ERR_set_debug(OPENSSL_FILE, OPENSSL_LINE, OPENSSL_FUNC); ERR_set_error(...)
struct DebugSite {
    uint64_t load_va = 0;
    uint64_t end_va = 0;  // end of the path load: the site's identity
    uint32_t line = 0;
    std::string function;  // the __func__ string passed as the third argument
    uint64_t call_end_va = 0;
    std::optional<uint32_t> reason;  // from the ERR_set_error(ERR_LIB_SSL, reason, ...) after it
};

constexpr uint32_t kErrLibSsl = 20;
// include/openssl/sslerr.h: public, stable reason codes. 3.3 added the flags argument of
// ssl_write_internal (for SSL_write_ex2) together with the check that rejects flags.
constexpr uint32_t kSslRUnsupportedWriteFlags = 412;

// The C identifier at `va` (NUL-terminated, in the file), or empty.
std::string identifier_at(const ElfImage& image, uint64_t va) {
    const auto bytes = image.bytes_at(va, kMaxFunctionName + 1);
    std::string name;
    for (uint8_t c : bytes) {
        if (c == 0)
            return name.size() >= 3 ? name : std::string();
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                        (!name.empty() && c >= '0' && c <= '9');
        if (!ok)
            return {};
        name.push_back(static_cast<char>(c));
    }
    return {};
}

// The functions that call each role's function, by their __func__ names. A candidate
// holding a site named like one of these is an API wrapper with the internal function
// inlined into it, not the internal function itself.
const std::set<std::string> kWriteWrappers = {"SSL_write", "SSL_write_ex", "SSL_write_ex2",
                                              "SSL_write_early_data"};
const std::set<std::string> kReadWrappers = {"SSL_read", "SSL_read_ex", "SSL_read_early_data",
                                             "SSL_peek", "SSL_peek_ex", "ssl_peek_internal"};

struct VersionInfo {
    std::optional<int> major, minor;
    std::string text;
};

VersionInfo parse_version(const std::vector<std::string>& texts) {
    VersionInfo info;
    std::set<std::pair<int, int>> seen;
    for (const auto& t : texts) {
        int major = 0, minor = 0;
        if (std::sscanf(t.c_str(), "OpenSSL %d.%d.", &major, &minor) == 2)
            seen.emplace(major, minor);
    }
    if (seen.size() == 1) {
        info.major = seen.begin()->first;
        info.minor = seen.begin()->second;
        info.text = texts.front();
    }
    return info;
}

}  // namespace

std::vector<std::string> find_openssl_version_texts(const ElfImage& image) {
    constexpr std::string_view needle = "OpenSSL 3.";
    std::vector<std::string> out;
    for (const auto& segment : image.loads()) {
        if (segment.writable)
            continue;
        const auto data = image.segment_bytes(segment);
        scan_in_chunks(
            image.file(), data, kScanChunk, 80,
            [&](std::span<const uint8_t> piece, size_t start, size_t owned) {
                for_each_match(piece, owned, text_bytes(needle), [&](size_t at) {
                    const size_t begin = start + at;
                    // A whole string: NUL before, printable text, NUL within 64 bytes.
                    if (begin > 0 && data[begin - 1] != 0)
                        return;
                    size_t e = begin;
                    while (e < data.size() && e - begin < 64 && data[e] >= 0x20 && data[e] < 0x7f)
                        ++e;
                    if (e >= data.size() || data[e] != 0)
                        return;
                    std::string text(reinterpret_cast<const char*>(data.data() + begin), e - begin);
                    if (std::find(out.begin(), out.end(), text) == out.end())
                        out.push_back(std::move(text));
                });
            });
    }
    return out;
}

StructuralResult locate_stripped_openssl(const ElfImage& image,
                                         const std::vector<SourcePathString>& ssl_lib_paths) {
    StructuralResult result = start_structural_result("OpenSSL", ssl_lib_paths);
    auto created = boringssl::make_code_analyzer(image);
    if (!created)
        return refuse(std::move(result), "stripped OpenSSL: " + created.error().message);
    CodeAnalyzer& code = **created;

    // 1. Instructions that load the path: candidate ERR_set_debug(file, line, func) sites.
    std::vector<std::pair<boringssl::AddressLoad, uint64_t>> loads;
    for (const auto& path : ssl_lib_paths) {
        for (const auto& load : code.find_address_loads(path.vaddr))
            loads.emplace_back(load, path.vaddr);
    }
    result.evidence.push_back(fmt::format("{} instructions load the path", loads.size()));
    if (loads.empty()) {
        return refuse(std::move(result),
                      "stripped OpenSSL: the ssl/ssl_lib.c path is present but no code loads it");
    }
    if (loads.size() > kMaxPathLoads) {
        return refuse(std::move(result), fmt::format("stripped OpenSSL: {} instructions load the "
                                                     "ssl_lib.c path, not OpenSSL's error calls",
                                                     loads.size()));
    }

    // 2. Decode each load's call: the path in the first argument, a literal line in the
    //    second, a function name in the third. The function most of them call is
    //    ERR_set_debug.
    std::vector<std::pair<DebugSite, uint64_t>> decoded;  // site, callee
    std::map<uint64_t, size_t> votes;
    for (const auto& [load, path_va] : loads) {
        // The arguments are set in any order after the call to ERR_new.
        const auto start = code.start_after_call(load.insn_va, kMaxArgumentSetup);
        if (!start)
            continue;
        auto call = code.decode_call(*start);
        if (!call || call->callee_va == 0 || call->args[0] != path_va || !call->args[1] ||
            *call->args[1] == 0 || *call->args[1] > kMaxLine || !call->args[2]) {
            continue;
        }
        std::string name = identifier_at(image, *call->args[2]);
        if (name.empty())
            continue;
        DebugSite site{load.insn_va,    load.end_va,       static_cast<uint32_t>(*call->args[1]),
                       std::move(name), call->call_end_va, std::nullopt};
        ++votes[call->callee_va];
        decoded.emplace_back(std::move(site), call->callee_va);
    }
    auto best = std::max_element(votes.begin(), votes.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    if (best == votes.end() || best->second < kMinErrorFunctionVotes ||
        best->second * 2 <= decoded.size()) {
        return refuse(
            std::move(result),
            fmt::format("stripped OpenSSL: no common error function: {} of {} path loads decode "
                        "as ERR_set_debug(file, line, func) calls, best target has {} votes "
                        "(OpenSSL 1.x error calls carry no function names and are not supported)",
                        decoded.size(), loads.size(), best == votes.end() ? 0 : best->second));
    }
    const uint64_t err_set_debug = best->first;
    std::map<uint64_t, DebugSite> sites_by_end;
    for (auto& [site, callee] : decoded) {
        if (callee != err_set_debug)
            continue;
        // ERR_set_error(ERR_LIB_SSL, reason, NULL) follows the ERR_set_debug call.
        if (site.call_end_va != 0) {
            auto next = code.decode_call(site.call_end_va);
            if (next && next->args[0] == kErrLibSsl && next->args[1] && *next->args[1] < 0x1000000)
                site.reason = static_cast<uint32_t>(*next->args[1]);
        }
        sites_by_end.emplace(site.end_va, std::move(site));
    }
    result.evidence.push_back(
        fmt::format("ERR_set_debug at {:#x}: {} error sites pass ssl_lib.c, a line and a function "
                    "name",
                    err_set_debug, sites_by_end.size()));

    // 3. Which function holds each site.
    std::vector<uint64_t> site_list;
    for (const auto& [end, site] : sites_by_end)
        site_list.push_back(end);
    const std::vector<uint64_t> unwind_starts = image.unwind_function_starts();
    result.evidence.push_back(
        fmt::format("{} function starts in the unwind table", unwind_starts.size()));
    const SiteAttribution attribution = boringssl::attribute_sites(code, site_list, unwind_starts);
    result.evidence.push_back(fmt::format(
        "{} functions hold {} of the sites ({} unattributed); {} stray call targets "
        "rejected as entries",
        attribution.functions.size(), site_list.size() - attribution.orphan_sites.size(),
        attribution.orphan_sites.size(), attribution.entries_rejected));

    // Names reported by each function, and the functions reporting each name.
    std::map<uint64_t, std::map<std::string, std::vector<uint32_t>>> names_of;
    std::map<std::string, std::set<uint64_t>> holders;
    std::map<std::string, size_t> orphans;
    for (const auto& [end, site] : sites_by_end) {
        auto f = attribution.function_of_site.find(end);
        if (f == attribution.function_of_site.end()) {
            ++orphans[site.function];
            continue;
        }
        names_of[f->second][site.function].push_back(site.line);
        holders[site.function].insert(f->second);
    }
    auto describe = [&](uint64_t entry) {
        std::string text;
        for (const auto& [name, lines] : names_of[entry]) {
            std::string line_text;
            for (uint32_t l : lines)
                line_text += fmt::format("{}{}", line_text.empty() ? "" : ",", l);
            text += fmt::format("{}{} (line {})", text.empty() ? "" : ", ", name, line_text);
        }
        return text;
    };

    // 4. Roles: the one function that reports each name.
    std::vector<std::string> refusals;
    auto unique_holder = [&](const std::string& name, bool required,
                             const std::set<std::string>& wrappers) -> std::optional<uint64_t> {
        auto it = holders.find(name);
        const size_t n = it == holders.end() ? 0 : it->second.size();
        std::string problem;
        if (n == 0) {
            problem = fmt::format("no function reports {}", name);
        } else if (n > 1) {
            std::string list;
            for (uint64_t entry : it->second)
                list +=
                    fmt::format("{}{:#x} [{}]", list.empty() ? "" : "; ", entry, describe(entry));
            problem = fmt::format("{} functions report {} (inlined into several callers?): {}", n,
                                  name, list);
        } else if (orphans[name] > 0) {
            problem = fmt::format("{} error sites of {} belong to no function found", orphans[name],
                                  name);
        } else {
            const uint64_t entry = *it->second.begin();
            for (const auto& [other, lines] : names_of[entry]) {
                if (wrappers.contains(other)) {
                    problem = fmt::format(
                        "the function reporting {} at {:#x} also reports {}: it "
                        "was inlined into that API function",
                        name, entry, other);
                }
            }
            if (problem.empty())
                return entry;
        }
        if (required)
            refusals.push_back(problem);
        else
            result.evidence.push_back(fmt::format("{} not hooked: {}", name, problem));
        return std::nullopt;
    };
    const auto write_fn = unique_holder("ssl_write_internal", true, kWriteWrappers);
    const auto read_fn = unique_holder("ssl_read_internal", true, kReadWrappers);
    const auto handshake_fn = unique_holder("SSL_do_handshake", false, {});
    const auto shutdown_fn = unique_holder("SSL_shutdown", false, {});

    // The wrappers, when the linker kept them, must call what we found.
    auto check_callers = [&](const char* wrapper, std::optional<uint64_t> callee,
                             const char* callee_name) {
        if (!callee || !holders.contains(wrapper))
            return;
        for (uint64_t entry : holders[wrapper]) {
            const FunctionFacts& facts = attribution.functions.at(entry);
            if (facts.direct_calls.contains(*callee) || facts.tail_jumps.contains(*callee)) {
                result.evidence.push_back(fmt::format("{} at {:#x} calls {} at {:#x}", wrapper,
                                                      entry, callee_name, *callee));
            } else {
                refusals.push_back(fmt::format("{} at {:#x} does not call the {} found at {:#x}",
                                               wrapper, entry, callee_name, *callee));
            }
        }
    };
    check_callers("SSL_write", write_fn, "ssl_write_internal");
    check_callers("SSL_read", read_fn, "ssl_read_internal");

    // 5. ssl_write_internal gained a flags argument in OpenSSL 3.3 (for SSL_write_ex2),
    //    which moves `size_t *written` from the 4th to the 5th argument. Two independent
    //    signs: its reason codes (3.3+ rejects unknown flags with
    //    SSL_R_UNSUPPORTED_WRITE_FLAGS) and the version text, when the linker kept it.
    Role write_role = Role::SslWriteInternal;
    if (write_fn) {
        std::set<uint32_t> reasons;
        size_t without_reason = 0;
        for (const auto& [end, site] : sites_by_end) {
            auto f = attribution.function_of_site.find(end);
            if (f == attribution.function_of_site.end() || f->second != *write_fn ||
                site.function != "ssl_write_internal")
                continue;
            site.reason ? (void)reasons.insert(*site.reason) : (void)++without_reason;
        }
        const bool flags_by_reason = reasons.contains(kSslRUnsupportedWriteFlags);
        std::string reason_text;
        for (uint32_t r : reasons)
            reason_text += fmt::format("{}{}", reason_text.empty() ? "" : ",", r);
        const auto version_texts = find_openssl_version_texts(image);
        const VersionInfo version = parse_version(version_texts);
        std::optional<bool> flags_by_version;
        if (version.major)
            flags_by_version = *version.major == 3 && *version.minor >= 3;
        result.evidence.push_back(fmt::format(
            "ssl_write_internal reasons {{{}}}{}; version text {}", reason_text,
            without_reason ? fmt::format(" ({} sites without a literal reason)", without_reason)
                           : std::string(),
            version.major ? "\"" + version.text + "\"" : std::string("not found")));
        if (reasons.empty()) {
            refusals.push_back(
                "the reason codes of ssl_write_internal could not be read, and its arguments "
                "depend on the OpenSSL version (written is the 5th argument since 3.3)");
        } else if (flags_by_version && *flags_by_version != flags_by_reason) {
            refusals.push_back(fmt::format(
                "version text \"{}\" and the reason codes of ssl_write_internal disagree on its "
                "arguments",
                version.text));
        } else {
            if (flags_by_reason)
                write_role = Role::SslWriteInternalFlags;
            result.evidence.push_back(fmt::format(
                "ssl_write_internal takes {}", flags_by_reason
                                                   ? "(ssl, buf, num, flags, written): OpenSSL 3.3+"
                                                   : "(ssl, buf, num, written): OpenSSL 3.0-3.2"));
        }
    }

    if (!refusals.empty()) {
        std::string text = "stripped OpenSSL: ";
        for (size_t i = 0; i < refusals.size(); ++i)
            text += (i ? "; " : "") + refusals[i];
        return refuse(std::move(result), std::move(text));
    }
    auto add = [&](Role role, uint64_t entry, const char* name) {
        auto offset = image.file_offset_of(entry);
        if (!offset) {
            refusals.push_back(fmt::format("{} at {:#x} is not backed by the file", name, entry));
            return;
        }
        const FunctionFacts& facts = attribution.functions.at(entry);
        result.targets.push_back(Target{
            role, entry, *offset,
            fmt::format("{}: the only function reporting it; error sites {}; {} direct callers{}",
                        name, describe(entry), attribution.direct_callers.at(entry),
                        facts.complete ? "" : "; control flow not fully followed")});
    };
    add(write_role, *write_fn, "ssl_write_internal");
    add(Role::SslReadInternal, *read_fn, "ssl_read_internal");
    if (handshake_fn)
        add(Role::SslDoHandshake, *handshake_fn, "SSL_do_handshake");
    if (shutdown_fn)
        add(Role::SslShutdown, *shutdown_fn, "SSL_shutdown");
    if (!refusals.empty())
        return refuse(std::move(result), "stripped OpenSSL: " + refusals.front());
    std::sort(result.targets.begin(), result.targets.end(),
              [](const Target& a, const Target& b) { return a.role < b.role; });
    return result;
}

}  // namespace ct::locate::openssl
