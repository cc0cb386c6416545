#include "locate/locator_cache.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/unique_fd.hpp"

namespace ct::locate {
namespace {

constexpr const char* kMagic = "ct-locator-cache 1";
constexpr size_t kCheckBytes = 16;
constexpr size_t kMaxCacheFile = 1u << 20;

uint64_t fnv1a(std::string_view data, uint64_t hash = 0xcbf29ce484222325ull) {
    for (unsigned char c : data) {
        hash ^= c;
        hash *= 0x100000001b3ull;
    }
    return hash;
}

std::string escape(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

std::string unescape(std::string_view text) {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) {
            out += text[i + 1] == 'n' ? '\n' : text[i + 1];
            ++i;
        } else {
            out += text[i];
        }
    }
    return out;
}

std::string hex_bytes(std::span<const uint8_t> bytes) {
    std::string out;
    for (uint8_t b : bytes)
        out += fmt::format("{:02x}", b);
    return out;
}

std::optional<uint64_t> parse_hex(const std::string& text) {
    if (text.empty() || text.size() > 16)
        return std::nullopt;
    uint64_t value = 0;
    for (char c : text) {
        int digit =
            std::isxdigit(static_cast<unsigned char>(c))
                ? (std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (c | 0x20) - 'a' + 10)
                : -1;
        if (digit < 0)
            return std::nullopt;
        value = value * 16 + static_cast<uint64_t>(digit);
    }
    return value;
}

std::optional<std::string> read_small_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return std::nullopt;
    std::string data;
    data.resize(kMaxCacheFile + 1);
    in.read(data.data(), static_cast<std::streamsize>(data.size()));
    data.resize(static_cast<size_t>(in.gcount()));
    if (data.size() > kMaxCacheFile)
        return std::nullopt;
    return data;
}

// Whether the code at a target still is what was cached. A uprobe is an int3 (0xcc)
// over the first byte of the function; a copy of the code read while some
// recording had probes on it (in the cache file, or in a private mapping of the
// binary) may show it there. Any other difference means other code.
bool same_code(const std::string& cached_hex, std::span<const uint8_t> actual) {
    const std::string actual_hex = hex_bytes(actual);
    if (actual_hex == cached_hex)
        return true;
    if (actual_hex.size() != cached_hex.size() || actual_hex.size() < 2)
        return false;
    if (actual_hex.compare(2, std::string::npos, cached_hex, 2, std::string::npos) != 0)
        return false;
    return actual_hex.compare(0, 2, "cc") == 0 || cached_hex.compare(0, 2, "cc") == 0;
}

// Splits "keyword rest-of-line".
std::pair<std::string, std::string> split_keyword(const std::string& line) {
    const size_t space = line.find(' ');
    if (space == std::string::npos)
        return {line, ""};
    return {line.substr(0, space), line.substr(space + 1)};
}

}  // namespace

std::string cache_file_path(const std::string& cache_dir, const std::string& build_id_hex) {
    return cache_dir + "/" + build_id_hex + ".locate";
}

std::string cache_identity(const ElfImage& image) {
    if (!image.build_id_hex().empty())
        return image.build_id_hex();
    // No build-id (Rust's musl builds, some stripped plugins): a fingerprint of the
    // size, the ELF and program headers and 32 samples of 64 KiB spread over the file.
    // The code bytes recorded at every target are checked on load as well.
    const MappedFile& file = image.file();
    const uint64_t size = file.size();
    uint64_t hash = fnv1a(std::to_string(size));
    auto mix = [&](std::span<const uint8_t> bytes) {
        hash = fnv1a(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                     hash);
    };
    mix(file.slice(0, 4096));
    constexpr uint64_t kSamples = 32, kSample = 64u << 10;
    for (uint64_t i = 0; i < kSamples; ++i)
        mix(file.slice(size / kSamples * i, kSample));
    return fmt::format("nobuildid-{:016x}", hash);
}

std::optional<BinaryReport> load_cached_report(const std::string& cache_dir, const ElfImage& image,
                                               std::string& why_not) {
    const std::string identity = cache_identity(image);
    const std::string path = cache_file_path(cache_dir, identity);
    auto data = read_small_file(path);
    if (!data) {
        why_not = "no cache file";
        return std::nullopt;
    }
    const size_t end_at = data->rfind("end ");
    if (end_at == std::string::npos || (end_at != 0 && (*data)[end_at - 1] != '\n')) {
        why_not = "cache file has no end line";
        return std::nullopt;
    }
    const std::string end_line = data->substr(end_at + 4, data->find('\n', end_at) - end_at - 4);
    if (parse_hex(end_line) != fnv1a(std::string_view(*data).substr(0, end_at))) {
        why_not = "cache file checksum mismatch";
        return std::nullopt;
    }
    std::istringstream in(data->substr(0, end_at));
    std::string line;
    if (!std::getline(in, line) || line != kMagic) {
        why_not = "not a cache file of this format";
        return std::nullopt;
    }
    BinaryReport report;
    bool version_ok = false, build_id_ok = false, size_ok = false, flavor_ok = false;
    while (std::getline(in, line)) {
        auto [key, rest] = split_keyword(line);
        if (key == "locator") {
            version_ok = rest == std::to_string(kLocatorVersion);
            if (!version_ok) {
                why_not = "written by locator version " + rest;
                return std::nullopt;
            }
        } else if (key == "build-id") {
            build_id_ok = rest == identity;
        } else if (key == "file-size") {
            size_ok = rest == std::to_string(image.file().size());
        } else if (key == "flavor") {
            auto [flavor, how] = split_keyword(rest);
            if (flavor.size() != 1 || flavor[0] < '0' ||
                flavor[0] > '0' + static_cast<int>(kLastFlavor))
                break;
            report.flavor = static_cast<Flavor>(flavor[0] - '0');
            report.how_found = how;
            flavor_ok = true;
        } else if (key == "go-version") {
            report.go_version = unescape(rest);
        } else if (key == "refusal") {
            report.refusal = unescape(rest);
        } else if (key == "evidence") {
            report.evidence.push_back(unescape(rest));
        } else if (key == "unprobed") {
            report.unprobed_tls.push_back(unescape(rest));
        } else if (key == "target") {
            std::istringstream fields(rest);
            unsigned role = 0;
            std::string vaddr, offset, bytes;
            const bool parsed = static_cast<bool>(fields >> role >> vaddr >> offset >> bytes);
            std::string evidence;
            std::getline(fields, evidence);
            auto va = parse_hex(vaddr), off = parse_hex(offset);
            if (!parsed || role > static_cast<unsigned>(kLastRole) || !va || !off) {
                why_not = "malformed target line";
                return std::nullopt;
            }
            // The code must still be there: guards against a rebuilt binary that kept
            // its build-id.
            if (!same_code(bytes, image.file().slice(*off, kCheckBytes))) {
                why_not = fmt::format("code at offset {:#x} differs from the cached bytes", *off);
                return std::nullopt;
            }
            report.targets.push_back(Target{static_cast<Role>(role), *va, *off,
                                            unescape(evidence.empty() ? "" : evidence.substr(1))});
        } else {
            why_not = "unknown line \"" + key + "\"";
            return std::nullopt;
        }
    }
    if (!version_ok || !build_id_ok || !size_ok || !flavor_ok) {
        why_not = "cache file is for another binary or incomplete";
        return std::nullopt;
    }
    report.evidence.push_back("from cache file " + path);
    report.from_cache = true;
    return report;
}

Expected<void> store_cached_report(const std::string& cache_dir, const ElfImage& image,
                                   const BinaryReport& report) {
    const std::string identity = cache_identity(image);
    std::error_code ec;
    std::filesystem::create_directories(cache_dir, ec);
    if (ec)
        return fail("cannot create " + cache_dir + ": " + ec.message());

    std::string text = std::string(kMagic) + "\n";
    text += fmt::format("locator {}\n", kLocatorVersion);
    text += fmt::format("build-id {}\n", identity);
    text += fmt::format("file-size {}\n", image.file().size());
    text += fmt::format("flavor {} {}\n", static_cast<int>(report.flavor), report.how_found);
    if (!report.go_version.empty())
        text += "go-version " + escape(report.go_version) + "\n";
    if (report.refusal)
        text += "refusal " + escape(*report.refusal) + "\n";
    for (const auto& line : report.evidence)
        text += "evidence " + escape(line) + "\n";
    for (const auto& line : report.unprobed_tls)
        text += "unprobed " + escape(line) + "\n";
    for (const auto& t : report.targets) {
        text += fmt::format(
            "target {} {:x} {:x} {} {}\n", static_cast<int>(t.role), t.vaddr, t.file_offset,
            hex_bytes(image.file().slice(t.file_offset, kCheckBytes)), escape(t.evidence));
    }
    text += fmt::format("end {:x}\n", fnv1a(text));

    const std::string path = cache_file_path(cache_dir, identity);
    std::string temp = path + ".XXXXXX";
    UniqueFd fd(::mkstemp(temp.data()));
    if (!fd)
        return fail_errno("cannot create " + temp);
    size_t written = 0;
    while (written < text.size()) {
        const ssize_t n = ::write(fd.get(), text.data() + written, text.size() - written);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            const int saved = errno;
            ::unlink(temp.c_str());
            return fail("cannot write " + temp, saved);
        }
        written += static_cast<size_t>(n);
    }
    ::fchmod(fd.get(), 0644);
    fd.reset();
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        const int saved = errno;
        ::unlink(temp.c_str());
        return fail("cannot rename " + temp, saved);
    }
    return {};
}

}  // namespace ct::locate
