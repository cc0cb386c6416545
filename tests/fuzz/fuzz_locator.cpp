// libFuzzer target: the TLS locator on arbitrary bytes as an ELF file (headers,
// unwind table, source-path and rustls strings, the structural OpenSSL and BoringSSL
// analyses). It must return an error or a report, never crash or hang; a report never
// names a target outside the file.
#include "fuzz_support.hpp"
#include "locate/tls_locator.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    ct::fuzz::MemFile file(ct::fuzz::as_text(data, size));
    ct::locate::LocatorOptions options;
    options.use_cache = false;
    auto report = ct::locate::locate_tls_functions(file.path(), options);
    if (report) {
        for (const auto& target : report->targets) {
            if (target.file_offset >= size)
                __builtin_trap();
        }
        (void)ct::locate::format_probe_report(*report);
    }
    return 0;
}
