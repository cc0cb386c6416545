// Finds the __FILE__ strings that TLS libraries compile into their error calls:
// ".../ssl/ssl_lib.cc" (BoringSSL) and ".../ssl/ssl_lib.c" (OpenSSL). They are how
// the locator recognises TLS code in a binary without symbols.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "locate/elf_image.hpp"

namespace ct::locate {

struct SourcePathString {
    uint64_t vaddr = 0;
    uint64_t file_offset = 0;
    std::string text;
};

struct TlsSourceStrings {
    std::vector<SourcePathString> boringssl_ssl_lib;  // ends in "ssl/ssl_lib.cc"
    std::vector<SourcePathString> openssl_ssl_lib;    // ends in "ssl/ssl_lib.c"
    // Rust's rustls crate, from the crate paths of panic locations ("rustls-0.23.46"),
    // distinct versions in the order found. ct has no probes for rustls.
    std::vector<std::string> rustls_crates;
};

// Searches the read-only loaded data: the read-only segments, or the code segment
// when the binary has none.
TlsSourceStrings find_tls_source_strings(const ElfImage& image);

}  // namespace ct::locate
