// Results of the structural analysis, cached per build-id: the analysis reads a few
// hundred MB, the cache file is a few KB. One small text file per build-id:
//
//   ct-locator-cache 1                    format of this file
//   locator <N>                           kLocatorVersion; any other value: ignored
//   build-id <hex>                        or nobuildid-<fingerprint> (cache_identity)
//   file-size <bytes>
//   flavor <Flavor value> <how_found>
//   go-version <escaped text>             only for Go executables
//   refusal <escaped text>                only when refused
//   evidence <escaped text>               repeated, in order
//   unprobed <escaped text>               TLS code ct has no probes for (rustls), repeated
//   target <Role value> <vaddr hex> <file offset hex> <16 bytes hex at offset> <escaped evidence>
//   end <FNV-1a 64 of every byte before this line, hex>
//
// A file that fails any check (format, version, build-id, size, checksum, or code bytes
// at a target that differ from the binary's) is ignored and rewritten. An int3 (0xcc)
// in the first code byte of a target, on either side, is a uprobe, not a difference.
#pragma once

#include <optional>
#include <string>

#include "locate/elf_image.hpp"
#include "locate/tls_locator.hpp"

namespace ct::locate {

// Bump whenever the analysis could give a different answer for the same binary, or
// the numbers of Role or Flavor (written in cache files) change. 3: GnuTLS, Go and
// stripped-OpenSSL roles numbered together; 4: BIO_write/BIO_write_ex roles (a cache
// written before them would leave node's connections without the ciphertext match).
inline constexpr int kLocatorVersion = 4;

// The build-id, or for a binary without one a fingerprint of its size, headers and
// samples of its contents ("nobuildid-<hex>").
std::string cache_identity(const ElfImage& image);

std::string cache_file_path(const std::string& cache_dir, const std::string& build_id_hex);

// The cached report for this binary, or nullopt (with `why_not` set) when there is no
// usable cache file.
std::optional<BinaryReport> load_cached_report(const std::string& cache_dir, const ElfImage& image,
                                               std::string& why_not);

// Writes atomically (temporary file + rename). Errors are returned, not fatal.
Expected<void> store_cached_report(const std::string& cache_dir, const ElfImage& image,
                                   const BinaryReport& report);

}  // namespace ct::locate
