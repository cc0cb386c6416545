#include "locate/boringssl/capstone_handle.hpp"

#include <utility>

namespace ct::locate::boringssl {

Expected<CapstoneHandle> CapstoneHandle::open(cs_arch arch, cs_mode mode) {
    CapstoneHandle result;
    if (cs_err err = cs_open(arch, mode, &result.handle_); err != CS_ERR_OK) {
        result.handle_ = 0;
        return fail(std::string("capstone: ") + cs_strerror(err));
    }
    cs_option(result.handle_, CS_OPT_DETAIL, CS_OPT_ON);
    result.insn_ = cs_malloc(result.handle_);
    if (result.insn_ == nullptr)
        return fail("capstone: cannot allocate an instruction");
    return result;
}

CapstoneHandle::CapstoneHandle(CapstoneHandle&& other) noexcept
    : handle_(std::exchange(other.handle_, 0)), insn_(std::exchange(other.insn_, nullptr)) {}

CapstoneHandle& CapstoneHandle::operator=(CapstoneHandle&& other) noexcept {
    if (this != &other) {
        reset();
        handle_ = std::exchange(other.handle_, 0);
        insn_ = std::exchange(other.insn_, nullptr);
    }
    return *this;
}

CapstoneHandle::~CapstoneHandle() {
    reset();
}

void CapstoneHandle::reset() {
    if (insn_ != nullptr)
        cs_free(insn_, 1);
    insn_ = nullptr;
    if (handle_ != 0)
        cs_close(&handle_);
    handle_ = 0;
}

const cs_insn* CapstoneHandle::decode(std::span<const uint8_t> code, uint64_t address) {
    const uint8_t* ptr = code.data();
    size_t size = code.size();
    uint64_t addr = address;
    if (size == 0 || !cs_disasm_iter(handle_, &ptr, &size, &addr, insn_))
        return nullptr;
    return insn_;
}

}  // namespace ct::locate::boringssl
