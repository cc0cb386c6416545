// format_probe_report() and run_probe_report(): `ct-record --probe-report`.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <string_view>
#include <ostream>

#include "locate/tls_locator.hpp"

namespace ct::locate {

std::string format_probe_report(const BinaryReport& report) {
    std::string out = report.path + "\n";
    out += fmt::format("  build-id {}, {} bytes, device {:#x} inode {}\n",
                       report.build_id_hex.empty() ? "(none)" : report.build_id_hex,
                       report.file_size, report.device, report.inode);
    out += fmt::format("  TLS: {} (found by {}){}\n", flavor_name(report.flavor),
                       report.how_found.empty() ? "-" : report.how_found,
                       report.from_cache ? ", from cache" : "");
    if (!report.go_version.empty())
        out += "  Go version: " + report.go_version + "\n";
    if (report.refusal) {
        out += "  REFUSED, nothing will be hooked: " + *report.refusal + "\n";
    } else if (report.targets.empty()) {
        out += "  no TLS functions to hook\n";
    }
    for (const auto& tls : report.unprobed_tls) {
        out += fmt::format(
            "  NOT seen: {} is linked in and ct has no probes for it: connections "
            "made through {} are not recorded\n",
            tls, tls.substr(0, tls.find('-')));
    }
    std::size_t width = 17;  // "SSL_do_handshake ", or the longest GnuTLS name
    for (const auto& t : report.targets)
        width = std::max(width, std::string_view(role_symbol(t.role)).size() + 1);
    for (const auto& t : report.targets) {
        out += fmt::format("  {:<{}} file offset {:#10x}  vaddr {:#10x}\n", role_symbol(t.role),
                           width, t.file_offset, t.vaddr);
        out += "      " + t.evidence + "\n";
    }
    if (!report.evidence.empty()) {
        out += "  evidence:\n";
        for (const auto& line : report.evidence)
            out += "    - " + line + "\n";
    }
    return out;
}

namespace {

bool is_pid(const std::string& text) {
    return !text.empty() && text.size() < 10 && std::all_of(text.begin(), text.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
    });
}

int report_process(pid_t pid, std::ostream& out, const LocatorOptions& options) {
    auto binaries = read_mapped_binaries(pid);
    if (!binaries) {
        out << "cannot examine process " << pid << ": " << binaries.error().what() << "\n";
        return 2;
    }
    size_t with_tls = 0, refused = 0, without_tls = 0, unreadable = 0, unprobed_only = 0;
    for (const auto& binary : *binaries) {
        const std::string label = binary.path_in_process + (binary.deleted ? " (deleted)" : "");
        if (binary.access_path.empty()) {
            ++unreadable;
            out << label << "\n  cannot be opened from here (gone, or no access)\n";
            continue;
        }
        auto report = locate_tls_functions(binary.access_path, options);
        if (!report) {
            ++unreadable;
            out << label << "\n  cannot be examined: " << report.error().what() << "\n";
            continue;
        }
        if (report->flavor == Flavor::None && !report->refusal && report->unprobed_tls.empty()) {
            ++without_tls;
            continue;
        }
        if (report->refusal)
            ++refused;
        else if (report->targets.empty())
            ++unprobed_only;  // rustls and nothing ct can hook
        else
            ++with_tls;
        if (report->path != binary.path_in_process) {
            out << label << " (opened as " << report->path << ")\n";
            report->path = binary.path_in_process;
        }
        out << format_probe_report(*report);
    }
    out << fmt::format(
        "process {}: examined {} mapped ELF files: {} with TLS functions, {} refused, {} with only "
        "TLS ct does not probe, {} without TLS (not shown), {} unreadable\n",
        pid, binaries->size(), with_tls, refused, unprobed_only, without_tls, unreadable);
    return refused > 0 || unprobed_only > 0 ? 1 : 0;
}

}  // namespace

int run_probe_report(const std::string& binary_or_pid, std::ostream& out,
                     const LocatorOptions& options) {
    if (is_pid(binary_or_pid)) {
        return report_process(static_cast<pid_t>(std::stol(binary_or_pid)), out, options);
    }
    auto report = locate_tls_functions(binary_or_pid, options);
    if (!report) {
        out << "cannot examine " << binary_or_pid << ": " << report.error().what() << "\n";
        return 2;
    }
    out << format_probe_report(*report);
    // Non-zero when ct would not record this binary's TLS: a refused library, or TLS
    // ct has no probes for (rustls) and nothing it can hook.
    const bool unprobed_only = report->targets.empty() && !report->unprobed_tls.empty();
    return report->refusal || unprobed_only ? 1 : 0;
}

}  // namespace ct::locate
