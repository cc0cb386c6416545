#include "locate/tls_locator.hpp"

#include <elf.h>
#include <fmt/format.h>

#include <cstdlib>

#include "locate/boringssl/stripped_boringssl_locator.hpp"
#include "locate/elf_image.hpp"
#include "locate/locator_cache.hpp"
#include "locate/source_strings.hpp"
#include "locate/symbol_locator.hpp"

namespace ct::locate {

const char* role_symbol(Role role) {
    switch (role) {
        case Role::SslWrite:
            return "SSL_write";
        case Role::SslWriteEx:
            return "SSL_write_ex";
        case Role::SslRead:
            return "SSL_read";
        case Role::SslReadEx:
            return "SSL_read_ex";
        case Role::SslDoHandshake:
            return "SSL_do_handshake";
        case Role::SslNew:
            return "SSL_new";
        case Role::SslFree:
            return "SSL_free";
        case Role::SslClear:
            return "SSL_clear";
        case Role::SslShutdown:
            return "SSL_shutdown";
    }
    return "?";
}

std::optional<Role> role_from_symbol(std::string_view symbol) {
    for (Role role : kAllRoles) {
        if (symbol == role_symbol(role))
            return role;
    }
    return std::nullopt;
}

const char* flavor_name(Flavor flavor) {
    switch (flavor) {
        case Flavor::None:
            return "none";
        case Flavor::OpenSslSymbols:
            return "symbols";
        case Flavor::BoringSslStripped:
            return "stripped BoringSSL";
        case Flavor::OpenSslStripped:
            return "stripped OpenSSL (unsupported)";
    }
    return "?";
}

const Target* BinaryReport::find(Role role) const {
    for (const auto& target : targets) {
        if (target.role == role)
            return &target;
    }
    return nullptr;
}

std::string default_cache_dir() {
    if (const char* dir = std::getenv("CT_CACHE_DIR"); dir != nullptr && *dir != '\0') {
        return dir;
    }
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
        return std::string(xdg) + "/ct/locator";
    }
    if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
        return std::string(home) + "/.cache/ct/locator";
    }
    return "/var/cache/ct/locator";
}

namespace {

std::string describe_elf(const ElfImage& image) {
    const char* type = image.type() == ET_EXEC ? "EXEC" : image.type() == ET_DYN ? "DYN" : "other";
    return fmt::format("ELF {} machine {}, {} PT_LOAD segments, build-id {}", type, image.machine(),
                       image.loads().size(),
                       image.build_id_hex().empty() ? "none" : image.build_id_hex());
}

void locate_stripped(const ElfImage& image, const TlsSourceStrings& strings,
                     const LocatorOptions& options, BinaryReport& report) {
    report.flavor = Flavor::BoringSslStripped;
    report.how_found = "boringssl-structure";
    const bool cacheable = options.use_cache && !image.build_id_hex().empty();
    const std::string cache_dir =
        options.cache_dir.empty() ? default_cache_dir() : options.cache_dir;
    std::string cache_note;
    if (cacheable) {
        if (auto cached = load_cached_report(cache_dir, image, cache_note)) {
            cached->path = report.path;
            cached->build_id_hex = report.build_id_hex;
            cached->device = report.device;
            cached->inode = report.inode;
            cached->file_size = report.file_size;
            report = std::move(*cached);
            return;
        }
    }
    auto result = boringssl::locate_stripped_boringssl(image, strings.boringssl_ssl_lib);
    for (auto& line : result.evidence)
        report.evidence.push_back(std::move(line));
    report.targets = std::move(result.targets);
    report.refusal = std::move(result.refusal);
    if (cacheable) {
        if (auto stored = store_cached_report(cache_dir, image, report); !stored) {
            report.evidence.push_back("cache not written: " + stored.error().what());
        } else if (cache_note != "no cache file") {
            report.evidence.push_back("cache rewritten (" + cache_note + ")");
        }
    }
}

}  // namespace

Expected<BinaryReport> locate_tls_functions(const std::string& path,
                                            const LocatorOptions& options) {
    auto image = ElfImage::open(path);
    if (!image)
        return std::unexpected(image.error());
    BinaryReport report;
    report.path = path;
    report.build_id_hex = image->build_id_hex();
    report.device = image->file().device();
    report.inode = image->file().inode();
    report.file_size = image->file().size();
    report.evidence.push_back(describe_elf(*image));

    // 1. Symbols: exact, and cheap enough for every library of every process.
    SymbolLookup symbols = locate_by_symbols(*image);
    for (auto& line : symbols.evidence)
        report.evidence.push_back(std::move(line));
    if (symbols.defines_tls) {
        report.flavor = Flavor::OpenSslSymbols;
        report.how_found = symbols.how_found;
        report.targets = std::move(symbols.targets);
        report.refusal = std::move(symbols.refusal);
        return report;
    }

    // 2. No symbols: TLS code still leaves its source paths behind.
    const TlsSourceStrings strings = find_tls_source_strings(*image);
    if (!strings.boringssl_ssl_lib.empty()) {
        locate_stripped(*image, strings, options, report);
        return report;
    }
    if (!strings.openssl_ssl_lib.empty()) {
        report.flavor = Flavor::OpenSslStripped;
        report.how_found = "openssl-strings";
        report.evidence.push_back(fmt::format("OpenSSL source path \"{}\" at vaddr {:#x}",
                                              strings.openssl_ssl_lib.front().text,
                                              strings.openssl_ssl_lib.front().vaddr));
        report.refusal = "OpenSSL code without SSL_* symbols: stripped OpenSSL is not supported";
        return report;
    }
    report.how_found = "none";
    report.evidence.emplace_back("no SSL_* symbols and no ssl/ssl_lib.c(c) source path");
    return report;
}

}  // namespace ct::locate
