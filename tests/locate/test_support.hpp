// Helpers for the locator tests. Everything here computes its answers independently of
// ct_locate: ELF facts come from binutils (readelf, objdump), not from libelf.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ct::locate::test {

// Wall-clock limits mean nothing under AddressSanitizer: timing tests skip there.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kTimingIsMeaningful = false;
#else
inline constexpr bool kTimingIsMeaningful = true;
#endif

// Page faults (minor + major) the calling thread has taken so far. Touching a file
// mapping faults its pages in (a few at a time: the kernel maps the neighbours of a
// faulting page that are in the page cache), so the faults taken during a call count
// how much of a mapped file it read, however busy the machine is.
long thread_page_faults();

// The faults taken by reading every page of `path` once through a fresh private
// mapping, as the locator maps files: the cost of reading the whole file, in the same
// units as thread_page_faults().
long faults_to_read_whole_file(const std::string& path);

// CPU time the calling thread has used (CLOCK_THREAD_CPUTIME_ID, ns): time spent
// waiting for the CPU on a busy machine is not in it.
std::int64_t thread_cpu_ns();

// Searches every byte of `path` once for a string it does not hold, through a fresh
// mapping (what a scan of the whole file costs); returns the bytes searched.
uint64_t search_whole_file(const std::string& path);

// Runs a shell command; returns its standard output (exit status must be 0).
std::string run_command(const std::string& command);

struct ProgramHeader {
    std::string type;
    uint64_t offset = 0, vaddr = 0, filesz = 0;
    std::string flags;
};
std::vector<ProgramHeader> readelf_program_headers(const std::string& path);
std::optional<uint64_t> vaddr_of_offset(const std::vector<ProgramHeader>& headers, uint64_t offset);
std::optional<uint64_t> offset_of_vaddr(const std::vector<ProgramHeader>& headers, uint64_t vaddr);

struct SectionHeader {
    std::string name;
    uint64_t addr = 0, offset = 0, size = 0;
};
std::vector<SectionHeader> readelf_sections(const std::string& path);

struct DynamicSymbol {
    std::string name;  // with @@VERSION as readelf prints it
    uint64_t value = 0;
    std::string type;
    std::string ndx;
};
std::vector<DynamicSymbol> readelf_dynamic_symbols(const std::string& path);
// .dynsym and .symtab.
std::vector<DynamicSymbol> readelf_all_symbols(const std::string& path);

// File offset of a symbol value the way libbpf computes it: through its section.
std::optional<uint64_t> offset_through_section(const std::vector<SectionHeader>& sections,
                                               uint64_t value);

std::string readelf_build_id(const std::string& path);

// One objdump instruction line.
struct Instruction {
    uint64_t va = 0;
    std::string mnemonic;
    std::string operands;
};
std::vector<Instruction> objdump(const std::string& path, uint64_t start, uint64_t stop);

// A function as objdump sees it from `entry` up to the int3 padding that ends it.
struct ObservedFunction {
    uint64_t entry = 0;
    std::vector<Instruction> code;
    std::set<uint32_t> error_reasons;  // immediates passed next to the __FILE__ load
    std::set<uint64_t> call_targets;
    // Where the __FILE__ load with a given reason sits (first one).
    std::optional<uint64_t> site_with_reason(uint32_t reason) const;
    std::vector<std::pair<uint64_t, uint32_t>> sites;  // (load va, reason)
};
ObservedFunction observe_function(const std::string& path, uint64_t entry, uint64_t file_va);

// "…/ssl/ssl_lib.cc" in the file: offset of the whole string, found by a plain search.
std::optional<uint64_t> find_ssl_lib_cc(const std::string& path);

// Direct `call rel32` sites in the executable segments that target `target`.
size_t count_direct_calls(const std::string& path, const std::vector<ProgramHeader>& headers,
                          uint64_t target);

std::vector<uint8_t> read_bytes(const std::string& path, uint64_t offset, size_t length);
void write_bytes(const std::string& path, uint64_t offset, const std::vector<uint8_t>& bytes);

// Claude Code builds fetched by fetch_claude_builds.sh.
std::filesystem::path claude_cache_root();
std::optional<std::string> claude_build(const std::string& version);
// Why a build is missing: the registry was unreachable (skip) or something else (fail).
bool registry_was_unreachable();
std::optional<std::string> latest_claude_version();

// A directory removed with everything in it at scope exit.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

}  // namespace ct::locate::test
