// Finding frames again after damage (capture-format.md, 4: reading rules).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace ct::replay {

// The offset of the first frame magic (zstd's, or a skippable frame's 0x184D2A5?)
// in `v`, or v.size(). memmem finds the candidates: a long damaged stretch is
// scanned at memory speed, not byte by byte.
inline std::size_t find_frame_magic(std::span<const std::uint8_t> v) {
    const auto* base = v.data();
    const std::size_t n = v.size();
    auto find = [&](std::size_t from, const char* pattern) -> std::size_t {
        if (from >= n)
            return n;
        const void* hit = ::memmem(base + from, n - from, pattern, 3);
        return hit ? static_cast<std::size_t>(static_cast<const std::uint8_t*>(hit) - base) : n;
    };
    // Little-endian bytes: 28 B5 2F FD; 5? 2A 4D 18 (the last three found, then the first).
    std::size_t zstd = find(0, "\x28\xB5\x2F");
    while (zstd + 4 <= n && base[zstd + 3] != 0xFD)
        zstd = find(zstd + 1, "\x28\xB5\x2F");
    std::size_t skippable = find(1, "\x2A\x4D\x18");
    while (skippable < n && (base[skippable - 1] & 0xF0) != 0x50)
        skippable = find(skippable + 1, "\x2A\x4D\x18");
    const std::size_t first = std::min(zstd + 4 <= n ? zstd : n, skippable < n ? skippable - 1 : n);
    return first;
}

}  // namespace ct::replay
