// Locates OpenSSL 3's ssl_write_internal and ssl_read_internal (and, when certain,
// SSL_do_handshake and SSL_shutdown) in a binary that links OpenSSL statically with its
// symbols stripped: Rust programs built with openssl-sys's vendored OpenSSL (Codex CLI,
// Copilot CLI's runtime.node). Anchors on OpenSSL 3's error calls, which pass
// __FILE__ and __func__ to ERR_set_debug; see docs/locator.md.
#pragma once

#include <string>
#include <vector>

#include "locate/elf_image.hpp"
#include "locate/source_strings.hpp"
#include "locate/structural_result.hpp"

namespace ct::locate::openssl {

StructuralResult locate_stripped_openssl(const ElfImage& image,
                                         const std::vector<SourcePathString>& ssl_lib_paths);

// "OpenSSL 3.6.4 ..." version texts in the read-only data (OPENSSL_VERSION_TEXT).
std::vector<std::string> find_openssl_version_texts(const ElfImage& image);

}  // namespace ct::locate::openssl
