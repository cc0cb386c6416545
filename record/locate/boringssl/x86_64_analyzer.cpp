#include "locate/boringssl/x86_64_analyzer.hpp"

#include <algorithm>
#include <array>
#include <bitset>
#include <cstring>

#include <fmt/format.h>

namespace ct::locate::boringssl {
namespace {

// Scan granularity: big enough to amortise calls, small enough to keep RSS flat.
constexpr size_t kScanChunk = 8u << 20;
// Upper bounds that keep a malformed or hostile binary from making us loop.
constexpr uint64_t kMaxFunctionSpan = 256u << 10;
constexpr size_t kMaxFunctionInstructions = 40000;
constexpr int kMaxErrorCallInstructions = 24;
constexpr int kMaxEntryCheckInstructions = 24;
// Compilers align x86-64 function entries to 16 bytes at -O1 and above.
constexpr uint64_t kFunctionAlignment = 16;

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

const cs_x86& x86(const cs_insn* insn) {
    return insn->detail->x86;
}

bool in_group(const cs_insn* insn, uint8_t group) {
    const cs_detail* d = insn->detail;
    return std::find(d->groups, d->groups + d->groups_count, group) != d->groups + d->groups_count;
}

// The target of a direct branch or call, if it is one.
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

// `xor eax, eax` and friends only write their operand.
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

struct RegisterAccess {
    std::vector<int> read, written;
};

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

// Bytes that end a function or pad between functions (int3, nop, ret, ud2, jmp, call to
// a noreturn function) right before `at`.
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

struct SortedWindows {
    explicit SortedWindows(std::vector<AddressRange> windows) : ranges(std::move(windows)) {
        std::sort(ranges.begin(), ranges.end(),
                  [](const AddressRange& a, const AddressRange& b) { return a.begin < b.begin; });
        std::vector<AddressRange> merged;
        for (const auto& r : ranges) {
            if (!merged.empty() && r.begin <= merged.back().end) {
                merged.back().end = std::max(merged.back().end, r.end);
            } else {
                merged.push_back(r);
            }
        }
        ranges = std::move(merged);
    }
    bool contains(uint64_t va) const {
        auto it = std::upper_bound(ranges.begin(), ranges.end(), va,
                                   [](uint64_t v, const AddressRange& r) { return v < r.begin; });
        return it != ranges.begin() && va < std::prev(it)->end;
    }
    std::vector<AddressRange> ranges;
};

// Recognises the two jump-table idioms compilers emit for a switch, within one run of
// straight-line code:
//   cmp idx, N; ja default; ...; jmp [idx*8 + table]                 (absolute, non-PIC)
//   cmp idx, N; ja default; lea rT, [rip+table]; movsxd rX, [rT+idx*4]; add rX, rT; jmp rX
// Only a bounded table (the cmp/ja guard) is followed.
struct JumpTableTracker {
    std::optional<uint64_t> last_compare;
    std::optional<uint64_t> entries;
    std::array<std::optional<uint64_t>, kGprCount> rip_address{};
    int relative_register = kNotGpr;
    uint64_t relative_table = 0;
    bool relative_based = false;

    void observe(const cs_insn* insn, const std::vector<int>& written) {
        const cs_x86& d = x86(insn);
        const int dst = d.op_count >= 1 && d.operands[0].type == X86_OP_REG
                            ? gpr_family(d.operands[0].reg)
                            : kNotGpr;
        if (insn->id == X86_INS_CMP && d.op_count == 2 && d.operands[1].type == X86_OP_IMM &&
            d.operands[1].imm >= 0) {
            last_compare = static_cast<uint64_t>(d.operands[1].imm);
        } else if (insn->id == X86_INS_JA && last_compare) {
            entries = *last_compare + 1;
        } else if (insn->id == X86_INS_JAE && last_compare) {
            entries = *last_compare;
        }
        bool keep_relative = false;
        std::optional<uint64_t> new_rip_address;
        if (insn->id == X86_INS_LEA && dst != kNotGpr && d.operands[1].mem.base == X86_REG_RIP &&
            d.operands[1].mem.index == X86_REG_INVALID) {
            new_rip_address =
                insn->address + insn->size + static_cast<uint64_t>(d.operands[1].mem.disp);
        } else if (insn->id == X86_INS_MOVSXD && dst != kNotGpr && d.op_count == 2 &&
                   d.operands[1].type == X86_OP_MEM && d.operands[1].mem.scale == 4) {
            const int base = gpr_family(d.operands[1].mem.base);
            if (base != kNotGpr && rip_address[static_cast<size_t>(base)] &&
                d.operands[1].mem.disp == 0) {
                relative_register = dst;
                relative_table = *rip_address[static_cast<size_t>(base)];
                relative_based = false;
                keep_relative = true;
            }
        } else if (insn->id == X86_INS_ADD && dst == relative_register && d.op_count == 2 &&
                   d.operands[1].type == X86_OP_REG) {
            const int src = gpr_family(d.operands[1].reg);
            if (src != kNotGpr && rip_address[static_cast<size_t>(src)] == relative_table) {
                relative_based = true;
                keep_relative = true;
            }
        }
        for (int f : written) {
            rip_address[static_cast<size_t>(f)].reset();
            if (f == relative_register && !keep_relative)
                relative_register = kNotGpr;
        }
        if (new_rip_address)
            rip_address[static_cast<size_t>(dst)] = new_rip_address;
    }
};

constexpr uint64_t kMaxJumpTableEntries = 4096;
// The case targets of a switch's indirect jump, or nullopt when it is not a bounded
// table inside [entry, limit).
std::optional<std::vector<uint64_t>> jump_table_targets(const ElfImage& image, const cs_insn* insn,
                                                        const JumpTableTracker& tables,
                                                        uint64_t entry, uint64_t limit) {
    if (!tables.entries || *tables.entries == 0 || *tables.entries > kMaxJumpTableEntries) {
        return std::nullopt;
    }
    const cs_x86& d = x86(insn);
    if (d.op_count != 1)
        return std::nullopt;
    const cs_x86_op& op = d.operands[0];
    uint64_t table = 0;
    size_t entry_size = 0;
    if (op.type == X86_OP_MEM && op.mem.base == X86_REG_INVALID && op.mem.scale == 8 &&
        op.mem.index != X86_REG_INVALID && op.mem.disp > 0) {
        table = static_cast<uint64_t>(op.mem.disp);
        entry_size = 8;
    } else if (op.type == X86_OP_REG && gpr_family(op.reg) == tables.relative_register &&
               tables.relative_based) {
        table = tables.relative_table;
        entry_size = 4;
    } else {
        return std::nullopt;
    }
    const auto bytes = image.bytes_at(table, *tables.entries * entry_size);
    if (bytes.size() != *tables.entries * entry_size)
        return std::nullopt;
    std::vector<uint64_t> targets;
    for (size_t i = 0; i < *tables.entries; ++i) {
        uint64_t case_va = 0;
        if (entry_size == 8) {
            std::memcpy(&case_va, bytes.data() + i * 8, 8);
        } else {
            int32_t relative = 0;
            std::memcpy(&relative, bytes.data() + i * 4, 4);
            case_va = table + static_cast<uint64_t>(static_cast<int64_t>(relative));
        }
        // A switch never leaves its function.
        if (case_va < entry || case_va >= limit)
            return std::nullopt;
        targets.push_back(case_va);
    }
    return targets;
}

}  // namespace

Expected<std::unique_ptr<X86_64Analyzer>> X86_64Analyzer::create(const ElfImage& image) {
    auto capstone = CapstoneHandle::open(CS_ARCH_X86, CS_MODE_64);
    if (!capstone)
        return std::unexpected(capstone.error());
    return std::unique_ptr<X86_64Analyzer>(new X86_64Analyzer(image, std::move(*capstone)));
}

bool X86_64Analyzer::is_code(uint64_t va) const {
    const LoadSegment* segment = image_.segment_of(va);
    return segment != nullptr && segment->executable;
}

const cs_insn* X86_64Analyzer::decode_at(uint64_t va) {
    if (!is_code(va))
        return nullptr;
    return capstone_.decode(image_.bytes_at(va, 16), va);
}

void X86_64Analyzer::add_verified_load(uint64_t insn_va, uint64_t target_va, const char* form,
                                       std::vector<AddressLoad>& out) {
    const cs_insn* insn = decode_at(insn_va);
    if (insn == nullptr)
        return;
    const cs_x86& d = x86(insn);
    if (d.op_count != 2 || d.operands[0].type != X86_OP_REG)
        return;
    const cs_x86_op& source = d.operands[1];
    bool loads_target = false;
    if ((insn->id == X86_INS_MOV || insn->id == X86_INS_MOVABS) && source.type == X86_OP_IMM) {
        loads_target = static_cast<uint64_t>(source.imm) == target_va;
    } else if (insn->id == X86_INS_LEA && source.type == X86_OP_MEM &&
               source.mem.base == X86_REG_RIP && source.mem.index == X86_REG_INVALID) {
        loads_target =
            insn->address + insn->size + static_cast<uint64_t>(source.mem.disp) == target_va;
    }
    if (loads_target)
        out.push_back(AddressLoad{insn_va, insn_va + insn->size, form});
}

std::vector<AddressLoad> X86_64Analyzer::find_address_loads(uint64_t target_va) {
    std::vector<AddressLoad> loads;
    const MappedFile& file = image_.file();
    for (const LoadSegment& segment : image_.loads()) {
        if (!segment.executable)
            continue;
        const auto code = image_.segment_bytes(segment);
        std::vector<uint64_t> imm_hits, lea_hits;
        const bool fits_imm32 = target_va <= 0xffffffffu;
        uint8_t imm[4];
        const auto low = static_cast<uint32_t>(target_va);
        std::memcpy(imm, &low, sizeof imm);
        scan_in_chunks(
            file, code, kScanChunk, 8,
            [&](std::span<const uint8_t> piece, size_t start, size_t owned) {
                // Absolute form (non-PIE code): the address as a 32-bit immediate.
                if (fits_imm32) {
                    const uint8_t* p = piece.data();
                    const uint8_t* end = piece.data() + piece.size();
                    while (p < end) {
                        const void* hit = memmem(p, static_cast<size_t>(end - p), imm, sizeof imm);
                        if (hit == nullptr)
                            break;
                        const auto at =
                            static_cast<size_t>(static_cast<const uint8_t*>(hit) - piece.data());
                        if (at >= owned)
                            break;
                        imm_hits.push_back(segment.vaddr + start + at);
                        p = static_cast<const uint8_t*>(hit) + 1;
                    }
                }
                // PC-relative form: REX.W 8D /r with a RIP-relative disp32. Indexes are
                // into the whole segment: the REX byte may sit in the previous piece.
                const size_t end = start + owned;
                for (size_t i = std::max<size_t>(start, 1); i < end; ++i) {
                    const void* hit = std::memchr(code.data() + i, 0x8d, end - i);
                    if (hit == nullptr)
                        break;
                    i = static_cast<size_t>(static_cast<const uint8_t*>(hit) - code.data());
                    if (i + 6 > code.size())
                        break;
                    const uint8_t rex = code[i - 1];
                    if ((rex & 0xf8) != 0x48 || (code[i + 1] & 0xc7) != 0x05)
                        continue;
                    int32_t disp = 0;
                    std::memcpy(&disp, code.data() + i + 2, sizeof disp);
                    const uint64_t insn_va = segment.vaddr + i - 1;
                    if (insn_va + 7 + static_cast<uint64_t>(static_cast<int64_t>(disp)) ==
                        target_va) {
                        lea_hits.push_back(insn_va);
                    }
                }
            });
        // An immediate can belong to several encodings; keep every one that decodes to
        // "register := target". Which register is right is settled by the call it feeds.
        for (uint64_t at : imm_hits) {
            add_verified_load(at - 1, target_va, "mov r32, imm32", loads);
            add_verified_load(at - 2, target_va, "mov r32, imm32 (with prefix)", loads);
            add_verified_load(at - 2, target_va, "movabs r64, imm64", loads);
            add_verified_load(at - 3, target_va, "mov r64, simm32", loads);
        }
        for (uint64_t at : lea_hits)
            add_verified_load(at, target_va, "lea r64, [rip+disp32]", loads);
    }
    std::sort(loads.begin(), loads.end(),
              [](const AddressLoad& a, const AddressLoad& b) { return a.insn_va < b.insn_va; });
    loads.erase(std::unique(loads.begin(), loads.end(),
                            [](const AddressLoad& a, const AddressLoad& b) {
                                return a.insn_va == b.insn_va;
                            }),
                loads.end());
    return loads;
}

std::optional<ErrorCall> X86_64Analyzer::decode_error_call(uint64_t site_va, uint64_t file_va) {
    std::array<std::optional<uint64_t>, kGprCount> value{};
    ErrorCall call;
    call.site_va = site_va;
    uint64_t va = site_va;
    int jumps = 0;
    bool reached_call = false;
    for (int i = 0; i < kMaxErrorCallInstructions && !reached_call; ++i) {
        const cs_insn* insn = decode_at(va);
        if (insn == nullptr)
            return std::nullopt;
        if (i == 0)
            call.site_end_va = va + insn->size;
        const cs_x86& d = x86(insn);
        if (insn->id == X86_INS_CALL) {
            auto target = direct_target(insn);
            if (!target)
                return std::nullopt;
            call.callee_va = *target;
            reached_call = true;
            break;
        }
        if (insn->id == X86_INS_JMP) {
            auto target = direct_target(insn);
            if (!target)
                return std::nullopt;
            if (known_callee_ && *target == *known_callee_) {  // tail call
                call.callee_va = *target;
                call.via_jump = true;
                reached_call = true;
                break;
            }
            if (++jumps > 2)
                return std::nullopt;
            call.via_jump = true;  // a shared tail that holds the call
            va = *target;
            continue;
        }
        if (in_group(insn, X86_GRP_JUMP) || is_return(insn) || is_trap(insn))
            return std::nullopt;

        // Track constants in general-purpose registers.
        const cs_x86_op* dst = d.op_count >= 1 ? &d.operands[0] : nullptr;
        const int dst_family = dst && dst->type == X86_OP_REG ? gpr_family(dst->reg) : kNotGpr;
        std::optional<uint64_t> result;
        bool handled = false;
        if (dst_family != kNotGpr && d.op_count == 2 && (dst->size == 4 || dst->size == 8)) {
            const cs_x86_op& src = d.operands[1];
            const uint64_t mask = dst->size == 4 ? 0xffffffffu : ~uint64_t{0};
            if ((insn->id == X86_INS_MOV || insn->id == X86_INS_MOVABS) && src.type == X86_OP_IMM) {
                result = static_cast<uint64_t>(src.imm) & mask;
                handled = true;
            } else if (insn->id == X86_INS_MOV && src.type == X86_OP_REG) {
                const int f = gpr_family(src.reg);
                if (f != kNotGpr && value[static_cast<size_t>(f)]) {
                    result = *value[static_cast<size_t>(f)] & mask;
                }
                handled = true;
            } else if (insn->id == X86_INS_LEA && src.type == X86_OP_MEM &&
                       src.mem.base == X86_REG_RIP && src.mem.index == X86_REG_INVALID) {
                result = (insn->address + insn->size + static_cast<uint64_t>(src.mem.disp)) & mask;
                handled = true;
            } else if (is_zero_idiom(insn)) {
                result = 0;
                handled = true;
            }
        }
        for (int f : register_access(capstone_.handle(), insn).written) {
            value[static_cast<size_t>(f)].reset();
        }
        if (handled)
            value[static_cast<size_t>(dst_family)] = result;
        va += insn->size;
    }
    if (!reached_call)
        return std::nullopt;

    // __FILE__ must sit in exactly one argument register, with room for library and
    // reason before it.
    std::optional<size_t> file_slot;
    for (size_t slot = 0; slot < kArgumentRegisters.size(); ++slot) {
        if (value[static_cast<size_t>(kArgumentRegisters[slot])] == file_va) {
            if (file_slot)
                return std::nullopt;
            file_slot = slot;
        }
    }
    if (!file_slot || *file_slot < 2)
        return std::nullopt;
    auto arg = [&](size_t slot) -> std::optional<uint32_t> {
        if (slot >= kArgumentRegisters.size())
            return std::nullopt;
        auto v = value[static_cast<size_t>(kArgumentRegisters[slot])];
        if (!v || *v > 0xffffffffu)
            return std::nullopt;
        return static_cast<uint32_t>(*v);
    };
    // ERR_put_error(lib, unused, reason, file, line): the unused argument is 0.
    if (*file_slot == 3) {
        if (auto unused = arg(1); !unused || *unused != 0)
            return std::nullopt;
    } else if (*file_slot != 2) {
        return std::nullopt;
    }
    call.file_argument = static_cast<unsigned>(*file_slot + 1);
    call.library = arg(0);
    call.reason = arg(*file_slot - 1);
    call.line = arg(*file_slot + 1);
    return call;
}

std::map<uint64_t, unsigned> X86_64Analyzer::direct_call_targets(
    const std::vector<AddressRange>& windows) {
    const SortedWindows wanted(windows);
    std::map<uint64_t, unsigned> targets;
    if (wanted.ranges.empty())
        return targets;
    const MappedFile& file = image_.file();
    for (const LoadSegment& segment : image_.loads()) {
        if (!segment.executable)
            continue;
        const auto code = image_.segment_bytes(segment);
        scan_in_chunks(
            file, code, kScanChunk, 8,
            [&](std::span<const uint8_t> piece, size_t start, size_t owned) {
                const uint8_t* p = piece.data();
                const uint8_t* owned_end = piece.data() + owned;
                while (p < owned_end) {
                    const void* hit = std::memchr(p, 0xe8, static_cast<size_t>(owned_end - p));
                    if (hit == nullptr)
                        break;
                    const auto i =
                        static_cast<size_t>(static_cast<const uint8_t*>(hit) - piece.data());
                    p = static_cast<const uint8_t*>(hit) + 1;
                    if (i + 5 > piece.size())
                        break;
                    int32_t rel = 0;
                    std::memcpy(&rel, piece.data() + i + 1, sizeof rel);
                    const uint64_t target = segment.vaddr + start + i + 5 +
                                            static_cast<uint64_t>(static_cast<int64_t>(rel));
                    if (wanted.contains(target))
                        ++targets[target];
                }
            });
    }
    return targets;
}

bool X86_64Analyzer::preceded_by_boundary(uint64_t va) const {
    const LoadSegment* segment = image_.segment_of(va);
    if (segment == nullptr)
        return false;
    const uint64_t into = va - segment->vaddr;
    const uint64_t take = std::min<uint64_t>(into, 16);
    return ends_with_boundary(image_.bytes_at(va - take, take));
}

bool X86_64Analyzer::entry_abi_clean(uint64_t va, std::string& why_not) {
    // At a SysV entry only the argument registers, rax (vararg count) and rsp hold
    // values. Code in the middle of a function reads callee-saved registers, flags or
    // frame slots that it set up earlier; a function entry only saves them.
    std::bitset<kGprCount> defined;
    for (int f : kArgumentRegisters)
        defined.set(static_cast<size_t>(f));
    defined.set(kRax).set(kRsp).set(kRip);
    int jumps = 0;
    for (int i = 0; i < kMaxEntryCheckInstructions; ++i) {
        const cs_insn* insn = decode_at(va);
        if (insn == nullptr) {
            why_not = fmt::format("undecodable bytes at {:#x}", va);
            return false;
        }
        if (is_trap(insn)) {
            if (i == 0) {
                why_not = "starts with a trap instruction";
                return false;
            }
            return true;
        }
        if (is_return(insn))
            return true;
        const cs_x86& d = x86(insn);
        const RegisterAccess access = register_access(capstone_.handle(), insn);
        // Saving a callee-saved register (push, or a store to the frame) reads it legally.
        int saved = kNotGpr;
        if (insn->id == X86_INS_PUSH && d.op_count == 1 && d.operands[0].type == X86_OP_REG) {
            saved = gpr_family(d.operands[0].reg);
        } else if (insn->id == X86_INS_MOV && d.op_count == 2 && d.operands[0].type == X86_OP_MEM &&
                   d.operands[1].type == X86_OP_REG) {
            const int base = gpr_family(d.operands[0].mem.base);
            if ((base == kRsp || (base == kRbp && defined.test(kRbp)))) {
                saved = gpr_family(d.operands[1].reg);
            }
        }
        for (int f : access.read) {
            if (defined.test(static_cast<size_t>(f)) || f == saved)
                continue;
            why_not = fmt::format("{:#x}: {} {} reads {} before anything sets it", va,
                                  insn->mnemonic, insn->op_str, gpr_name(f));
            return false;
        }
        for (int f : access.written)
            defined.set(static_cast<size_t>(f));
        if (insn->id == X86_INS_CALL) {
            // The callee may clobber every caller-saved register and the flags.
            for (int f : {kRax, kRcx, kRdx, kRsi, kRdi, kR8, kR9, kR10, kR11, kFlags}) {
                defined.set(static_cast<size_t>(f));
            }
        }
        if (insn->id == X86_INS_JMP) {
            auto target = direct_target(insn);
            if (!target || ++jumps > 4)
                return true;
            va = *target;
            continue;
        }
        va += insn->size;
    }
    return true;
}

bool X86_64Analyzer::looks_like_boundary(uint64_t va) {
    return va % kFunctionAlignment == 0 && is_code(va) && preceded_by_boundary(va);
}

bool X86_64Analyzer::plausible_entry(uint64_t va, std::string& why_not) {
    if (va % kFunctionAlignment != 0) {
        why_not = fmt::format("not {}-byte aligned", kFunctionAlignment);
        return false;
    }
    if (!is_code(va)) {
        why_not = "not in an executable segment";
        return false;
    }
    if (!preceded_by_boundary(va)) {
        why_not = "not preceded by padding or the end of another function";
        return false;
    }
    return entry_abi_clean(va, why_not);
}

FunctionFacts X86_64Analyzer::explore_function(uint64_t entry,
                                               const std::set<uint64_t>& other_entries,
                                               const std::set<uint64_t>& sites) {
    FunctionFacts facts;
    facts.entry = entry;
    facts.highest_va = entry;
    const LoadSegment* segment = image_.segment_of(entry);
    if (segment == nullptr || !segment->executable) {
        facts.complete = false;
        facts.incomplete_reason = "entry outside executable code";
        return facts;
    }
    const uint64_t limit = std::min(entry + kMaxFunctionSpan, segment->vaddr + segment->filesz);
    std::vector<bool> visited(limit - entry, false);
    std::vector<uint64_t> work{entry};
    std::set<int64_t> copy_source_slots;                   // displacement of memcpy's src
    std::vector<std::pair<int64_t, int64_t>> slot_writes;  // [disp, disp+size) written
    auto mark_incomplete = [&](std::string why) {
        if (facts.complete)
            facts.incomplete_reason = std::move(why);
        facts.complete = false;
    };
    auto branch_to = [&](uint64_t target) {
        const bool inside = target >= entry && target < limit;
        const bool other_function = target != entry && other_entries.contains(target);
        if (inside && !other_function) {
            work.push_back(target);
        } else {
            facts.tail_jumps.insert(target);
        }
    };

    while (!work.empty()) {
        uint64_t va = work.back();
        work.pop_back();
        // `mov rsi, [reg+disp]` not yet followed by a call (memcpy's source argument).
        bool have_copy_source = false;
        int64_t copy_source = 0;
        JumpTableTracker tables;
        while (true) {
            if (va < entry || va >= limit) {
                mark_incomplete(fmt::format("runs past {:#x}", limit));
                break;
            }
            if (va != entry && other_entries.contains(va))
                break;  // fell into the next function
            if (visited[va - entry])
                break;
            visited[va - entry] = true;
            if (++facts.instruction_count > kMaxFunctionInstructions) {
                mark_incomplete("too many instructions");
                work.clear();
                break;
            }
            const cs_insn* insn = decode_at(va);
            if (insn == nullptr) {
                mark_incomplete(fmt::format("undecodable bytes at {:#x}", va));
                break;
            }
            if (sites.contains(va + insn->size))
                facts.sites_reached.insert(va + insn->size);
            facts.highest_va = std::max(facts.highest_va, va);
            const cs_x86& d = x86(insn);
            for (uint8_t i = 0; i < d.op_count; ++i) {
                const cs_x86_op& op = d.operands[i];
                if (op.type == X86_OP_IMM && op.imm >= 0 && op.imm < 0x10000) {
                    facts.small_immediates.insert(static_cast<uint32_t>(op.imm));
                }
                if (op.type == X86_OP_MEM && (op.access & CS_AC_WRITE) != 0 &&
                    !is_stack_base(op.mem.base)) {
                    slot_writes.emplace_back(op.mem.disp, op.mem.disp + op.size);
                }
            }
            if (is_return(insn) || is_trap(insn))
                break;
            if (insn->id == X86_INS_CALL) {
                if (auto target = direct_target(insn))
                    facts.direct_calls.insert(*target);
                if (have_copy_source)
                    copy_source_slots.insert(copy_source);
                have_copy_source = false;
                va += insn->size;
                continue;
            }
            if (insn->id == X86_INS_JMP) {
                if (auto target = direct_target(insn)) {
                    branch_to(*target);
                } else if (d.op_count == 1 && d.operands[0].type == X86_OP_MEM &&
                           d.operands[0].mem.base == X86_REG_RIP &&
                           d.operands[0].mem.index == X86_REG_INVALID) {
                    // Tail call through the GOT.
                } else if (auto cases = jump_table_targets(image_, insn, tables, entry, limit)) {
                    for (uint64_t case_va : *cases)
                        branch_to(case_va);
                } else {
                    mark_incomplete(fmt::format("unresolved indirect jump at {:#x}", va));
                }
                break;
            }
            if (in_group(insn, X86_GRP_JUMP)) {  // conditional
                tables.observe(insn, {});
                if (auto target = direct_target(insn))
                    branch_to(*target);
                va += insn->size;
                continue;
            }
            // memcpy(dst, src, n): remember where src was loaded from.
            const RegisterAccess access = register_access(capstone_.handle(), insn);
            tables.observe(insn, access.written);
            if (insn->id == X86_INS_MOV && d.op_count == 2 && d.operands[0].type == X86_OP_REG &&
                d.operands[0].reg == X86_REG_RSI && d.operands[1].type == X86_OP_MEM &&
                !is_stack_base(d.operands[1].mem.base)) {
                have_copy_source = true;
                copy_source = d.operands[1].mem.disp;
            } else if (std::find(access.written.begin(), access.written.end(), kRsi) !=
                       access.written.end()) {
                have_copy_source = false;
            }
            va += insn->size;
        }
    }
    for (int64_t slot : copy_source_slots) {
        for (const auto& [begin, end] : slot_writes) {
            if (begin < slot + 8 && slot < end)
                facts.advances_copy_source = true;
        }
    }
    return facts;
}

}  // namespace ct::locate::boringssl
