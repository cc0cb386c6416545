#include "locate/probe_placement.hpp"

#include "locate/boringssl/capstone_handle.hpp"
#include "locate/boringssl/x86_64_instructions.hpp"

namespace ct::locate {
namespace {

namespace x86_64 = boringssl::x86_64;

constexpr int kMaxInstructions = 16;

// A branch the kernel's x86 uprobes emulate (branch_setup_xol_ops): call rel32, jmp rel8
// and rel32, jcc rel8 and rel32, without prefixes.
bool emulated_branch(const cs_insn* insn) {
    const std::uint8_t op = insn->bytes[0];
    if (op == 0xe8 || op == 0xe9 || op == 0xeb || (op >= 0x70 && op <= 0x7f))
        return insn->size == (op == 0xe8 || op == 0xe9 ? 5 : 2);
    return op == 0x0f && insn->size == 6 && insn->bytes[1] >= 0x80 && insn->bytes[1] <= 0x8f;
}

bool changes_flow(const cs_insn* insn) {
    return x86_64::in_group(insn, CS_GRP_JUMP) || x86_64::in_group(insn, CS_GRP_CALL) ||
           x86_64::in_group(insn, CS_GRP_RET) || x86_64::in_group(insn, CS_GRP_INT) ||
           x86_64::in_group(insn, CS_GRP_IRET) || x86_64::is_trap(insn) ||
           insn->id == X86_INS_SYSCALL;
}

}  // namespace

std::uint64_t emulated_entry_delta(std::span<const std::uint8_t> code, unsigned arg_mask) {
    auto capstone = boringssl::CapstoneHandle::open(CS_ARCH_X86, CS_MODE_64);
    if (!capstone)
        return 0;
    std::uint64_t at = 0;
    for (int n = 0; n < kMaxInstructions && at < code.size(); ++n) {
        const cs_insn* insn = capstone->decode(code.subspan(at), at);
        if (insn == nullptr || insn->detail == nullptr)
            return 0;
        if (emulated_branch(insn))
            return at;
        if (changes_flow(insn))
            return 0;
        for (int f : x86_64::register_access(capstone->handle(), insn).written) {
            for (std::size_t i = 0; i < x86_64::kArgumentRegisters.size(); ++i) {
                if ((arg_mask & (1u << i)) && f == x86_64::kArgumentRegisters[i])
                    return 0;
            }
        }
        at += insn->size;
    }
    return 0;
}

}  // namespace ct::locate
