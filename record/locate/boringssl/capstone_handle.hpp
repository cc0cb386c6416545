// Owns a capstone engine and one instruction buffer for cs_disasm_iter (decoding one
// instruction at a time without allocating).
#pragma once

#include <capstone/capstone.h>

#include <cstdint>
#include <span>

#include "util/error.hpp"

namespace ct::locate::boringssl {

class CapstoneHandle {
  public:
    static Expected<CapstoneHandle> open(cs_arch arch, cs_mode mode);

    CapstoneHandle() = default;
    CapstoneHandle(CapstoneHandle&& other) noexcept;
    CapstoneHandle& operator=(CapstoneHandle&& other) noexcept;
    CapstoneHandle(const CapstoneHandle&) = delete;
    CapstoneHandle& operator=(const CapstoneHandle&) = delete;
    ~CapstoneHandle();

    // Decodes the instruction at the start of `code`, which is at `address`; nullptr if
    // the bytes are not a valid instruction. The result lives until the next call.
    const cs_insn* decode(std::span<const uint8_t> code, uint64_t address);

    csh handle() const { return handle_; }

  private:
    void reset();

    csh handle_ = 0;
    cs_insn* insn_ = nullptr;
};

}  // namespace ct::locate::boringssl
