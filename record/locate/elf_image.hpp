// A parsed, bounds-checked view of a 64-bit little-endian ELF object: its loadable
// segments, build-id and symbol tables. Headers come from libelf; code and data are
// read straight from the file mapping.
#pragma once

#include <gelf.h>
#include <libelf.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "locate/mapped_file.hpp"
#include "util/error.hpp"

namespace ct::locate {

struct LoadSegment {
    uint64_t vaddr = 0;
    uint64_t memsz = 0;
    uint64_t offset = 0;
    uint64_t filesz = 0;
    bool readable = false;
    bool writable = false;
    bool executable = false;

    bool contains_vaddr(uint64_t va) const { return va >= vaddr && va - vaddr < filesz; }
};

enum class SymbolTable { Dynamic, Static };

struct SymbolEntry {
    std::string_view name;  // as stored; may carry "@VERSION" in a .symtab
    uint64_t value = 0;
    uint64_t size = 0;
    unsigned char type = 0;  // STT_*
    unsigned char binding = 0;
    uint16_t section_index = 0;
    bool version_hidden = false;  // a non-default version (name@VER, not name@@VER)
    std::string_view version;     // from .gnu.version_d, empty if unversioned
};

class ElfImage {
  public:
    // Fails when the file cannot be read, is not ELF, is not 64-bit little-endian, or
    // has headers that point outside the file.
    static Expected<ElfImage> open(const std::string& path);

    const MappedFile& file() const { return file_; }
    uint16_t machine() const { return machine_; }
    uint16_t type() const { return type_; }  // ET_EXEC, ET_DYN
    const std::vector<LoadSegment>& loads() const { return loads_; }
    // The GNU build-id, else the Go build ID note (Go's own linker writes no GNU one), in hex.
    const std::string& build_id_hex() const { return build_id_hex_; }
    bool has_sections() const { return section_count_ > 0; }

    // vaddr -> file offset through the PT_LOAD that holds it in the file.
    std::optional<uint64_t> file_offset_of(uint64_t vaddr) const;
    const LoadSegment* segment_of(uint64_t vaddr) const;
    std::span<const uint8_t> segment_bytes(const LoadSegment& segment) const;
    // Up to `length` bytes at `vaddr`, staying inside one segment's file image.
    std::span<const uint8_t> bytes_at(uint64_t vaddr, uint64_t length) const;

    // Start addresses of the functions described by the unwind table (PT_GNU_EH_FRAME's
    // binary search table), sorted; empty when there is none or it has an unusual
    // encoding. Exact function entries for code compiled with unwind tables.
    std::vector<uint64_t> unwind_function_starts() const;

    bool has_symbol_table(SymbolTable which) const;
    // Calls fn for each symbol of that table. Fails if the table is malformed.
    Expected<void> for_each_symbol(SymbolTable which,
                                   const std::function<void(const SymbolEntry&)>& fn) const;

  private:
    struct ElfDeleter {
        void operator()(Elf* elf) const { elf_end(elf); }
    };

    Expected<void> read_program_headers();
    Expected<void> check_sections();
    void read_build_id();

    MappedFile file_;
    std::unique_ptr<Elf, ElfDeleter> elf_;
    uint16_t machine_ = 0;
    uint16_t type_ = 0;
    size_t section_count_ = 0;
    std::vector<LoadSegment> loads_;
    std::vector<std::pair<uint64_t, uint64_t>> note_ranges_;  // file offset, size
    std::string build_id_hex_;
    std::optional<std::pair<uint64_t, uint64_t>> eh_frame_hdr_;  // vaddr, size
};

}  // namespace ct::locate
