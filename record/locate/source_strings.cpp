#include "locate/source_strings.hpp"

#include <cstring>
#include <string>
#include <string_view>

namespace ct::locate {
namespace {

constexpr std::string_view kNeedle = "ssl/ssl_lib.c";
constexpr size_t kScanChunk = 8u << 20;
constexpr size_t kMaxPathLength = 4096;

// The whole NUL-terminated string around a match, provided the match is a complete
// path component ("ssl/" at the start or after '/') and is followed by "\0" or "c\0".
void consider_match(const LoadSegment& segment, std::span<const uint8_t> data, size_t at,
                    TlsSourceStrings& out) {
    const size_t after = at + kNeedle.size();
    bool boringssl = false;
    if (after < data.size() && data[after] == 0) {
        boringssl = false;
    } else if (after + 1 < data.size() && data[after] == 'c' && data[after + 1] == 0) {
        boringssl = true;
    } else {
        return;
    }
    if (at > 0 && data[at - 1] != '/' && data[at - 1] != 0)
        return;
    size_t begin = at;
    while (begin > 0 && data[begin - 1] != 0 && at - begin < kMaxPathLength)
        --begin;
    if (begin > 0 && data[begin - 1] != 0)
        return;  // too long to be a path
    const size_t end = after + (boringssl ? 1 : 0);
    SourcePathString found;
    found.file_offset = segment.offset + begin;
    found.vaddr = segment.vaddr + begin;
    found.text.assign(reinterpret_cast<const char*>(data.data() + begin), end - begin);
    (boringssl ? out.boringssl_ssl_lib : out.openssl_ssl_lib).push_back(std::move(found));
}

// rustls's crate directory in the panic locations of a Rust binary:
// ".../index.crates.io-<hash>/rustls-0.23.46/src/conn.rs" (cargo), or
// "external/+c+vendor__rustls-0.23.46/src/..." (Bazel). The version ends at '/'.
constexpr std::string_view kRustlsNeedle = "rustls-0.";
constexpr size_t kMaxCrateVersionLength = 24;

void consider_rustls_match(std::span<const uint8_t> data, size_t at, TlsSourceStrings& out) {
    if (at == 0 || (data[at - 1] != '/' && data[at - 1] != '_'))
        return;
    const size_t begin = at;
    size_t end = begin + kRustlsNeedle.size();
    while (end < data.size() && end - begin < kMaxCrateVersionLength &&
           ((data[end] >= '0' && data[end] <= '9') || data[end] == '.'))
        ++end;
    if (end >= data.size() || data[end] != '/' || data[end - 1] == '.')
        return;
    std::string crate(reinterpret_cast<const char*>(data.data() + begin), end - begin);
    for (const auto& known : out.rustls_crates) {
        if (known == crate)
            return;
    }
    out.rustls_crates.push_back(std::move(crate));
}

template <typename OnMatch>
void scan_segment_for(const ElfImage& image, const LoadSegment& segment, std::string_view needle,
                      OnMatch on_match) {
    const auto data = image.segment_bytes(segment);
    scan_in_chunks(image.file(), data, kScanChunk, needle.size() + kMaxCrateVersionLength + 2,
                   [&](std::span<const uint8_t> piece, size_t start, size_t owned) {
                       for_each_match(piece, owned, text_bytes(needle),
                                      [&](size_t at) { on_match(data, start + at); });
                   });
}

void scan_segment(const ElfImage& image, const LoadSegment& segment, TlsSourceStrings& out) {
    scan_segment_for(image, segment, kNeedle, [&](std::span<const uint8_t> data, size_t at) {
        consider_match(segment, data, at, out);
    });
    scan_segment_for(image, segment, kRustlsNeedle, [&](std::span<const uint8_t> data, size_t at) {
        consider_rustls_match(data, at, out);
    });
}

}  // namespace

TlsSourceStrings find_tls_source_strings(const ElfImage& image) {
    TlsSourceStrings found;
    // Linkers that give constants a read-only segment (ld -z separate-code, lld) never
    // put them in the code segment; older layouts (gold, ld -z noseparate-code) have no
    // such segment and keep .rodata next to .text.
    bool has_read_only_data = false;
    for (const auto& segment : image.loads()) {
        if (segment.readable && !segment.writable && !segment.executable) {
            has_read_only_data = true;
            scan_segment(image, segment, found);
        }
    }
    if (!has_read_only_data) {
        for (const auto& segment : image.loads()) {
            if (!segment.writable && segment.executable) {
                scan_segment(image, segment, found);
            }
        }
    }
    return found;
}

}  // namespace ct::locate
