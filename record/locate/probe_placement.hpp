// Where an entry uprobe traps cheapest. The kernel emulates a relative jump, call or
// conditional jump at a uprobe; most other instructions are copied out of line and
// single-stepped, which takes a second exception. On the VM this project develops on, an
// empty uprobe on libcrypto's BIO_write (first instruction `sub $0x18,%rsp`) cost 28 us of
// CPU per hit, the same probe on its first conditional jump 0.8 us (tools/record-bench
// part 11 and docs/recorder.md).
#pragma once

#include <cstdint>
#include <span>

namespace ct::locate {

// `code`: the bytes at the entry of an x86-64 function. Returns how many bytes into it an
// entry-only probe can go and still see the arguments `arg_mask` names (bit i: the
// (i+1)-th SysV integer argument register: rdi, rsi, rdx, rcx, r8, r9) as they were at
// the entry: the first instruction that is a relative jmp, call or jcc, if no instruction
// before it writes one of those registers, branches, returns or traps (so every call
// reaches it) and every instruction decodes. 0 otherwise. Not for a probe with a return
// probe beside it: a uretprobe must be on the entry, where the return address is on top
// of the stack.
std::uint64_t emulated_entry_delta(std::span<const std::uint8_t> code, unsigned arg_mask);

}  // namespace ct::locate
