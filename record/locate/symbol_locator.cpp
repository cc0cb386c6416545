#include "locate/symbol_locator.hpp"

#include <elf.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

namespace ct::locate {
namespace {

// Roles whose absence makes a symbol-flavoured binary unusable, per API.
constexpr Role kRequiredRoles[] = {Role::SslWrite, Role::SslRead};
constexpr Role kRequiredGnutlsRoles[] = {Role::GnutlsRecordSend, Role::GnutlsRecordRecv};

struct Candidate {
    uint64_t value = 0;
    uint64_t size = 0;
    std::string table;
    std::string stored_name;
    bool version_hidden = false;
};

std::string describe(const Candidate& c) {
    return fmt::format("{} {} = {:#x} (size {:#x})", c.table, c.stored_name, c.value, c.size);
}

struct Scan {
    std::map<Role, std::vector<Candidate>> candidates;
    std::vector<std::string> imported;  // SSL_* roles referenced but defined elsewhere
    std::vector<std::string> problems;  // definitions we cannot hook
};

void scan_table(const ElfImage& image, SymbolTable which, Scan& scan,
                std::vector<std::string>& evidence) {
    const char* table = which == SymbolTable::Dynamic ? "dynsym" : "symtab";
    auto ok = image.for_each_symbol(which, [&](const SymbolEntry& sym) {
        // Cheap reject first: almost every symbol fails here.
        if (sym.name.size() < 5 ||
            (sym.name.compare(0, 4, "SSL_") != 0 && sym.name.compare(0, 7, "gnutls_") != 0 &&
             sym.name.compare(0, 9, "BIO_write") != 0))
            return;
        const std::string_view base = sym.name.substr(0, sym.name.find('@'));
        const std::optional<Role> role = role_from_symbol(base);
        if (!role)
            return;
        if (sym.section_index == SHN_UNDEF) {
            scan.imported.emplace_back(base);
            return;
        }
        std::string stored(sym.name);
        bool hidden = sym.version_hidden;
        if (const size_t at = sym.name.find('@'); at != std::string_view::npos) {
            // A .symtab spells the version into the name: "@@" default, "@" hidden.
            hidden = sym.name.compare(at, 2, "@@") != 0;
        } else if (!sym.version.empty()) {
            stored += fmt::format("{}{}", hidden ? "@" : "@@", sym.version);
        }
        if (sym.type == STT_GNU_IFUNC) {
            // The symbol's address is a resolver, not the function. (BIO_write only helps
            // to find sockets: without it, nothing is refused.)
            if (!is_bio_role(*role))
                scan.problems.push_back(fmt::format("{} {} is an IFUNC resolver", table, stored));
            return;
        }
        if (sym.type != STT_FUNC || sym.value == 0)
            return;
        scan.candidates[*role].push_back(
            Candidate{sym.value, sym.size, table, std::move(stored), hidden});
    });
    if (!ok)
        evidence.push_back(fmt::format("{} unreadable: {}", table, ok.error().message));
}

bool has_any_gnutls(const Scan& scan) {
    return std::any_of(scan.candidates.begin(), scan.candidates.end(),
                       [](const auto& c) { return is_gnutls_role(c.first); });
}

bool has_any_openssl(const Scan& scan) {
    return std::any_of(scan.candidates.begin(), scan.candidates.end(), [](const auto& c) {
        return !is_gnutls_role(c.first) && !is_bio_role(c.first);
    });
}

// Every role of each API the binary defines some of.
bool has_all_roles(const Scan& scan) {
    if (scan.candidates.empty())
        return false;
    auto has = [&](Role r) { return scan.candidates.contains(r); };
    if (has_any_openssl(scan) && !std::all_of(std::begin(kAllRoles), std::end(kAllRoles), has))
        return false;
    return !has_any_gnutls(scan) ||
           std::all_of(std::begin(kGnutlsRoles), std::end(kGnutlsRoles), has);
}

}  // namespace

SymbolLookup locate_by_symbols(const ElfImage& image) {
    SymbolLookup result;
    Scan scan;
    std::vector<std::string> tables;
    if (image.has_symbol_table(SymbolTable::Dynamic)) {
        scan_table(image, SymbolTable::Dynamic, scan, result.evidence);
        if (!scan.candidates.empty())
            tables.emplace_back("dynsym");
    }
    // .dynsym usually has everything; only fall back to .symtab when it does not.
    if (!has_all_roles(scan) && image.has_symbol_table(SymbolTable::Static)) {
        const size_t before = scan.candidates.size();
        scan_table(image, SymbolTable::Static, scan, result.evidence);
        if (scan.candidates.size() > before || (before == 0 && !scan.candidates.empty())) {
            tables.emplace_back("symtab");
        }
    }
    if (!image.has_sections())
        result.evidence.emplace_back("no section headers: no symbols");

    if (scan.candidates.empty()) {
        if (!scan.imported.empty()) {
            std::set<std::string> names(scan.imported.begin(), scan.imported.end());
            std::string list;
            for (const auto& n : names)
                list += (list.empty() ? "" : ", ") + n;
            result.evidence.push_back("imports " + list +
                                      " from a shared library (hooked there, not here)");
        }
        if (!scan.problems.empty()) {
            result.defines_tls = true;
            result.refusal = scan.problems.front();
        }
        return result;
    }
    result.defines_tls = true;
    result.openssl = has_any_openssl(scan);
    result.gnutls = has_any_gnutls(scan);
    for (size_t i = 0; i < tables.size(); ++i)
        result.how_found += (i ? "+" : "") + tables[i];

    std::vector<std::string> refusals = scan.problems;
    for (auto& [role, candidates] : scan.candidates) {
        // Several versions of one name: the default version (@@) is what callers bind to.
        if (std::any_of(candidates.begin(), candidates.end(),
                        [](const Candidate& c) { return !c.version_hidden; })) {
            std::erase_if(candidates, [](const Candidate& c) { return c.version_hidden; });
        }
        std::set<uint64_t> addresses;
        for (const auto& c : candidates)
            addresses.insert(c.value);
        // A BIO_write that cannot be hooked costs socket attribution, not the plaintext:
        // it is left out, never a reason to refuse the binary.
        auto& problems = is_bio_role(role) ? result.evidence : refusals;
        if (addresses.size() != 1) {
            std::string list;
            for (const auto& c : candidates)
                list += (list.empty() ? "" : "; ") + describe(c);
            problems.push_back(fmt::format("{}: {} different addresses ({})", role_symbol(role),
                                           addresses.size(), list));
            continue;
        }
        const Candidate& chosen = candidates.front();
        const LoadSegment* segment = image.segment_of(chosen.value);
        if (segment == nullptr || !segment->executable) {
            problems.push_back(fmt::format("{}: {:#x} is not inside an executable PT_LOAD",
                                           role_symbol(role), chosen.value));
            continue;
        }
        const uint64_t offset = segment->offset + (chosen.value - segment->vaddr);
        std::string evidence = describe(chosen);
        if (candidates.size() > 1) {
            evidence += fmt::format(" (also in {})", candidates.back().table);
        }
        evidence +=
            fmt::format("; PT_LOAD vaddr {:#x} -> offset {:#x}", segment->vaddr, segment->offset);
        result.targets.push_back(Target{role, chosen.value, offset, std::move(evidence)});
    }
    if (result.openssl) {
        for (Role role : kRequiredRoles) {
            if (!scan.candidates.contains(role)) {
                refusals.push_back(
                    fmt::format("{}: no symbol, although other SSL_* functions are "
                                "defined here",
                                role_symbol(role)));
            }
        }
    }
    if (result.gnutls) {
        for (Role role : kRequiredGnutlsRoles) {
            if (!scan.candidates.contains(role)) {
                refusals.push_back(
                    fmt::format("{}: no symbol, although other gnutls_* functions are "
                                "defined here",
                                role_symbol(role)));
            }
        }
    }
    if (!refusals.empty()) {
        std::string text;
        for (const auto& r : refusals)
            text += (text.empty() ? "" : "; ") + r;
        result.refusal = std::move(text);
        result.targets.clear();
    }
    std::sort(result.targets.begin(), result.targets.end(),
              [](const Target& a, const Target& b) { return a.role < b.role; });
    return result;
}

}  // namespace ct::locate
