// libFuzzer target: the Go pclntab and buildinfo readers (record/locate/go/go_pclntab.hpp),
// which read tables from untrusted executables. The input is both a pclntab (from its
// first byte) and a buildinfo blob whose pointers are offsets into the input.
#include <cstddef>
#include <cstdint>
#include <span>

#include "locate/go/go_pclntab.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace ct::locate::go;
    const std::span<const std::uint8_t> bytes(data, size);
    static constexpr std::uint32_t kMagics[] = {kPclntabMagic118, kPclntabMagic120,
                                                kPclntabMagic116};
    for (std::size_t at : find_pclntab_headers(bytes, kMagics)) {
        if (auto table = Pclntab::parse(bytes.subspan(at))) {
            std::size_t named = 0;
            for (std::size_t i = 0; i < table->function_count() && i < 4096; ++i) {
                if (auto f = table->function(i); f && !f->name.empty())
                    ++named;
            }
            (void)table->find("crypto/tls.(*Conn).Write");
            (void)named;
        }
    }
    (void)Pclntab::parse(bytes);
    const VaddrReader read = [&](std::uint64_t vaddr, std::uint64_t len) {
        if (vaddr >= size)
            return std::span<const std::uint8_t>{};
        return bytes.subspan(vaddr, std::min<std::uint64_t>(len, size - vaddr));
    };
    for (std::size_t at : find_buildinfo(bytes))
        (void)buildinfo_version(bytes.subspan(at), read);
    (void)buildinfo_version(bytes, read);
    return 0;
}
