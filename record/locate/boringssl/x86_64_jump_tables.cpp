#include "locate/boringssl/x86_64_jump_tables.hpp"

#include <cstring>

namespace ct::locate::boringssl::x86_64 {
namespace {

constexpr uint64_t kMaxJumpTableEntries = 4096;

}  // namespace

void JumpTableTracker::observe(const cs_insn* insn, const std::vector<int>& written) {
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

}  // namespace ct::locate::boringssl::x86_64
