// record-bench-empty-probe: attaches the empty programs of empty_probe.bpf.c as
// uprobe and uretprobe to the functions ct-record hooks for TLS I/O, prints
// "attached N", and detaches when its standard input closes (or says "quit").
//
//   record-bench-empty-probe [LIBSSL [FUNCTION...]]
//     default /usr/lib/x86_64-linux-gnu/libssl.so.3 and SSL_write, SSL_read,
//     SSL_write_ex, SSL_read_ex; for libgnutls, name its functions. FUNCTION:entry
//     attaches the entry program only, on the function's first instruction;
//     FUNCTION:emulated the entry program only where ct-record puts its BIO_write probe
//     (the first instruction the kernel emulates, locate/probe_placement.hpp);
//     FUNCTION+OFFSET the entry program OFFSET bytes into the function.
//   record-bench-empty-probe --go BINARY
//
// --go: a Go executable; the empty entry program goes on every place ct-record probes in
// it (the entries of (*tls.Conn).Write, Read and Close, and each RET instruction of
// Write and Read), as plain uprobes like ct-record's.
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "empty_probe.skel.h"
#include "locate/probe_placement.hpp"
#include "locate/tls_locator.hpp"

namespace {

struct SkelDestroy {
    void operator()(empty_probe* s) const { empty_probe__destroy(s); }
};
struct LinkDestroy {
    void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
using LinkPtr = std::unique_ptr<bpf_link, LinkDestroy>;

int quiet_libbpf(enum libbpf_print_level, const char*, va_list) {
    return 0;
}

// Where ct-record puts its probe on BIO_write/BIO_write_ex `fn` of `lib` (bytes into the
// function; see BpfProbes::attach_function), nullopt if the locator does not find it.
std::optional<std::uint64_t> emulated_delta(const std::string& lib, const std::string& fn) {
    ct::locate::LocatorOptions options;
    options.use_cache = false;
    auto report = ct::locate::locate_tls_functions(lib, options);
    if (!report)
        return std::nullopt;
    for (const auto& t : report->targets) {
        if (ct::locate::role_symbol(t.role) != fn)
            continue;
        std::ifstream in(lib, std::ios::binary);
        std::vector<char> code(96);
        in.seekg(static_cast<std::streamoff>(t.file_offset));
        in.read(code.data(), static_cast<std::streamsize>(code.size()));
        const auto* bytes = reinterpret_cast<const std::uint8_t*>(code.data());
        return ct::locate::emulated_entry_delta(
            std::span(bytes, static_cast<std::size_t>(in.gcount())), 0b110);
    }
    return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
    std::string lib = argc > 1 ? argv[1] : "/usr/lib/x86_64-linux-gnu/libssl.so.3";
    libbpf_set_print(quiet_libbpf);
    std::unique_ptr<empty_probe, SkelDestroy> skel(empty_probe__open_and_load());
    if (!skel) {
        std::cerr << "record-bench-empty-probe: cannot load: " << std::strerror(errno) << "\n";
        return 1;
    }
    std::vector<std::string> functions(argv + std::min(argc, 2), argv + argc);
    if (functions.empty())
        functions = {"SSL_write", "SSL_read", "SSL_write_ex", "SSL_read_ex"};
    std::vector<LinkPtr> links;
    if (lib == "--go" && argc > 2) {
        const std::string binary = argv[2];
        ct::locate::LocatorOptions options;
        options.use_cache = false;
        auto report = ct::locate::locate_tls_functions(binary, options);
        if (!report || report->flavor != ct::locate::Flavor::GoCryptoTls || report->refusal) {
            std::cerr << "record-bench-empty-probe: no Go crypto/tls in " << binary << "\n";
            return 1;
        }
        for (const auto& t : report->targets) {
            LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = false);
            LinkPtr link(bpf_program__attach_uprobe_opts(skel->progs.empty_entry, -1,
                                                         binary.c_str(), t.file_offset, &opts));
            if (!link) {
                std::cerr << "record-bench-empty-probe: cannot attach at " << t.file_offset << ": "
                          << std::strerror(errno) << "\n";
                return 1;
            }
            links.push_back(std::move(link));
        }
        lib.clear();
        functions.clear();
    }
    for (std::string fn : functions) {
        constexpr std::string_view kEntryOnly = ":entry", kEmulated = ":emulated";
        const bool emulated = fn.ends_with(kEmulated);
        const bool entry_only = emulated || fn.ends_with(kEntryOnly);
        if (entry_only)
            fn.resize(fn.size() - (emulated ? kEmulated : kEntryOnly).size());
        // FUNCTION+OFFSET: OFFSET bytes into the function (entry only).
        std::size_t offset = 0;
        if (const auto plus = fn.find('+'); plus != std::string::npos) {
            offset = std::stoul(fn.substr(plus + 1), nullptr, 0);
            fn.resize(plus);
        }
        if (emulated) {
            auto at = emulated_delta(lib, fn);
            if (!at) {
                std::cerr << "record-bench-empty-probe: " << fn << " not found in " << lib << "\n";
                return 1;
            }
            offset = *at;
        }
        for (bool ret : {false, true}) {
            if (ret && (entry_only || offset != 0))
                continue;
            LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = ret, .func_name = fn.c_str());
            bpf_program* prog = ret ? skel->progs.empty_return : skel->progs.empty_entry;
            LinkPtr link(bpf_program__attach_uprobe_opts(prog, -1, lib.c_str(), offset, &opts));
            if (!link) {
                std::cerr << "record-bench-empty-probe: cannot attach to " << fn << " in " << lib
                          << ": " << std::strerror(errno) << "\n";
                return 1;
            }
            links.push_back(std::move(link));
        }
    }
    std::cout << "attached " << links.size() << std::endl;
    for (std::string line; std::getline(std::cin, line) && line != "quit";) {
    }
    // Each uprobe detach waits for an RCU grace period; overlap the waits.
    std::vector<std::thread> closers;
    for (auto& link : links)
        closers.emplace_back([l = std::move(link)]() mutable { l.reset(); });
    for (auto& t : closers)
        t.join();
    std::cout << "detached" << std::endl;
    return 0;
}
