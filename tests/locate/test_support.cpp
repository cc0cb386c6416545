#include "test_support.hpp"

#include "locate/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace ct::locate::test {

long thread_page_faults() {
    struct rusage usage {};
    if (::getrusage(RUSAGE_THREAD, &usage) != 0)
        throw std::runtime_error("getrusage failed");
    return usage.ru_minflt + usage.ru_majflt;
}

std::int64_t thread_cpu_ns() {
    struct timespec ts {};
    if (::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        throw std::runtime_error("clock_gettime failed");
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

namespace {

// A fresh mapping of `path`, as the locator maps the files it reads.
MappedFile map_file(const std::string& path) {
    auto file = MappedFile::open(path);
    if (!file)
        throw std::runtime_error(file.error().what());
    return std::move(*file);
}

}  // namespace

uint64_t search_whole_file(const std::string& path) {
    const MappedFile file = map_file(path);
    static constexpr char kAbsent[] = "\x01ct-no-such-string\x02";
    if (::memmem(file.bytes().data(), file.size(), kAbsent, sizeof kAbsent - 1) != nullptr)
        throw std::runtime_error("the absent string is in " + path);
    return file.size();
}

long faults_to_read_whole_file(const std::string& path) {
    const MappedFile file = map_file(path);
    const long before = thread_page_faults();
    const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    volatile uint8_t sink = 0;
    for (size_t at = 0; at < file.size(); at += page)
        sink = sink + file.bytes()[at];
    return thread_page_faults() - before;
}

namespace {

uint64_t hex(const std::string& text) {
    return std::stoull(text, nullptr, 16);
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

std::string quote(const std::string& text) {
    std::string out = "'";
    for (char c : text)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

}  // namespace

std::string run_command(const std::string& command) {
    struct Closer {
        void operator()(FILE* f) const { pclose(f); }
    };
    std::unique_ptr<FILE, Closer> pipe(popen(command.c_str(), "r"));
    if (!pipe)
        throw std::runtime_error("cannot run " + command);
    std::string out;
    std::array<char, 65536> buffer;
    while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe.get()))
        out.append(buffer.data(), n);
    const int status = pclose(pipe.release());
    if (status != 0)
        throw std::runtime_error("command failed: " + command);
    return out;
}

std::vector<ProgramHeader> readelf_program_headers(const std::string& path) {
    // "  LOAD  0x000000 0x0000000000200000 0x0000000000200000 0x1eb08b8 0x1eb08b8 R   0x1000"
    static const std::regex line(
        R"(^\s+(\w+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+([RWE ]+?)\s+0x[0-9a-f]+\s*$)");
    std::vector<ProgramHeader> headers;
    for (const auto& l : lines_of(run_command("readelf -lW " + quote(path)))) {
        std::smatch m;
        if (std::regex_match(l, m, line)) {
            headers.push_back(ProgramHeader{m[1], hex(m[2]), hex(m[3]), hex(m[4]), m[5]});
        }
    }
    return headers;
}

std::optional<uint64_t> vaddr_of_offset(const std::vector<ProgramHeader>& headers,
                                        uint64_t offset) {
    for (const auto& h : headers) {
        if (h.type == "LOAD" && offset >= h.offset && offset < h.offset + h.filesz) {
            return h.vaddr + (offset - h.offset);
        }
    }
    return std::nullopt;
}

std::optional<uint64_t> offset_of_vaddr(const std::vector<ProgramHeader>& headers, uint64_t vaddr) {
    for (const auto& h : headers) {
        if (h.type == "LOAD" && vaddr >= h.vaddr && vaddr < h.vaddr + h.filesz) {
            return h.offset + (vaddr - h.vaddr);
        }
    }
    return std::nullopt;
}

std::vector<SectionHeader> readelf_sections(const std::string& path) {
    // "  [13] .text  PROGBITS  00000000000218d0 0218d0 05a676 00  AX  0   0 16"
    static const std::regex line(
        R"(^\s+\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s.*$)");
    std::vector<SectionHeader> sections;
    for (const auto& l : lines_of(run_command("readelf -SW " + quote(path)))) {
        std::smatch m;
        if (std::regex_match(l, m, line)) {
            sections.push_back(SectionHeader{m[1], hex(m[2]), hex(m[3]), hex(m[4])});
        }
    }
    return sections;
}

namespace {

std::vector<DynamicSymbol> parse_readelf_symbols(const std::string& output) {
    // "   564: 0000000000035980   131 FUNC    GLOBAL DEFAULT   13 SSL_write@@OPENSSL_3.0.0"
    static const std::regex line(
        R"(^\s+\d+:\s+([0-9a-f]+)\s+\S+\s+(\w+)\s+\w+\s+\w+\s+(\w+)\s+(\S+).*$)");
    std::vector<DynamicSymbol> symbols;
    for (const auto& l : lines_of(output)) {
        std::smatch m;
        if (std::regex_match(l, m, line)) {
            symbols.push_back(DynamicSymbol{m[4], hex(m[1]), m[2], m[3]});
        }
    }
    return symbols;
}

}  // namespace

std::vector<DynamicSymbol> readelf_all_symbols(const std::string& path) {
    return parse_readelf_symbols(run_command("readelf -sW " + quote(path)));
}

std::vector<DynamicSymbol> readelf_dynamic_symbols(const std::string& path) {
    return parse_readelf_symbols(run_command("readelf -W --dyn-syms " + quote(path)));
}

std::optional<uint64_t> offset_through_section(const std::vector<SectionHeader>& sections,
                                               uint64_t value) {
    for (const auto& s : sections) {
        if (s.addr != 0 && value >= s.addr && value < s.addr + s.size) {
            return value - s.addr + s.offset;
        }
    }
    return std::nullopt;
}

std::string readelf_build_id(const std::string& path) {
    static const std::regex line(R"(Build ID: ([0-9a-f]+))");
    for (const auto& l : lines_of(run_command("readelf -nW " + quote(path)))) {
        std::smatch m;
        if (std::regex_search(l, m, line))
            return m[1];
    }
    return "";
}

std::vector<Instruction> objdump(const std::string& path, uint64_t start, uint64_t stop) {
    // " 331e824:\tmov    ecx,0xcbc3af"
    static const std::regex line(R"(^\s*([0-9a-f]+):\t(\S+)\s*(.*)$)");
    const std::string command =
        "objdump -d -M intel --no-show-raw-insn --start-address=" + std::to_string(start) +
        " --stop-address=" + std::to_string(stop) + " " + quote(path);
    std::vector<Instruction> code;
    for (const auto& l : lines_of(run_command(command))) {
        std::smatch m;
        if (std::regex_match(l, m, line))
            code.push_back(Instruction{hex(m[1]), m[2], m[3]});
    }
    return code;
}

std::optional<uint64_t> ObservedFunction::site_with_reason(uint32_t reason) const {
    for (const auto& [va, r] : sites) {
        if (r == reason)
            return va;
    }
    return std::nullopt;
}

ObservedFunction observe_function(const std::string& path, uint64_t entry, uint64_t file_va) {
    ObservedFunction f;
    f.entry = entry;
    for (const auto& insn : objdump(path, entry, entry + 0x1000)) {
        if (insn.mnemonic == "int3")
            break;  // the padding after the function
        f.code.push_back(insn);
    }
    static const std::regex call(R"(^([0-9a-f]+)\b.*$)");
    static const std::regex reason_load(R"(^(esi|edx),0x([0-9a-f]+)$)");
    char file_operand[32];
    std::snprintf(file_operand, sizeof file_operand, ",0x%lx", static_cast<unsigned long>(file_va));
    for (size_t i = 0; i < f.code.size(); ++i) {
        const Instruction& insn = f.code[i];
        std::smatch m;
        if (insn.mnemonic == "call" && std::regex_match(insn.operands, m, call)) {
            f.call_targets.insert(hex(m[1]));
        }
        if (insn.mnemonic != "mov" || !insn.operands.ends_with(file_operand))
            continue;
        // The reason is the other small constant loaded next to __FILE__.
        for (size_t j = i + 1; j < f.code.size() && j <= i + 6; ++j) {
            if (f.code[j].mnemonic == "mov" &&
                std::regex_match(f.code[j].operands, m, reason_load)) {
                const auto reason = static_cast<uint32_t>(hex(m[2]));
                f.error_reasons.insert(reason);
                f.sites.emplace_back(insn.va, reason);
                break;
            }
        }
    }
    return f;
}

std::optional<uint64_t> find_ssl_lib_cc(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    const std::string needle("/ssl/ssl_lib.cc\0", 16);
    std::string carry;
    std::vector<char> buffer(1 << 24);
    uint64_t base = 0;
    while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        const auto n = static_cast<size_t>(in.gcount());
        if (n == 0)
            break;
        std::string window = carry + std::string(buffer.data(), n);
        const size_t at = window.find(needle);
        if (at != std::string::npos) {
            size_t begin = at;
            while (begin > 0 && window[begin - 1] != '\0')
                --begin;
            return base - carry.size() + begin;
        }
        carry = window.substr(window.size() > 4096 ? window.size() - 4096 : 0);
        base += n;
    }
    return std::nullopt;
}

size_t count_direct_calls(const std::string& path, const std::vector<ProgramHeader>& headers,
                          uint64_t target) {
    size_t count = 0;
    for (const auto& h : headers) {
        if (h.type != "LOAD" || h.flags.find('E') == std::string::npos)
            continue;
        const auto code = read_bytes(path, h.offset, h.filesz);
        for (size_t i = 0; i + 5 <= code.size(); ++i) {
            if (code[i] != 0xe8)
                continue;
            int32_t rel = 0;
            std::memcpy(&rel, code.data() + i + 1, 4);
            if (h.vaddr + i + 5 + static_cast<uint64_t>(static_cast<int64_t>(rel)) == target) {
                ++count;
            }
        }
    }
    return count;
}

std::vector<uint8_t> read_bytes(const std::string& path, uint64_t offset, size_t length) {
    std::ifstream in(path, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(offset));
    std::vector<uint8_t> bytes(length);
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(length));
    bytes.resize(static_cast<size_t>(in.gcount()));
    return bytes;
}

void write_bytes(const std::string& path, uint64_t offset, const std::vector<uint8_t>& bytes) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        throw std::runtime_error("cannot open " + path);
    const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    ::close(fd);
    if (n != static_cast<ssize_t>(bytes.size()))
        throw std::runtime_error("cannot write " + path);
}

std::filesystem::path claude_cache_root() {
    const char* root = std::getenv("CT_TEST_CACHE");
    return std::filesystem::path(root != nullptr && *root != '\0' ? root : "/var/cache/ct-test") /
           "claude-code-linux-x64";
}

std::optional<std::string> claude_build(const std::string& version) {
    const auto dir = claude_cache_root() / version;
    if (std::filesystem::exists(dir / ".complete") && std::filesystem::exists(dir / "claude")) {
        return (dir / "claude").string();
    }
    return std::nullopt;
}

bool registry_was_unreachable() {
    return std::filesystem::exists(claude_cache_root() / "registry-unreachable");
}

std::optional<std::string> latest_claude_version() {
    std::ifstream in(claude_cache_root() / "latest-version");
    std::string version;
    if (in >> version)
        return version;
    return std::nullopt;
}

TempDir::TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "ct-locate-test.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
        throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

}  // namespace ct::locate::test
