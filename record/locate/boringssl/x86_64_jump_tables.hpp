// Switch statements compiled to jump tables: following them keeps a function's control
// flow complete (2.1.110 and 2.1.220 inline the handshake state machine, a switch,
// into SSL_do_handshake).
#pragma once

#include <capstone/capstone.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "locate/boringssl/x86_64_instructions.hpp"
#include "locate/elf_image.hpp"

namespace ct::locate::boringssl::x86_64 {

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

    // Updates the state with one instruction of the run (`written`: the register
    // families it writes).
    void observe(const cs_insn* insn, const std::vector<int>& written);
};

// The case targets of a switch's indirect jump, or nullopt when it is not a bounded
// table whose every case lies inside [entry, limit).
std::optional<std::vector<uint64_t>> jump_table_targets(const ElfImage& image, const cs_insn* insn,
                                                        const JumpTableTracker& tables,
                                                        uint64_t entry, uint64_t limit);

}  // namespace ct::locate::boringssl::x86_64
