#include "locate/boringssl/x86_64_instructions.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace ct::locate::boringssl::x86_64 {

int gpr_family(unsigned reg) {
    switch (reg) {
        case X86_REG_AL:
        case X86_REG_AH:
        case X86_REG_AX:
        case X86_REG_EAX:
        case X86_REG_RAX:
            return kRax;
        case X86_REG_CL:
        case X86_REG_CH:
        case X86_REG_CX:
        case X86_REG_ECX:
        case X86_REG_RCX:
            return kRcx;
        case X86_REG_DL:
        case X86_REG_DH:
        case X86_REG_DX:
        case X86_REG_EDX:
        case X86_REG_RDX:
            return kRdx;
        case X86_REG_BL:
        case X86_REG_BH:
        case X86_REG_BX:
        case X86_REG_EBX:
        case X86_REG_RBX:
            return kRbx;
        case X86_REG_SPL:
        case X86_REG_SP:
        case X86_REG_ESP:
        case X86_REG_RSP:
            return kRsp;
        case X86_REG_BPL:
        case X86_REG_BP:
        case X86_REG_EBP:
        case X86_REG_RBP:
            return kRbp;
        case X86_REG_SIL:
        case X86_REG_SI:
        case X86_REG_ESI:
        case X86_REG_RSI:
            return kRsi;
        case X86_REG_DIL:
        case X86_REG_DI:
        case X86_REG_EDI:
        case X86_REG_RDI:
            return kRdi;
        case X86_REG_R8B:
        case X86_REG_R8W:
        case X86_REG_R8D:
        case X86_REG_R8:
            return kR8;
        case X86_REG_R9B:
        case X86_REG_R9W:
        case X86_REG_R9D:
        case X86_REG_R9:
            return kR9;
        case X86_REG_R10B:
        case X86_REG_R10W:
        case X86_REG_R10D:
        case X86_REG_R10:
            return kR10;
        case X86_REG_R11B:
        case X86_REG_R11W:
        case X86_REG_R11D:
        case X86_REG_R11:
            return kR11;
        case X86_REG_R12B:
        case X86_REG_R12W:
        case X86_REG_R12D:
        case X86_REG_R12:
            return kR12;
        case X86_REG_R13B:
        case X86_REG_R13W:
        case X86_REG_R13D:
        case X86_REG_R13:
            return kR13;
        case X86_REG_R14B:
        case X86_REG_R14W:
        case X86_REG_R14D:
        case X86_REG_R14:
            return kR14;
        case X86_REG_R15B:
        case X86_REG_R15W:
        case X86_REG_R15D:
        case X86_REG_R15:
            return kR15;
        case X86_REG_RIP:
        case X86_REG_EIP:
        case X86_REG_IP:
            return kRip;
        case X86_REG_EFLAGS:
            return kFlags;
        default:
            return kNotGpr;
    }
}

const char* gpr_name(int family) {
    static constexpr const char* kNames[] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp",
                                             "rsi", "rdi", "r8",  "r9",  "r10", "r11",
                                             "r12", "r13", "r14", "r15", "rip", "flags"};
    return family >= 0 && family < kGprCount ? kNames[family] : "?";
}

bool in_group(const cs_insn* insn, uint8_t group) {
    const cs_detail* d = insn->detail;
    return std::find(d->groups, d->groups + d->groups_count, group) != d->groups + d->groups_count;
}

std::optional<uint64_t> direct_target(const cs_insn* insn) {
    const cs_x86& d = x86(insn);
    if (d.op_count == 1 && d.operands[0].type == X86_OP_IMM) {
        return static_cast<uint64_t>(d.operands[0].imm);
    }
    return std::nullopt;
}

bool is_trap(const cs_insn* insn) {
    return insn->id == X86_INS_INT3 || insn->id == X86_INS_UD2 || insn->id == X86_INS_HLT;
}

bool is_return(const cs_insn* insn) {
    return insn->id == X86_INS_RET || insn->id == X86_INS_RETF || in_group(insn, X86_GRP_IRET);
}

bool is_zero_idiom(const cs_insn* insn) {
    switch (insn->id) {
        case X86_INS_XOR:
        case X86_INS_SUB:
        case X86_INS_PXOR:
        case X86_INS_XORPS:
        case X86_INS_XORPD:
        case X86_INS_VPXOR:
        case X86_INS_VXORPS:
        case X86_INS_VXORPD:
            break;
        default:
            return false;
    }
    const cs_x86& d = x86(insn);
    return d.op_count >= 2 && d.operands[0].type == X86_OP_REG &&
           d.operands[1].type == X86_OP_REG && d.operands[0].reg == d.operands[1].reg;
}

RegisterAccess register_access(csh handle, const cs_insn* insn) {
    RegisterAccess access;
    cs_regs read{}, written{};
    uint8_t read_count = 0, written_count = 0;
    if (cs_regs_access(handle, insn, read, &read_count, written, &written_count) != CS_ERR_OK) {
        return access;
    }
    const bool zero_idiom = is_zero_idiom(insn);
    for (uint8_t i = 0; i < read_count && !zero_idiom; ++i) {
        if (int f = gpr_family(read[i]); f != kNotGpr)
            access.read.push_back(f);
    }
    for (uint8_t i = 0; i < written_count; ++i) {
        if (int f = gpr_family(written[i]); f != kNotGpr)
            access.written.push_back(f);
    }
    return access;
}

bool is_stack_base(x86_reg reg) {
    const int f = gpr_family(reg);
    return f == kRsp || f == kRbp || f == kRip || reg == X86_REG_INVALID;
}

bool ends_with_boundary(std::span<const uint8_t> before) {
    const size_t n = before.size();
    if (n == 0)
        return true;
    const uint8_t last = before[n - 1];
    if (last == 0xcc || last == 0x90 || last == 0xc3)
        return true;
    if (n >= 2 && before[n - 2] == 0x0f && last == 0x0b)
        return true;  // ud2
    if (n >= 2 && before[n - 2] == 0xeb)
        return true;  // jmp rel8
    if (n >= 5 && (before[n - 5] == 0xe9 || before[n - 5] == 0xe8))
        return true;
    // Multi-byte nops used as padding (Intel SDM "recommended multi-byte NOP").
    static constexpr std::array<std::string_view, 8> kNops = {
        std::string_view("\x66\x90", 2),
        std::string_view("\x0f\x1f\x00", 3),
        std::string_view("\x0f\x1f\x40\x00", 4),
        std::string_view("\x0f\x1f\x44\x00\x00", 5),
        std::string_view("\x66\x0f\x1f\x44\x00\x00", 6),
        std::string_view("\x0f\x1f\x80\x00\x00\x00\x00", 7),
        std::string_view("\x0f\x1f\x84\x00\x00\x00\x00\x00", 8),
        std::string_view("\x66\x0f\x1f\x84\x00\x00\x00\x00\x00", 9),
    };
    for (std::string_view nop : kNops) {
        if (n >= nop.size() &&
            std::memcmp(before.data() + n - nop.size(), nop.data(), nop.size()) == 0) {
            return true;
        }
    }
    return false;
}

}  // namespace ct::locate::boringssl::x86_64
