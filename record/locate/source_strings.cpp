#include "locate/source_strings.hpp"

#include <cstring>
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

void scan_segment(const ElfImage& image, const LoadSegment& segment, TlsSourceStrings& out) {
    const auto data = image.segment_bytes(segment);
    scan_in_chunks(image.file(), data, kScanChunk, kNeedle.size() + 2,
                   [&](std::span<const uint8_t> piece, size_t start, size_t owned) {
                       const uint8_t* p = piece.data();
                       const uint8_t* end = piece.data() + piece.size();
                       while (p < end) {
                           const void* hit = memmem(p, static_cast<size_t>(end - p), kNeedle.data(),
                                                    kNeedle.size());
                           if (hit == nullptr)
                               break;
                           const auto at =
                               static_cast<size_t>(static_cast<const uint8_t*>(hit) - piece.data());
                           if (at >= owned)
                               break;
                           consider_match(segment, data, start + at, out);
                           p = static_cast<const uint8_t*>(hit) + 1;
                       }
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
