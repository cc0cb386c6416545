#include "locate/boringssl/x86_64_analyzer.hpp"

#include <algorithm>
#include <array>
#include <bitset>
#include <cstring>

#include <fmt/format.h>

#include "locate/boringssl/x86_64_instructions.hpp"
#include "locate/boringssl/x86_64_jump_tables.hpp"

namespace ct::locate::boringssl {

using namespace x86_64;  // the instruction helpers are used throughout this file

namespace {

// Scan granularity: big enough to amortise calls, small enough to keep RSS flat.
constexpr size_t kScanChunk = 8u << 20;
// Upper bounds that keep a malformed or hostile binary from making us loop.
constexpr uint64_t kMaxFunctionSpan = 256u << 10;
constexpr size_t kMaxFunctionInstructions = 40000;
constexpr int kMaxErrorCallInstructions = 24;
constexpr int kMaxEntryCheckInstructions = 24;
// GCC and clang align x86-64 function entries to 16 bytes at -O2 and above.
constexpr uint64_t kFunctionAlignment = 16;

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

}  // namespace

Expected<std::unique_ptr<CodeAnalyzer>> make_code_analyzer(const ElfImage& image) {
    if (image.machine() != EM_X86_64) {
        return fail(
            fmt::format("ELF machine {} is not supported yet (x86-64 only)", image.machine()));
    }
    auto analyzer = X86_64Analyzer::create(image);
    if (!analyzer)
        return std::unexpected(analyzer.error());
    return std::unique_ptr<CodeAnalyzer>(std::move(*analyzer));
}

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
                    for_each_match(
                        piece, owned, std::span<const uint8_t>(imm, sizeof imm),
                        [&](size_t at) { imm_hits.push_back(segment.vaddr + start + at); });
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

std::optional<CallArguments> X86_64Analyzer::decode_call(uint64_t from_va) {
    std::array<std::optional<uint64_t>, kGprCount> value{};
    CallArguments call;
    call.from_va = from_va;
    uint64_t va = from_va;
    int jumps = 0;
    bool reached_call = false;
    for (int i = 0; i < kMaxErrorCallInstructions && !reached_call; ++i) {
        const cs_insn* insn = decode_at(va);
        if (insn == nullptr)
            return std::nullopt;
        if (i == 0)
            call.from_end_va = va + insn->size;
        const cs_x86& d = x86(insn);
        if (insn->id == X86_INS_CALL) {
            auto target = direct_target(insn);
            if (!target)
                return std::nullopt;
            call.callee_va = *target;
            call.call_end_va = va + insn->size;
            reached_call = true;
            break;
        }
        if (insn->id == X86_INS_JMP) {
            auto target = direct_target(insn);
            if (!target)
                return std::nullopt;
            if (error_function_ && *target == *error_function_) {  // tail call
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
    for (size_t slot = 0; slot < kArgumentRegisters.size(); ++slot)
        call.args[slot] = value[static_cast<size_t>(kArgumentRegisters[slot])];
    return call;
}

std::optional<uint64_t> X86_64Analyzer::start_after_call(uint64_t va, unsigned max_back) {
    // The nearest start wins: a farther one could be the tail of another instruction.
    for (unsigned back = 0; back <= max_back && back + 5 <= va; ++back) {
        const uint64_t start = va - back;
        if (!is_code(start - 5))
            continue;
        const auto before = image_.bytes_at(start - 5, 1);
        if (before.empty() || before[0] != 0xe8)
            continue;
        const cs_insn* call = decode_at(start - 5);
        if (call == nullptr || call->id != X86_INS_CALL || call->size != 5)
            continue;
        // Straight-line code from `start` must land exactly on `va`.
        uint64_t at = start;
        bool straight = true;
        while (at < va) {
            const cs_insn* insn = decode_at(at);
            if (insn == nullptr || in_group(insn, X86_GRP_JUMP) || insn->id == X86_INS_CALL ||
                is_return(insn) || is_trap(insn)) {
                straight = false;
                break;
            }
            at += insn->size;
        }
        if (straight && at == va)
            return start;
    }
    return std::nullopt;
}

std::optional<ErrorCall> X86_64Analyzer::decode_error_call(uint64_t site_va, uint64_t file_va) {
    auto decoded = decode_call(site_va);
    if (!decoded)
        return std::nullopt;
    ErrorCall call;
    call.site_va = site_va;
    call.site_end_va = decoded->from_end_va;
    call.callee_va = decoded->callee_va;
    call.via_jump = decoded->via_jump;
    const auto& value = decoded->args;

    // __FILE__ must sit in exactly one argument register, with room for library and
    // reason before it.
    std::optional<size_t> file_slot;
    for (size_t slot = 0; slot < kArgumentRegisters.size(); ++slot) {
        if (value[slot] == file_va) {
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
        auto v = value[slot];
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
