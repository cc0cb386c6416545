#include "locate/elf_image.hpp"

#include <elf.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

namespace ct::locate {
namespace {

bool libelf_ready() {
    static const bool ready = elf_version(EV_CURRENT) != EV_NONE;
    return ready;
}

std::string elf_problem() {
    const char* message = elf_errmsg(-1);
    return message != nullptr ? message : "unknown libelf error";
}

Elf_Scn* find_section(Elf* elf, uint32_t type) {
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) != nullptr && shdr.sh_type == type)
            return scn;
    }
    return nullptr;
}

// Version index -> name, from .gnu.version_d (only defined versions matter here).
std::unordered_map<uint16_t, std::string_view> version_names(Elf* elf) {
    std::unordered_map<uint16_t, std::string_view> names;
    Elf_Scn* scn = find_section(elf, SHT_GNU_verdef);
    if (scn == nullptr)
        return names;
    GElf_Shdr shdr;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (gelf_getshdr(scn, &shdr) == nullptr || data == nullptr)
        return names;
    int offset = 0;
    for (size_t i = 0; i < shdr.sh_info && offset >= 0; ++i) {
        GElf_Verdef def;
        if (gelf_getverdef(data, offset, &def) == nullptr)
            break;
        GElf_Verdaux aux;
        // The base entry names the file itself, not a version.
        const bool is_base = (def.vd_flags & VER_FLG_BASE) != 0;
        if (!is_base &&
            gelf_getverdaux(data, offset + static_cast<int>(def.vd_aux), &aux) != nullptr) {
            if (const char* name = elf_strptr(elf, shdr.sh_link, aux.vda_name)) {
                names[def.vd_ndx] = name;
            }
        }
        if (def.vd_next == 0)
            break;
        offset += static_cast<int>(def.vd_next);
    }
    return names;
}

// libelf tolerates header tables that run past the end of the file (it drops them);
// a binary like that is damaged and gets an error instead.
Expected<void> check_header_tables(const MappedFile& file) {
    Elf64_Ehdr ehdr;
    const auto head = file.slice(0, sizeof ehdr);
    if (head.size() < sizeof ehdr)
        return fail("truncated: shorter than an ELF header");
    std::memcpy(&ehdr, head.data(), sizeof ehdr);
    const uint64_t size = file.size();
    auto fits = [&](uint64_t offset, uint64_t count, uint64_t entry) {
        return offset <= size && count <= (size - offset) / entry;
    };
    if (ehdr.e_phnum > 0 && (ehdr.e_phentsize != sizeof(Elf64_Phdr) ||
                             !fits(ehdr.e_phoff, ehdr.e_phnum, sizeof(Elf64_Phdr)))) {
        return fail(fmt::format("program header table ({} entries at {:#x}) lies outside the file",
                                ehdr.e_phnum, ehdr.e_phoff));
    }
    if (ehdr.e_shoff != 0) {
        if (ehdr.e_shentsize != sizeof(Elf64_Shdr) || !fits(ehdr.e_shoff, 1, sizeof(Elf64_Shdr))) {
            return fail(
                fmt::format("section header table at {:#x} lies outside the file", ehdr.e_shoff));
        }
        uint64_t count = ehdr.e_shnum;
        if (count == 0) {  // extended numbering: the count is in section 0
            Elf64_Shdr first;
            std::memcpy(&first, file.slice(ehdr.e_shoff, sizeof first).data(), sizeof first);
            count = first.sh_size;
        }
        if (!fits(ehdr.e_shoff, count, sizeof(Elf64_Shdr))) {
            return fail(
                fmt::format("section header table ({} entries at {:#x}) lies outside the file",
                            count, ehdr.e_shoff));
        }
    }
    return {};
}

}  // namespace

Expected<ElfImage> ElfImage::open(const std::string& path) {
    auto file = MappedFile::open(path);
    if (!file)
        return std::unexpected(file.error());
    const auto head = file->slice(0, EI_NIDENT);
    if (head.size() < EI_NIDENT || std::memcmp(head.data(), ELFMAG, SELFMAG) != 0) {
        return fail(path + " is not an ELF file");
    }
    if (head[EI_CLASS] != ELFCLASS64 || head[EI_DATA] != ELFDATA2LSB) {
        return fail(path + " is not a 64-bit little-endian ELF file");
    }
    if (auto ok = check_header_tables(*file); !ok)
        return fail(path + ": " + ok.error().message);
    if (!libelf_ready())
        return fail("libelf: " + elf_problem());

    ElfImage image;
    image.file_ = std::move(*file);
    image.elf_.reset(elf_begin(image.file_.fd(), ELF_C_READ_MMAP, nullptr));
    if (!image.elf_ || elf_kind(image.elf_.get()) != ELF_K_ELF) {
        return fail(path + ": not a readable ELF object: " + elf_problem());
    }
    GElf_Ehdr ehdr;
    if (gelf_getehdr(image.elf_.get(), &ehdr) == nullptr) {
        return fail(path + ": bad ELF header: " + elf_problem());
    }
    image.machine_ = ehdr.e_machine;
    image.type_ = ehdr.e_type;
    if (auto ok = image.read_program_headers(); !ok) {
        return fail(path + ": " + ok.error().message);
    }
    if (auto ok = image.check_sections(); !ok)
        return fail(path + ": " + ok.error().message);
    image.read_build_id();
    return image;
}

Expected<void> ElfImage::read_program_headers() {
    size_t count = 0;
    if (elf_getphdrnum(elf_.get(), &count) != 0) {
        return fail("program header table unreadable: " + elf_problem());
    }
    const uint64_t size = file_.size();
    for (size_t i = 0; i < count; ++i) {
        GElf_Phdr phdr;
        if (gelf_getphdr(elf_.get(), static_cast<int>(i), &phdr) == nullptr) {
            return fail(fmt::format("program header {} unreadable: {}", i, elf_problem()));
        }
        const bool in_file = phdr.p_offset <= size && phdr.p_filesz <= size - phdr.p_offset;
        if (phdr.p_type == PT_LOAD) {
            if (!in_file) {
                return fail(fmt::format(
                    "truncated: PT_LOAD {} (offset {:#x}, size {:#x}) ends past the end of "
                    "the file ({:#x} bytes)",
                    i, phdr.p_offset, phdr.p_filesz, size));
            }
            loads_.push_back(LoadSegment{phdr.p_vaddr, phdr.p_memsz, phdr.p_offset, phdr.p_filesz,
                                         (phdr.p_flags & PF_R) != 0, (phdr.p_flags & PF_W) != 0,
                                         (phdr.p_flags & PF_X) != 0});
        } else if (phdr.p_type == PT_NOTE && in_file) {
            note_ranges_.emplace_back(phdr.p_offset, phdr.p_filesz);
        } else if (phdr.p_type == PT_GNU_EH_FRAME && in_file) {
            eh_frame_hdr_ = {phdr.p_vaddr, phdr.p_filesz};
        }
    }
    if (loads_.empty())
        return fail("no loadable segments");
    return {};
}

Expected<void> ElfImage::check_sections() {
    size_t count = 0;
    if (elf_getshdrnum(elf_.get(), &count) != 0) {
        return fail("section header table unreadable: " + elf_problem());
    }
    const uint64_t size = file_.size();
    size_t index = 0;
    for (Elf_Scn* scn = elf_nextscn(elf_.get(), nullptr); scn != nullptr;
         scn = elf_nextscn(elf_.get(), scn)) {
        ++index;
        GElf_Shdr shdr;
        if (gelf_getshdr(scn, &shdr) == nullptr) {
            return fail(fmt::format("section header {} unreadable: {}", index, elf_problem()));
        }
        if (shdr.sh_type == SHT_NOBITS || shdr.sh_type == SHT_NULL)
            continue;
        if (shdr.sh_offset > size || shdr.sh_size > size - shdr.sh_offset) {
            return fail(fmt::format(
                "bad section header {}: offset {:#x} size {:#x} lies outside the file ({:#x} "
                "bytes)",
                index, shdr.sh_offset, shdr.sh_size, size));
        }
    }
    section_count_ = count;
    return {};
}

void ElfImage::read_build_id() {
    std::string go_build_id;  // the Go linker's note, used when there is no GNU one
    for (const auto& [offset, length] : note_ranges_) {
        const auto notes = file_.slice(offset, length);
        size_t pos = 0;
        while (pos + 12 <= notes.size()) {
            uint32_t namesz = 0, descsz = 0, type = 0;
            std::memcpy(&namesz, notes.data() + pos, 4);
            std::memcpy(&descsz, notes.data() + pos + 4, 4);
            std::memcpy(&type, notes.data() + pos + 8, 4);
            const size_t name_at = pos + 12;
            const size_t desc_at = name_at + ((static_cast<size_t>(namesz) + 3) & ~size_t{3});
            const size_t next = desc_at + ((static_cast<size_t>(descsz) + 3) & ~size_t{3});
            if (desc_at > notes.size() || next > notes.size() || next <= pos)
                break;
            if (type == NT_GNU_BUILD_ID && namesz == 4 &&
                std::memcmp(notes.data() + name_at, "GNU", 4) == 0 && descsz > 0) {
                std::string hex;
                for (size_t i = 0; i < descsz; ++i) {
                    hex += fmt::format("{:02x}", notes[desc_at + i]);
                }
                build_id_hex_ = std::move(hex);
                return;
            }
            // Go: name "Go", type 4 (NT_GO_BUILDID), "actionID/contentID" as text.
            if (type == 4 && (namesz == 3 || namesz == 4) &&
                std::memcmp(notes.data() + name_at, "Go", 3) == 0 && descsz > 0 && descsz <= 256 &&
                go_build_id.empty()) {
                for (size_t i = 0; i < descsz; ++i) {
                    go_build_id += fmt::format("{:02x}", notes[desc_at + i]);
                }
            }
            pos = next;
        }
    }
    build_id_hex_ = std::move(go_build_id);
}

const LoadSegment* ElfImage::segment_of(uint64_t vaddr) const {
    for (const auto& segment : loads_) {
        if (segment.contains_vaddr(vaddr))
            return &segment;
    }
    return nullptr;
}

std::optional<uint64_t> ElfImage::file_offset_of(uint64_t vaddr) const {
    const LoadSegment* segment = segment_of(vaddr);
    if (segment == nullptr)
        return std::nullopt;
    return segment->offset + (vaddr - segment->vaddr);
}

std::span<const uint8_t> ElfImage::segment_bytes(const LoadSegment& segment) const {
    return file_.slice(segment.offset, segment.filesz);
}

std::span<const uint8_t> ElfImage::bytes_at(uint64_t vaddr, uint64_t length) const {
    const LoadSegment* segment = segment_of(vaddr);
    if (segment == nullptr)
        return {};
    const uint64_t into = vaddr - segment->vaddr;
    return file_.slice(segment->offset + into, std::min(length, segment->filesz - into));
}

bool ElfImage::has_symbol_table(SymbolTable which) const {
    return find_section(elf_.get(), which == SymbolTable::Dynamic ? SHT_DYNSYM : SHT_SYMTAB) !=
           nullptr;
}

Expected<void> ElfImage::for_each_symbol(SymbolTable which,
                                         const std::function<void(const SymbolEntry&)>& fn) const {
    Elf* elf = elf_.get();
    Elf_Scn* scn = find_section(elf, which == SymbolTable::Dynamic ? SHT_DYNSYM : SHT_SYMTAB);
    if (scn == nullptr)
        return {};
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr)
        return fail("symbol table header: " + elf_problem());
    if (shdr.sh_entsize != sizeof(Elf64_Sym)) {
        return fail(fmt::format("symbol table entry size {} is not {}", shdr.sh_entsize,
                                sizeof(Elf64_Sym)));
    }
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr)
        return fail("symbol table data: " + elf_problem());
    const size_t count = shdr.sh_size / shdr.sh_entsize;

    // Symbol versions apply to .dynsym only.
    Elf_Data* versym = nullptr;
    std::unordered_map<uint16_t, std::string_view> versions;
    if (which == SymbolTable::Dynamic) {
        if (Elf_Scn* vscn = find_section(elf, SHT_GNU_versym)) {
            versym = elf_getdata(vscn, nullptr);
            versions = version_names(elf);
        }
    }
    for (size_t i = 1; i < count; ++i) {
        GElf_Sym sym;
        if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr)
            break;
        const char* name = elf_strptr(elf, shdr.sh_link, sym.st_name);
        if (name == nullptr || name[0] == '\0')
            continue;
        SymbolEntry entry;
        entry.name = name;
        entry.value = sym.st_value;
        entry.size = sym.st_size;
        entry.type = GELF_ST_TYPE(sym.st_info);
        entry.binding = GELF_ST_BIND(sym.st_info);
        entry.section_index = sym.st_shndx;
        if (versym != nullptr) {
            GElf_Versym ver = 0;
            if (gelf_getversym(versym, static_cast<int>(i), &ver) != nullptr) {
                entry.version_hidden = (ver & 0x8000) != 0;
                if (auto it = versions.find(static_cast<uint16_t>(ver & 0x7fff));
                    it != versions.end()) {
                    entry.version = it->second;
                }
            }
        }
        fn(entry);
    }
    return {};
}

std::vector<uint64_t> ElfImage::unwind_function_starts() const {
    // .eh_frame_hdr: version 1, eh_frame_ptr encoding, fde_count encoding, table
    // encoding; then eh_frame_ptr, fde_count and a sorted table of (initial location,
    // FDE address) pairs. Only the layout every GNU and LLVM linker writes is read:
    // table entries as signed 4-byte offsets from the header (DW_EH_PE_datarel|sdata4).
    std::vector<uint64_t> starts;
    if (!eh_frame_hdr_)
        return starts;
    const auto [hdr_va, hdr_size] = *eh_frame_hdr_;
    const auto bytes = bytes_at(hdr_va, hdr_size);
    if (bytes.size() < 12 || bytes[0] != 1 || bytes[3] != 0x3b)
        return starts;
    auto read32 = [&](size_t at) {
        int32_t v = 0;
        std::memcpy(&v, bytes.data() + at, sizeof v);
        return v;
    };
    // eh_frame_ptr is 4 bytes for the usual encodings (pcrel/datarel/udata4 sdata4).
    if ((bytes[1] & 0x0f) != 0x0b && (bytes[1] & 0x0f) != 0x03)
        return starts;
    if (bytes[2] != 0x03 && bytes[2] != 0x0b)
        return starts;
    const auto count = static_cast<uint32_t>(read32(8));
    if (count > (bytes.size() - 12) / 8)
        return starts;
    starts.reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
        const int32_t location = read32(12 + size_t{i} * 8);
        starts.push_back(hdr_va + static_cast<uint64_t>(static_cast<int64_t>(location)));
    }
    std::sort(starts.begin(), starts.end());
    return starts;
}

}  // namespace ct::locate
