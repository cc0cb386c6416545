// emulated_entry_delta: an entry probe moves to the first branch the kernel emulates only
// when every call reaches it with the arguments the probe reads still in place.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "locate/probe_placement.hpp"

namespace ct::locate {
namespace {

constexpr unsigned kDataAndLen = 0b110;  // rsi, rdx: what the BIO_write probe reads

std::uint64_t delta(const std::vector<std::uint8_t>& code, unsigned mask = kDataAndLen) {
    return emulated_entry_delta(code, mask);
}

// OpenSSL 3.0.19's BIO_write (Debian 12 libcrypto.so.3): sub, stack canary, xor, test,
// then `jle` at +0x16, which every call reaches with rsi and rdx untouched.
TEST(ProbePlacement, BioWriteMovesToItsFirstConditionalJump) {
    const std::vector<std::uint8_t> code = {
        0x48, 0x83, 0xec, 0x18,                                // sub $0x18,%rsp
        0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00,  // mov %fs:0x28,%rax
        0x48, 0x89, 0x44, 0x24, 0x08,                          // mov %rax,0x8(%rsp)
        0x31, 0xc0,                                            // xor %eax,%eax
        0x85, 0xd2,                                            // test %edx,%edx
        0x7e, 0x12,                                            // jle +0x12
        0x48, 0x89, 0xe1,                                      // mov %rsp,%rcx
    };
    EXPECT_EQ(delta(code), 0x16u);
}

// BIO_write_ex of the same build: pushes and copies of the arguments into callee-saved
// registers, then a call at +0xc.
TEST(ProbePlacement, BioWriteExMovesToItsFirstCall) {
    const std::vector<std::uint8_t> code = {
        0x55,                          // push %rbp
        0x48, 0x89, 0xfd,              // mov %rdi,%rbp
        0x53,                          // push %rbx
        0x48, 0x89, 0xd3,              // mov %rdx,%rbx
        0x48, 0x83, 0xec, 0x08,        // sub $0x8,%rsp
        0xe8, 0x4f, 0xf9, 0xff, 0xff,  // call
    };
    EXPECT_EQ(delta(code), 0xcu);
}

TEST(ProbePlacement, EndbrThenCall) {
    EXPECT_EQ(delta({0xf3, 0x0f, 0x1e, 0xfa, 0xe8, 0x00, 0x00, 0x00, 0x00}), 4u);
}

TEST(ProbePlacement, ABranchFirstStaysAtTheEntry) {
    EXPECT_EQ(delta({0xe9, 0x00, 0x00, 0x00, 0x00}), 0u);
    EXPECT_EQ(delta({0x0f, 0x84, 0x10, 0x00, 0x00, 0x00}), 0u);
}

// An argument the probe reads is overwritten before the first branch: the probe would
// read the new value there, so it stays at the entry. One it does not read may change.
TEST(ProbePlacement, StaysWhenARegisterItReadsIsWritten) {
    const std::vector<std::uint8_t> code = {
        0x48, 0x89, 0xd3,  // mov %rdx,%rbx
        0x31, 0xd2,        // xor %edx,%edx
        0x74, 0x05,        // je
    };
    EXPECT_EQ(delta(code), 0u);
    EXPECT_EQ(delta(code, 0b010), 5u);                     // rsi only
    EXPECT_EQ(delta({0x48, 0x89, 0xfe, 0x74, 0x05}), 0u);  // mov %rdi,%rsi; je
}

// A branch the kernel does not emulate, a return or a trap before any emulated branch:
// not every call reaches what follows, so the probe stays at the entry.
TEST(ProbePlacement, StaysBeforeOtherControlFlow) {
    EXPECT_EQ(delta({0x48, 0x83, 0xec, 0x18, 0xff, 0xe0, 0x74, 0x05}), 0u);  // jmp *%rax
    EXPECT_EQ(delta({0x48, 0x83, 0xec, 0x18, 0xc3, 0x74, 0x05}), 0u);        // ret
    EXPECT_EQ(delta({0x48, 0x83, 0xec, 0x18, 0xcc, 0x74, 0x05}), 0u);        // int3
    EXPECT_EQ(delta({0x48, 0x83, 0xec, 0x18, 0xff, 0xd0, 0x74, 0x05}), 0u);  // call *%rax
    EXPECT_EQ(delta({0xf2, 0xe9, 0x00, 0x00, 0x00, 0x00}), 0u);              // bnd jmp
}

TEST(ProbePlacement, UndecodableOrTruncatedCodeStaysAtTheEntry) {
    EXPECT_EQ(delta({}), 0u);
    EXPECT_EQ(delta({0x48, 0x83}), 0u);                          // cut inside the first instruction
    EXPECT_EQ(delta({0x48, 0x83, 0xec, 0x18}), 0u);              // no branch in the bytes given
    EXPECT_EQ(delta({0x48, 0x83, 0xec, 0x18, 0x0f, 0x0b}), 0u);  // ud2
    EXPECT_EQ(delta(std::vector<std::uint8_t>(64, 0x90)), 0u);   // more than 16 instructions
}

}  // namespace
}  // namespace ct::locate
