// libFuzzer target: the last bytes of a file in a directory that ct-analyze
// --watch ships (anyone who can write there chooses them), scanned for a capture
// trailer that ends the file.
#include <cstddef>
#include <cstdint>
#include <span>

#include "ship.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::span<const std::uint8_t> tail(data, size);
    const bool ends = ct::analyze::tail_ends_with_trailer(tail);
    // A trailer frame has at least 16 bytes (8 of frame head, 8 of its own head).
    if (ends && size < 16)
        __builtin_trap();
    return 0;
}
