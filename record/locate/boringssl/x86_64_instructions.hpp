// x86-64 instruction facts the analyzer needs, on top of capstone: register families,
// branch kinds, which registers an instruction reads and writes, padding bytes.
#pragma once

#include <capstone/capstone.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace ct::locate::boringssl::x86_64 {

// General-purpose register families, numbered like the x86 encoding.
enum Gpr : int {
    kRax = 0,
    kRcx,
    kRdx,
    kRbx,
    kRsp,
    kRbp,
    kRsi,
    kRdi,
    kR8,
    kR9,
    kR10,
    kR11,
    kR12,
    kR13,
    kR14,
    kR15,
    kRip,
    kFlags,
    kGprCount
};
constexpr int kNotGpr = -1;
// SysV integer argument registers, in order.
constexpr std::array<int, 6> kArgumentRegisters = {kRdi, kRsi, kRdx, kRcx, kR8, kR9};

// The family (kRax...kFlags) of a capstone register, or kNotGpr.
int gpr_family(unsigned reg);
const char* gpr_name(int family);

inline const cs_x86& x86(const cs_insn* insn) {
    return insn->detail->x86;
}
bool in_group(const cs_insn* insn, uint8_t group);
// The target of a direct branch or call, if it is one.
std::optional<uint64_t> direct_target(const cs_insn* insn);
bool is_trap(const cs_insn* insn);  // int3, ud2, hlt
bool is_return(const cs_insn* insn);
// `xor eax, eax` and friends only write their operand.
bool is_zero_idiom(const cs_insn* insn);
// rsp, rbp, rip or none: a memory operand that addresses the frame or the image.
bool is_stack_base(x86_reg reg);

struct RegisterAccess {
    std::vector<int> read, written;  // register families
};
RegisterAccess register_access(csh handle, const cs_insn* insn);

// Whether `before` (the bytes just before an address) ends with padding or with the
// last instruction of a function (int3, nop, ret, ud2, jmp, call to a noreturn function).
bool ends_with_boundary(std::span<const uint8_t> before);

}  // namespace ct::locate::boringssl::x86_64
