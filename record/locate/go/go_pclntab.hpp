// Bounds-checked readers of the two tables every Go executable carries, stripped or
// not: the pclntab (function names and entry addresses, which the Go runtime needs
// for stack traces) and the buildinfo blob (the Go version). Both are untrusted
// bytes: every offset is checked against the span it points into.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.hpp"

namespace ct::locate::go {

// pclntab header magics (runtime/symtab.go).
inline constexpr std::uint32_t kPclntabMagic12 = 0xfffffffb;   // Go 1.2 to 1.15
inline constexpr std::uint32_t kPclntabMagic116 = 0xfffffffa;  // Go 1.16, 1.17
inline constexpr std::uint32_t kPclntabMagic118 = 0xfffffff0;  // Go 1.18, 1.19
inline constexpr std::uint32_t kPclntabMagic120 = 0xfffffff1;  // Go 1.20 and later

struct GoFunction {
    std::string_view name;
    std::uint64_t entry = 0;  // virtual address of the first instruction
    std::uint64_t end = 0;    // the next function's entry (padding included)
};

// The Go 1.18+ layout: a 72-byte header, then funcnametab, cutab, filetab, pctab and
// the function table (functab entries, then the _func records).
class Pclntab {
  public:
    // `table` starts at the header and may run past the table's end (to the end of its
    // segment); nothing outside it is read. Checks the header, every functab entry
    // (in order, inside the text) and that each _func record is inside `table`.
    static Expected<Pclntab> parse(std::span<const std::uint8_t> table);

    std::uint32_t magic() const { return magic_; }
    // runtime.text as linked: 0 in position-independent builds whose loader relocates it.
    std::uint64_t text_start() const { return text_start_; }
    std::size_t function_count() const { return nfunc_; }
    // Function `index` < function_count(); an error if its name is out of bounds.
    Expected<GoFunction> function(std::size_t index) const;
    // Every function with exactly this name.
    std::vector<GoFunction> find(std::string_view name) const;

  private:
    std::span<const std::uint8_t> table_;
    std::uint32_t magic_ = 0;
    std::uint64_t nfunc_ = 0;
    std::uint64_t text_start_ = 0;
    std::uint64_t funcname_off_ = 0, funcname_end_ = 0;
    std::uint64_t functab_off_ = 0;
};

// Offsets in `bytes` where a pclntab header of one of the given layouts may start: the
// magic, two zero bytes, an instruction-size quantum of 1, 2 or 4, pointer size 8.
std::vector<std::size_t> find_pclntab_headers(std::span<const std::uint8_t> bytes,
                                              std::span<const std::uint32_t> magics);

// The buildinfo blob (".go.buildinfo"): "\xff Go buildinf:", 16-byte aligned.
inline constexpr std::string_view kBuildInfoMagic = "\xff Go buildinf:";
std::vector<std::size_t> find_buildinfo(std::span<const std::uint8_t> bytes);

// Reads `length` bytes at a virtual address of the same binary; empty if unmapped.
using VaddrReader = std::function<std::span<const std::uint8_t>(std::uint64_t, std::uint64_t)>;

// The Go version ("go1.19.8") recorded in the buildinfo blob that starts `blob`: inline
// (Go 1.18+) or behind pointers (older; `read` resolves them). nullopt when malformed.
std::optional<std::string> buildinfo_version(std::span<const std::uint8_t> blob,
                                             const VaddrReader& read);

}  // namespace ct::locate::go
