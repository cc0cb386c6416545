// Locates SSL_write, SSL_read, SSL_do_handshake (and, when certain, SSL_new and
// SSL_shutdown) in a binary with BoringSSL linked in and its symbols stripped, such as
// a Bun executable. Anchors on the ssl/ssl_lib.cc __FILE__ string; see docs/locator.md.
#pragma once

#include <vector>

#include "locate/elf_image.hpp"
#include "locate/source_strings.hpp"
#include "locate/structural_result.hpp"

namespace ct::locate::boringssl {

StructuralResult locate_stripped_boringssl(const ElfImage& image,
                                           const std::vector<SourcePathString>& ssl_lib_paths);

}  // namespace ct::locate::boringssl
