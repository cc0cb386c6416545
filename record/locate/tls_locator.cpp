#include "locate/tls_locator.hpp"

#include <elf.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "locate/boringssl/stripped_boringssl_locator.hpp"
#include "locate/elf_image.hpp"
#include "locate/go/go_tls_locator.hpp"
#include "locate/locator_cache.hpp"
#include "locate/openssl/stripped_openssl_locator.hpp"
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
        case Role::GnutlsRecordSend:
            return "gnutls_record_send";
        case Role::GnutlsRecordSend2:
            return "gnutls_record_send2";
        case Role::GnutlsRecordSendRange:
            return "gnutls_record_send_range";
        case Role::GnutlsRecordSendEarlyData:
            return "gnutls_record_send_early_data";
        case Role::GnutlsRecordRecv:
            return "gnutls_record_recv";
        case Role::GnutlsRecordRecvSeq:
            return "gnutls_record_recv_seq";
        case Role::GnutlsRecordRecvEarlyData:
            return "gnutls_record_recv_early_data";
        case Role::GnutlsHandshake:
            return "gnutls_handshake";
        case Role::GnutlsDeinit:
            return "gnutls_deinit";
        case Role::GoConnWrite:
            return "crypto/tls.(*Conn).Write";
        case Role::GoConnRead:
            return "crypto/tls.(*Conn).Read";
        case Role::GoConnWriteReturn:
            return "crypto/tls.(*Conn).Write RET";
        case Role::GoConnReadReturn:
            return "crypto/tls.(*Conn).Read RET";
        case Role::GoConnClose:
            return "crypto/tls.(*Conn).Close";
        case Role::SslReadInternal:
            return "ssl_read_internal";
        case Role::SslWriteInternal:
            return "ssl_write_internal";
        case Role::SslWriteInternalFlags:
            return "ssl_write_internal+flags";
        case Role::BioWrite:
            return "BIO_write";
        case Role::BioWriteEx:
            return "BIO_write_ex";
    }
    return "?";
}

std::optional<Role> role_from_symbol(std::string_view symbol) {
    for (Role role : kAllRoles) {
        if (symbol == role_symbol(role))
            return role;
    }
    for (Role role : kGnutlsRoles) {
        if (symbol == role_symbol(role))
            return role;
    }
    for (Role role : kBioRoles) {
        if (symbol == role_symbol(role))
            return role;
    }
    return std::nullopt;
}

bool is_gnutls_role(Role role) {
    return role >= Role::GnutlsRecordSend && role <= Role::GnutlsDeinit;
}

bool is_bio_role(Role role) {
    return role == Role::BioWrite || role == Role::BioWriteEx;
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
            return "stripped OpenSSL";
        case Flavor::GnutlsSymbols:
            return "GnuTLS symbols";
        case Flavor::GoCryptoTls:
            return "Go crypto/tls";
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

// The structural analysis reads hundreds of MB; its result is cached per build-id.
class ResultCache {
  public:
    ResultCache(const ElfImage& image, const LocatorOptions& options)
        : image_(image),
          enabled_(options.use_cache),
          dir_(options.cache_dir.empty() ? default_cache_dir() : options.cache_dir) {}

    std::optional<BinaryReport> load(const BinaryReport& identity) {
        if (!enabled_)
            return std::nullopt;
        auto cached = load_cached_report(dir_, image_, miss_reason_);
        if (!cached)
            return std::nullopt;
        cached->path = identity.path;
        cached->build_id_hex = identity.build_id_hex;
        cached->device = identity.device;
        cached->inode = identity.inode;
        cached->file_size = identity.file_size;
        return cached;
    }

    void store(BinaryReport& report) {
        if (!enabled_)
            return;
        if (auto stored = store_cached_report(dir_, image_, report); !stored) {
            report.evidence.push_back("cache not written: " + stored.error().what());
        } else if (miss_reason_ != "no cache file") {
            report.evidence.push_back("cache rewritten (" + miss_reason_ + ")");
        }
    }

  private:
    const ElfImage& image_;
    bool enabled_;
    std::string dir_;
    std::string miss_reason_;
};

}  // namespace

namespace {

// Steps 2 to 5: binaries whose TLS functions have no symbols.
BinaryReport locate_without_symbols(const ElfImage& image, BinaryReport report,
                                    const LocatorOptions& options) {
    // 2. A cached structural analysis of this very build.
    ResultCache cache(image, options);
    if (auto cached = cache.load(report))
        return std::move(*cached);

    // 3. No symbols: TLS code still leaves its source paths behind.
    const TlsSourceStrings strings = find_tls_source_strings(image);
    for (const auto& crate : strings.rustls_crates) {
        report.unprobed_tls.push_back(crate);
        report.evidence.push_back(fmt::format(
            "{} crate paths in panic locations: rustls is linked in; ct has no probes for it, "
            "connections made through it are not recorded",
            crate));
    }
    if (!strings.boringssl_ssl_lib.empty()) {
        report.flavor = Flavor::BoringSslStripped;
        report.how_found = "boringssl-structure";
        auto result = boringssl::locate_stripped_boringssl(image, strings.boringssl_ssl_lib);
        for (auto& line : result.evidence) {
            report.evidence.push_back(std::move(line));
        }
        report.targets = std::move(result.targets);
        report.refusal = std::move(result.refusal);
        cache.store(report);
        return report;
    }
    // 4. Go: crypto/tls from the pclntab, which even stripped Go executables keep.
    if (auto go_tls = go::locate_go_tls(image); go_tls.is_go) {
        for (auto& line : go_tls.evidence)
            report.evidence.push_back(std::move(line));
        report.go_version = go_tls.version;
        if (go_tls.has_tls) {
            report.flavor = Flavor::GoCryptoTls;
            report.how_found = "go-pclntab";
            report.targets = std::move(go_tls.targets);
            report.refusal = std::move(go_tls.refusal);
            cache.store(report);
            return report;
        }
    }
    if (!strings.openssl_ssl_lib.empty()) {
        report.flavor = Flavor::OpenSslStripped;
        report.how_found = "openssl-structure";
        auto result = openssl::locate_stripped_openssl(image, strings.openssl_ssl_lib);
        for (auto& line : result.evidence)
            report.evidence.push_back(std::move(line));
        report.targets = std::move(result.targets);
        report.refusal = std::move(result.refusal);
        cache.store(report);
        return report;
    }
    if (!strings.rustls_crates.empty()) {
        report.how_found = "rustls-strings";
        cache.store(report);
        return report;
    }
    report.how_found = "none";
    report.evidence.emplace_back(
        "no SSL_* or gnutls_record_* symbols and no ssl/ssl_lib.c(c) source path");
    return report;
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
    // BIO_write alone (libcrypto, or a binary whose SSL_* are hidden) names no TLS
    // function: the search goes on, and its BIO_write probes join whatever it finds.
    const bool bio_only = symbols.defines_tls && !symbols.openssl && !symbols.gnutls;
    if (symbols.defines_tls && !bio_only) {
        report.flavor =
            symbols.gnutls && !symbols.openssl ? Flavor::GnutlsSymbols : Flavor::OpenSslSymbols;
        report.how_found = symbols.how_found;
        report.targets = std::move(symbols.targets);
        report.refusal = std::move(symbols.refusal);
        return report;
    }
    BinaryReport out = locate_without_symbols(*image, std::move(report), options);
    if (bio_only && !symbols.refusal && !out.refusal && !symbols.targets.empty()) {
        if (out.flavor == Flavor::None) {
            out.flavor = Flavor::OpenSslSymbols;
            out.how_found = symbols.how_found;
        } else {
            out.how_found += "+" + symbols.how_found;
        }
        for (auto& target : symbols.targets)
            out.targets.push_back(std::move(target));
        std::sort(out.targets.begin(), out.targets.end(),
                  [](const Target& a, const Target& b) { return a.role < b.role; });
    }
    return out;
}

}  // namespace ct::locate
