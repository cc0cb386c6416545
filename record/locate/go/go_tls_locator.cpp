#include "locate/go/go_tls_locator.hpp"

#include <elf.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "locate/boringssl/capstone_handle.hpp"
#include "locate/go/go_pclntab.hpp"

namespace ct::locate::go {

namespace {

// Go functions are small; a bound keeps a hostile pclntab from making us decode MBs.
constexpr std::uint64_t kMaxFunctionBytes = 1 << 20;

struct Pclntabs {
    std::vector<std::pair<std::uint64_t, Pclntab>> valid;  // (vaddr, table)
    std::vector<std::string> rejected;
};

Pclntabs find_pclntabs(const ElfImage& image) {
    static constexpr std::array<std::uint32_t, 4> kMagics = {kPclntabMagic118, kPclntabMagic120,
                                                             kPclntabMagic116, kPclntabMagic12};
    Pclntabs out;
    for (const auto& seg : image.loads()) {
        if (!seg.readable)
            continue;
        const auto bytes = image.segment_bytes(seg);
        for (std::size_t at : find_pclntab_headers(bytes, kMagics)) {
            auto table = Pclntab::parse(bytes.subspan(at));
            if (table) {
                out.valid.emplace_back(seg.vaddr + at, std::move(*table));
            } else if (out.rejected.size() < 8) {
                out.rejected.push_back(
                    fmt::format("vaddr {:#x}: {}", seg.vaddr + at, table.error().what()));
            }
        }
    }
    return out;
}

std::optional<std::string> find_version(const ElfImage& image, bool& found_blob,
                                        std::uint64_t& blob_vaddr) {
    const VaddrReader read = [&](std::uint64_t vaddr, std::uint64_t len) {
        return image.bytes_at(vaddr, len);
    };
    for (const auto& seg : image.loads()) {
        // The Go linker puts the blob at the start of the writable data: scanning only
        // there keeps the check cheap for every non-Go library.
        if (!seg.writable)
            continue;
        const auto bytes = image.segment_bytes(seg);
        for (std::size_t at : find_buildinfo(bytes)) {
            found_blob = true;
            blob_vaddr = seg.vaddr + at;
            if (auto v = buildinfo_version(bytes.subspan(at), read))
                return v;
        }
    }
    return std::nullopt;
}

struct FunctionCode {
    std::vector<std::uint64_t> rets;  // vaddrs of RET instructions
    bool stack_check_on_r14 = false;  // the prologue compares SP with g.stackguard0 via R14
    std::optional<std::string> problem;
};

// Decodes [entry, end) in order: Go emits no data inside function bodies, only int3
// padding after the last instruction.
FunctionCode read_function(const ElfImage& image, boringssl::CapstoneHandle& cs,
                           const GoFunction& f) {
    FunctionCode out;
    if (f.end <= f.entry || f.end - f.entry > kMaxFunctionBytes) {
        out.problem = fmt::format("implausible extent [{:#x}, {:#x})", f.entry, f.end);
        return out;
    }
    const LoadSegment* seg = image.segment_of(f.entry);
    if (seg == nullptr || !seg->executable || !seg->contains_vaddr(f.end - 1)) {
        out.problem = "not inside one executable segment of the file";
        return out;
    }
    const auto code = image.bytes_at(f.entry, f.end - f.entry);
    std::size_t off = 0;
    int decoded = 0;
    while (off < code.size()) {
        const cs_insn* insn = cs.decode(code.subspan(off), f.entry + off);
        if (insn == nullptr) {
            out.problem = fmt::format("undecodable instruction at {:#x}", f.entry + off);
            return out;
        }
        if (decoded < 3 && std::string_view(insn->mnemonic) == "cmp" &&
            std::string_view(insn->op_str).find("[r14 + 0x10]") != std::string_view::npos)
            out.stack_check_on_r14 = true;
        if (insn->id == X86_INS_RET)
            out.rets.push_back(insn->address);
        off += insn->size;
        ++decoded;
    }
    if (out.rets.empty())
        out.problem = "no RET instruction";
    return out;
}

}  // namespace

GoTlsResult locate_go_tls(const ElfImage& image) {
    GoTlsResult out;
    bool found_blob = false;
    std::uint64_t blob_vaddr = 0;
    auto version = find_version(image, found_blob, blob_vaddr);
    if (!found_blob)
        return out;  // not a Go executable
    out.is_go = true;
    out.version = version.value_or("");
    out.evidence.push_back(fmt::format("Go buildinfo at vaddr {:#x}: Go version {}", blob_vaddr,
                                       version ? *version : "unreadable"));

    auto tables = find_pclntabs(image);
    for (const auto& line : tables.rejected)
        out.evidence.push_back("pclntab candidate rejected at " + line);
    if (tables.valid.size() != 1) {
        const auto all = image.file().slice(0, image.file().size());
        const std::string_view name = kConnWrite;
        if (tables.valid.empty() &&
            std::search(all.begin(), all.end(), name.begin(), name.end()) == all.end()) {
            out.evidence.push_back("no pclntab of Go 1.18+, and no crypto/tls.(*Conn).Write name");
            return out;
        }
        out.evidence.push_back(
            fmt::format("{} well-formed Go 1.18+ pclntabs found", tables.valid.size()));
        out.refusal = tables.valid.empty() ? "Go executable without a readable Go 1.18+ pclntab"
                                           : "Go executable with more than one pclntab: ambiguous";
        out.has_tls = true;  // unknown: say so rather than ignore the binary
        return out;
    }
    const auto& [table_vaddr, table] = tables.valid.front();
    out.evidence.push_back(
        fmt::format("pclntab at vaddr {:#x}: magic {:#x}, {} functions, text at {:#x}", table_vaddr,
                    table.magic(), table.function_count(), table.text_start()));
    auto write = table.find(kConnWrite);
    auto read = table.find(kConnRead);
    auto close = table.find(kConnClose);
    if (write.empty() && read.empty()) {
        out.evidence.push_back("no crypto/tls.(*Conn).Write or Read in the pclntab");
        return out;
    }
    out.has_tls = true;
    if (image.machine() != EM_X86_64) {
        out.refusal = "Go crypto/tls on a machine other than x86-64: not supported";
        return out;
    }
    if (table.text_start() == 0) {
        out.refusal = "pclntab text start is 0 (relocated at load time): not supported";
        return out;
    }
    if (write.size() != 1 || read.size() != 1) {
        out.refusal = fmt::format("{} functions named {} and {} named {}: need one of each",
                                  write.size(), kConnWrite, read.size(), kConnRead);
        return out;
    }
    auto cs = boringssl::CapstoneHandle::open(CS_ARCH_X86, CS_MODE_64);
    if (!cs) {
        out.refusal = cs.error().what();
        return out;
    }
    struct Plan {
        const GoFunction* f;
        Role entry;
        std::optional<Role> ret;
    };
    std::vector<Plan> plans = {{&write.front(), Role::GoConnWrite, Role::GoConnWriteReturn},
                               {&read.front(), Role::GoConnRead, Role::GoConnReadReturn}};
    if (close.size() == 1)
        plans.push_back({&close.front(), Role::GoConnClose, std::nullopt});
    std::vector<Target> entries, returns;
    for (const auto& plan : plans) {
        const GoFunction& f = *plan.f;
        FunctionCode code = read_function(image, *cs, f);
        if (code.problem) {
            out.refusal = fmt::format("{} at {:#x}: {}", f.name, f.entry, *code.problem);
            return out;
        }
        if (!code.stack_check_on_r14) {
            out.refusal = fmt::format(
                "{} at {:#x} does not start with the register-ABI stack check on R14: "
                "not the Go 1.17+ internal ABI",
                f.name, f.entry);
            return out;
        }
        auto entry_offset = image.file_offset_of(f.entry);
        if (!entry_offset) {
            out.refusal = fmt::format("{} at {:#x} is not in the file", f.name, f.entry);
            return out;
        }
        entries.push_back(Target{
            plan.entry, f.entry, *entry_offset,
            fmt::format("pclntab: \"{}\" [{:#x}, {:#x}), prologue compares SP with [r14 + 0x10] "
                        "(g in R14), {} RET instructions",
                        f.name, f.entry, f.end, code.rets.size())});
        if (!plan.ret)
            continue;
        for (std::uint64_t ret : code.rets) {
            auto ret_offset = image.file_offset_of(ret);
            if (!ret_offset) {
                out.refusal = fmt::format("RET at {:#x} is not in the file", ret);
                return out;
            }
            returns.push_back(
                Target{*plan.ret, ret, *ret_offset,
                       fmt::format("RET at +{:#x} of \"{}\"", ret - f.entry, f.name)});
        }
    }
    // Returns first: a call entered before its returns were probed would leave a record
    // that no return removes.
    out.targets = std::move(returns);
    for (auto& t : entries)
        out.targets.push_back(std::move(t));
    if (close.size() != 1)
        out.evidence.push_back(
            fmt::format("{} functions named {}: connections end only when "
                        "their address is reused",
                        close.size(), kConnClose));
    return out;
}

}  // namespace ct::locate::go
