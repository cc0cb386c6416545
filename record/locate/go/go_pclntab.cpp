#include "locate/go/go_pclntab.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace ct::locate::go {

namespace {

constexpr std::size_t kHeaderSize = 72;  // magic, pads, quantum, ptrsize, 8 words
constexpr std::uint64_t kMaxFunctions = 50'000'000;
constexpr std::size_t kMaxNameLength = 64 * 1024;
constexpr std::size_t kMaxVersionLength = 256;

std::optional<std::uint64_t> u64_at(std::span<const std::uint8_t> b, std::uint64_t off) {
    if (off > b.size() || b.size() - off < 8)
        return std::nullopt;
    std::uint64_t v;
    std::memcpy(&v, b.data() + off, 8);
    return v;
}

std::optional<std::uint32_t> u32_at(std::span<const std::uint8_t> b, std::uint64_t off) {
    if (off > b.size() || b.size() - off < 4)
        return std::nullopt;
    std::uint32_t v;
    std::memcpy(&v, b.data() + off, 4);
    return v;
}

bool header_shape(std::span<const std::uint8_t> b, std::size_t at) {
    if (at > b.size() || b.size() - at < 8)
        return false;
    const std::uint8_t quantum = b[at + 6];
    return b[at + 4] == 0 && b[at + 5] == 0 && (quantum == 1 || quantum == 2 || quantum == 4) &&
           b[at + 7] == 8;
}

}  // namespace

Expected<Pclntab> Pclntab::parse(std::span<const std::uint8_t> table) {
    if (table.size() < kHeaderSize)
        return fail("pclntab: shorter than its header");
    const std::uint32_t magic = *u32_at(table, 0);
    if (magic == kPclntabMagic116 || magic == kPclntabMagic12)
        return fail(fmt::format("pclntab of Go 1.17 or older (magic {:#x}): not supported", magic));
    if (magic != kPclntabMagic118 && magic != kPclntabMagic120)
        return fail(fmt::format("pclntab: unknown magic {:#x}", magic));
    if (!header_shape(table, 0))
        return fail("pclntab: not a 64-bit table (pads, quantum or pointer size)");
    Pclntab t;
    t.table_ = table;
    t.magic_ = magic;
    t.nfunc_ = *u64_at(table, 8);
    t.text_start_ = *u64_at(table, 24);
    t.funcname_off_ = *u64_at(table, 32);
    const std::uint64_t cu_off = *u64_at(table, 40);
    const std::uint64_t filetab_off = *u64_at(table, 48);
    const std::uint64_t pctab_off = *u64_at(table, 56);
    t.functab_off_ = *u64_at(table, 64);
    const std::uint64_t size = table.size();
    if (t.nfunc_ == 0 || t.nfunc_ > kMaxFunctions)
        return fail(fmt::format("pclntab: implausible function count {}", t.nfunc_));
    // The sub-tables follow the header in this order.
    if (t.funcname_off_ < kHeaderSize || cu_off < t.funcname_off_ || filetab_off < cu_off ||
        pctab_off < filetab_off || t.functab_off_ < pctab_off || t.functab_off_ > size)
        return fail("pclntab: sub-table offsets out of order or outside the table");
    t.funcname_end_ = cu_off;
    // nfunc + 1 functab entries of (entry offset, _func offset), 4 bytes each.
    const std::uint64_t functab_bytes = (t.nfunc_ + 1) * 8;
    if (size - t.functab_off_ < functab_bytes)
        return fail("pclntab: function table runs past the end");
    std::uint32_t previous = 0;
    for (std::uint64_t i = 0; i <= t.nfunc_; ++i) {
        const std::uint32_t entry = *u32_at(table, t.functab_off_ + i * 8);
        if (entry < previous)
            return fail(fmt::format("pclntab: function {} starts before function {}", i, i - 1));
        previous = entry;
        if (i == t.nfunc_)
            break;
        const std::uint32_t func_off = *u32_at(table, t.functab_off_ + i * 8 + 4);
        // _func: entryOff u32, nameOff i32, ...: must match the functab entry.
        const auto func_entry = u32_at(table, t.functab_off_ + std::uint64_t{func_off});
        if (!func_entry || !u32_at(table, t.functab_off_ + std::uint64_t{func_off} + 4))
            return fail(fmt::format("pclntab: record of function {} outside the table", i));
        if (*func_entry != entry)
            return fail(fmt::format("pclntab: record of function {} disagrees on its entry", i));
    }
    return t;
}

Expected<GoFunction> Pclntab::function(std::size_t index) const {
    if (index >= nfunc_)
        return fail("pclntab: no such function");
    const std::uint64_t at = functab_off_ + std::uint64_t{index} * 8;
    const std::uint32_t entry = *u32_at(table_, at);
    const std::uint32_t next = *u32_at(table_, at + 8);
    const std::uint32_t func_off = *u32_at(table_, at + 4);
    const std::uint32_t name_field = *u32_at(table_, functab_off_ + std::uint64_t{func_off} + 4);
    const auto name_off = static_cast<std::int32_t>(name_field);
    if (name_off < 0)
        return fail(fmt::format("pclntab: function {} has a negative name offset", index));
    const std::uint64_t name_at = funcname_off_ + static_cast<std::uint64_t>(name_off);
    if (name_at >= funcname_end_ || funcname_end_ > table_.size())
        return fail(fmt::format("pclntab: name of function {} outside funcnametab", index));
    const std::size_t room = std::min<std::uint64_t>(funcname_end_ - name_at, kMaxNameLength);
    const auto* begin = reinterpret_cast<const char*>(table_.data() + name_at);
    const void* nul = std::memchr(begin, 0, room);
    if (nul == nullptr)
        return fail(fmt::format("pclntab: name of function {} is not terminated", index));
    GoFunction f;
    f.name = std::string_view(begin, static_cast<const char*>(nul) - begin);
    f.entry = text_start_ + entry;
    f.end = text_start_ + next;
    return f;
}

std::vector<GoFunction> Pclntab::find(std::string_view name) const {
    std::vector<GoFunction> out;
    for (std::uint64_t i = 0; i < nfunc_; ++i) {
        auto f = function(i);
        if (f && f->name == name)
            out.push_back(*f);
    }
    return out;
}

std::vector<std::size_t> find_pclntab_headers(std::span<const std::uint8_t> bytes,
                                              std::span<const std::uint32_t> magics) {
    std::vector<std::size_t> out;
    // The linker aligns the table; 4 is what every version guarantees.
    for (std::size_t at = 0; at + 8 <= bytes.size(); at += 4) {
        const std::uint32_t word = *u32_at(bytes, at);
        if ((word & 0xfffffff0u) != 0xfffffff0u)
            continue;
        if (std::find(magics.begin(), magics.end(), word) != magics.end() &&
            header_shape(bytes, at))
            out.push_back(at);
    }
    return out;
}

std::vector<std::size_t> find_buildinfo(std::span<const std::uint8_t> bytes) {
    std::vector<std::size_t> out;
    const std::size_t n = kBuildInfoMagic.size();
    for (std::size_t at = 0; at + 32 <= bytes.size(); at += 16) {
        if (std::memcmp(bytes.data() + at, kBuildInfoMagic.data(), n) == 0)
            out.push_back(at);
    }
    return out;
}

namespace {

// A Go uvarint (LEB128) at `off`; advances it.
std::optional<std::uint64_t> uvarint(std::span<const std::uint8_t> b, std::size_t& off) {
    std::uint64_t value = 0;
    for (unsigned shift = 0; shift < 64 && off < b.size(); shift += 7) {
        const std::uint8_t byte = b[off++];
        value |= std::uint64_t{byte & 0x7fu} << shift;
        if ((byte & 0x80) == 0)
            return value;
    }
    return std::nullopt;
}

bool plausible_version(std::string_view v) {
    return v.size() > 2 && v.size() <= kMaxVersionLength && v.starts_with("go") &&
           std::all_of(v.begin(), v.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace

std::optional<std::string> buildinfo_version(std::span<const std::uint8_t> blob,
                                             const VaddrReader& read) {
    if (blob.size() < 32 ||
        std::memcmp(blob.data(), kBuildInfoMagic.data(), kBuildInfoMagic.size()) != 0)
        return std::nullopt;
    const std::uint8_t ptr_size = blob[14];
    const std::uint8_t flags = blob[15];
    if ((flags & 1) != 0)
        return std::nullopt;  // big-endian
    if ((flags & 2) != 0) {
        // Go 1.18+: the version, then the module info, as length-prefixed strings.
        std::size_t off = 32;
        auto len = uvarint(blob, off);
        if (!len || *len > kMaxVersionLength || blob.size() - off < *len)
            return std::nullopt;
        std::string v(reinterpret_cast<const char*>(blob.data() + off), *len);
        return plausible_version(v) ? std::optional(v) : std::nullopt;
    }
    // Older: a pointer to the runtime.buildVersion string header (data, len).
    if (ptr_size != 8 || !read)
        return std::nullopt;
    const auto header = read(*u64_at(blob, 16), 16);
    if (header.size() < 16)
        return std::nullopt;
    const std::uint64_t data = *u64_at(header, 0), len = *u64_at(header, 8);
    if (len == 0 || len > kMaxVersionLength)
        return std::nullopt;
    const auto text = read(data, len);
    if (text.size() < len)
        return std::nullopt;
    std::string v(reinterpret_cast<const char*>(text.data()), len);
    return plausible_version(v) ? std::optional(v) : std::nullopt;
}

}  // namespace ct::locate::go
