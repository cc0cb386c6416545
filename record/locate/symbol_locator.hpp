// Locating the TLS functions of a binary that has symbols (OpenSSL's libssl, node,
// GnuTLS's libgnutls, or anything with a .dynsym/.symtab entry for SSL_write or
// gnutls_record_send).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "locate/elf_image.hpp"
#include "locate/tls_locator.hpp"

namespace ct::locate {

struct SymbolLookup {
    bool defines_tls = false;  // some SSL_* or gnutls_* role symbol is defined here
    bool openssl = false;      // ... an SSL_* one
    bool gnutls = false;       // ... a gnutls_* one
    std::string how_found;     // "dynsym", "symtab" or "dynsym+symtab"
    std::vector<Target> targets;
    std::optional<std::string> refusal;
    std::vector<std::string> evidence;
};

SymbolLookup locate_by_symbols(const ElfImage& image);

}  // namespace ct::locate
