// Finds the TLS library functions to uprobe in an ELF object: by symbol when the
// binary has them (OpenSSL, node, anything with .dynsym/.symtab), or from the
// structure of the code for stripped BoringSSL (Bun executables such as the native
// Claude Code). See docs/locator.md.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"

namespace ct::locate {

// The functions a recorder may hook. Values are stable (they appear in cache files).
// GnuTLS's (gnutls_*) are found by symbol only: libgnutls exports them.
enum class Role : uint8_t {
    SslWrite = 0,
    SslWriteEx = 1,
    SslRead = 2,
    SslReadEx = 3,
    SslDoHandshake = 4,
    SslNew = 5,
    SslFree = 6,
    SslClear = 7,
    SslShutdown = 8,
    GnutlsRecordSend = 9,
    GnutlsRecordSend2 = 10,
    GnutlsRecordSendRange = 11,
    GnutlsRecordSendEarlyData = 12,
    GnutlsRecordRecv = 13,
    GnutlsRecordRecvSeq = 14,
    GnutlsRecordRecvEarlyData = 15,
    GnutlsHandshake = 16,
    GnutlsDeinit = 17,
    // Go crypto/tls (located from the pclntab, never by symbol).
    GoConnWrite = 18,        // entry of crypto/tls.(*Conn).Write
    GoConnRead = 19,         // entry of crypto/tls.(*Conn).Read
    GoConnWriteReturn = 20,  // one RET instruction of (*Conn).Write
    GoConnReadReturn = 21,   // one RET instruction of (*Conn).Read
    GoConnClose = 22,        // entry of crypto/tls.(*Conn).Close
    // Stripped static OpenSSL 3 (no exported symbols): the internal functions every
    // SSL_write*/SSL_read* call goes through, hooked instead of the API functions.
    SslReadInternal = 23,         // ssl_read_internal(ssl, buf, num, readbytes): SSL_read_ex's ABI
    SslWriteInternal = 24,        // ssl_write_internal(ssl, buf, num, written), OpenSSL 3.0-3.2
    SslWriteInternalFlags = 25,   // ssl_write_internal(ssl, buf, num, flags, written), 3.3+
    // OpenSSL's BIO_write/BIO_write_ex (libcrypto, or node with OpenSSL linked in): the
    // ciphertext a TLS call hands to its BIO, which ties a connection to its socket.
    BioWrite = 26,
    BioWriteEx = 27,
};
// The exported API roles of OpenSSL (OpenSSL, BoringSSL, node), looked up by symbol name.
inline constexpr Role kAllRoles[] = {Role::SslWrite,  Role::SslWriteEx,     Role::SslRead,
                                     Role::SslReadEx, Role::SslDoHandshake, Role::SslNew,
                                     Role::SslFree,   Role::SslClear,       Role::SslShutdown};
// GnuTLS's: every entry point that moves application plaintext, the handshake and
// the end of a session. gnutls_record_send2 and the early-data pair exist since
// GnuTLS 3.6.x; older versions simply lack them.
inline constexpr Role kGnutlsRoles[] = {
    Role::GnutlsRecordSend,          Role::GnutlsRecordSend2, Role::GnutlsRecordSendRange,
    Role::GnutlsRecordSendEarlyData, Role::GnutlsRecordRecv,  Role::GnutlsRecordRecvSeq,
    Role::GnutlsRecordRecvEarlyData, Role::GnutlsHandshake,   Role::GnutlsDeinit};
// Found by symbol next to the API roles, or alone (libcrypto.so); never required.
inline constexpr Role kBioRoles[] = {Role::BioWrite, Role::BioWriteEx};
inline constexpr Role kLastRole = Role::BioWriteEx;
bool is_gnutls_role(Role role);
bool is_bio_role(Role role);

// The roles found by symbol; the Go and stripped-OpenSSL roles are never looked up by
// name this way. "SSL_write", "SSL_read_ex", "gnutls_record_send", ...,
// "ssl_read_internal", "crypto/tls.(*Conn).Write", "crypto/tls.(*Conn).Write RET"
const char* role_symbol(Role role);
std::optional<Role> role_from_symbol(std::string_view symbol);

struct Target {
    Role role;
    uint64_t vaddr = 0;        // virtual address as linked
    uint64_t file_offset = 0;  // what a uprobe attach needs
    std::string evidence;      // why this address is that function
};

enum class Flavor : uint8_t {
    None = 0,               // no TLS library code in this object
    OpenSslSymbols = 1,     // SSL_* found by symbol (OpenSSL, or any library with symbols)
    BoringSslStripped = 2,  // BoringSSL without symbols, found from code structure
    OpenSslStripped = 3,    // OpenSSL 3 without symbols, found from code structure
    GnutlsSymbols = 4,      // gnutls_record_send/recv found by symbol (libgnutls.so.30)
    GoCryptoTls = 5,        // Go crypto/tls, found from the pclntab (stripped or not)
};
inline constexpr Flavor kLastFlavor = Flavor::GoCryptoTls;  // cache files check against it
const char* flavor_name(Flavor flavor);

struct BinaryReport {
    std::string path;
    std::string build_id_hex;  // empty when the object has no GNU build-id note
    uint64_t device = 0, inode = 0, file_size = 0;
    Flavor flavor = Flavor::None;
    // "dynsym", "symtab", "dynsym+symtab", "boringssl-structure", "openssl-structure",
    // "go-pclntab", "rustls-strings" (rustls only, nothing to hook), "none"
    std::string how_found;
    std::vector<Target> targets;         // empty when refused or no TLS
    std::optional<std::string> refusal;  // set when the object has TLS code we will not hook
    std::vector<std::string> evidence;   // what was looked at, in order
    // TLS code in this object that ct has no probes for, e.g. "rustls-0.23.46": its
    // traffic, if any, is not recorded (named in the probe report and the unseen-traffic
    // summary).
    std::vector<std::string> unprobed_tls;
    bool from_cache = false;
    std::string go_version;  // Go executables: "go1.19.8" from the buildinfo blob

    const Target* find(Role role) const;
};

struct LocatorOptions {
    // Read and write the per-build-id result cache (structural analyses only: symbol
    // lookups are faster than reading a cache file).
    bool use_cache = true;
    // Empty: $CT_CACHE_DIR, else $XDG_CACHE_HOME/ct/locator, else ~/.cache/ct/locator.
    std::string cache_dir;
};

// The cache directory used when LocatorOptions::cache_dir is empty.
std::string default_cache_dir();

// Error only when `path` cannot be read or is not a well-formed ELF object. A binary
// without TLS code gives Flavor::None and no targets; TLS code that cannot be located
// with certainty gives no targets and a refusal saying why.
Expected<BinaryReport> locate_tls_functions(const std::string& path,
                                            const LocatorOptions& options = {});

// One ELF file mapped executable in a process.
struct MappedBinary {
    std::string path_in_process;  // as /proc/PID/maps shows it, without " (deleted)"
    std::string access_path;      // openable from our mount namespace
    uint64_t device = 0, inode = 0;
    bool deleted = false;  // unlinked (or replaced) since the process mapped it
    bool is_main_executable = false;
};

// Distinct ELF files mapped executable in /proc/PID/maps plus /proc/PID/exe,
// deduplicated by (device, inode). Empty when the process is gone or unreadable;
// read_mapped_binaries() says which.
std::vector<MappedBinary> mapped_binaries(pid_t pid);
Expected<std::vector<MappedBinary>> read_mapped_binaries(pid_t pid);

// Human-readable: each function, file offset, vaddr and evidence, or why it refused.
std::string format_probe_report(const BinaryReport& report);

// `ct-record --probe-report BINARY_OR_PID`. An argument of decimal digits is a PID.
// Returns 0 when nothing was refused, 1 when some TLS object was refused, 2 when the
// binary or process could not be examined.
int run_probe_report(const std::string& binary_or_pid, std::ostream& out,
                     const LocatorOptions& options = {});

}  // namespace ct::locate
