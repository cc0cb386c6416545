// The instruction-set specific questions the stripped-BoringSSL locator asks of a
// binary's code. Everything above this interface (anchoring, attribution of error
// sites to functions, classification) is the same for every architecture; x86-64 is
// implemented, arm64 would add adrp/add references and bl/b targets here.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ct::locate::boringssl {

// An instruction that puts an address (here: the __FILE__ string) in a register.
struct AddressLoad {
    uint64_t insn_va = 0;
    // Where the instruction ends: the site's identity. Prefix bytes that belong to the
    // previous instruction can make one load decode at two starts; both end here.
    uint64_t end_va = 0;
    std::string form;  // "mov r32, imm32", "lea r64, [rip+disp32]", ...
};

// What an OPENSSL_PUT_ERROR call site passes, decoded from the code after the
// address load. `file_argument` is the argument slot of __FILE__ (4 in
// ERR_put_error(lib, 0, reason, file, line), 3 when the compiler dropped the unused
// argument); library, reason and line are the slots around it.
struct ErrorCall {
    uint64_t site_va = 0;  // the address load
    uint64_t site_end_va = 0;
    unsigned file_argument = 0;
    std::optional<uint32_t> library;
    std::optional<uint32_t> reason;
    std::optional<uint32_t> line;
    uint64_t callee_va = 0;  // direct call (or jump) target that receives the arguments
    bool via_jump = false;   // reached the call through a shared tail
};

// What one function does, found by following its control flow from its entry
// without entering callees.
struct FunctionFacts {
    uint64_t entry = 0;
    std::set<uint64_t> sites_reached;  // end addresses of reached site instructions
    std::set<uint64_t> direct_calls;   // call targets
    std::set<uint64_t> tail_jumps;     // jumps that leave the function
    bool complete = true;              // no indirect jumps or undecodable bytes
    std::string incomplete_reason;
    size_t instruction_count = 0;
    uint64_t highest_va = 0;
    // The function moves its own memcpy source forward after copying: it writes to the
    // memory slot it loaded the copy source from (SSL_read consumes what SSL_peek only
    // copies).
    bool advances_copy_source = false;
    std::set<uint32_t> small_immediates;  // immediates < 0x10000 seen, for corroboration
};

// A direct call and the constants its argument registers hold when it is made, decoded
// forward from some instruction (used for OpenSSL 3's ERR_set_debug(file, line, func)).
struct CallArguments {
    uint64_t from_va = 0;
    uint64_t from_end_va = 0;  // end of the first decoded instruction
    uint64_t callee_va = 0;
    uint64_t call_end_va = 0;  // the instruction after the call (0: reached by a tail jump)
    bool via_jump = false;
    std::array<std::optional<uint64_t>, 6> args{};  // rdi, rsi, rdx, rcx, r8, r9
};

struct AddressRange {
    uint64_t begin = 0;
    uint64_t end = 0;  // exclusive
};

class CodeAnalyzer {
  public:
    virtual ~CodeAnalyzer() = default;
    virtual const char* isa_name() const = 0;

    // Every instruction in executable segments that loads `target_va` into a register.
    virtual std::vector<AddressLoad> find_address_loads(uint64_t target_va) = 0;

    // Decodes the ERR_put_error call fed by the address load at `site_va`; nullopt when
    // the code there is not such a call.
    virtual std::optional<ErrorCall> decode_error_call(uint64_t site_va, uint64_t file_va) = 0;

    // Decodes forward from `va` to the first direct call (through up to two direct jumps),
    // tracking constants in the argument registers; nullopt when no such call follows.
    virtual std::optional<CallArguments> decode_call(uint64_t va) = 0;

    // The start of the straight-line code that ends with the instruction at `va`, when it
    // directly follows a `call rel32` at most `max_back` bytes before `va` (OpenSSL 3's
    // ERR_raise: ERR_new(); then the arguments of ERR_set_debug in any order).
    virtual std::optional<uint64_t> start_after_call(uint64_t va, unsigned max_back) = 0;

    // Once known, a jump to the error function counts as a (tail) call to it when
    // decoding error calls.
    virtual void set_error_function(uint64_t va) = 0;

    // Direct call targets that fall inside `windows`, with how many call sites reach each.
    virtual std::map<uint64_t, unsigned> direct_call_targets(
        const std::vector<AddressRange>& windows) = 0;

    // Cheap byte-level test: `va` is aligned like a function entry and follows padding
    // or the end of another function.
    virtual bool looks_like_boundary(uint64_t va) = 0;

    // Whether a function could start at `va`: aligned, preceded by padding or the end of
    // another function, and its first instructions read no register that the calling
    // convention leaves undefined at entry. `why_not` explains a refusal.
    virtual bool plausible_entry(uint64_t va, std::string& why_not) = 0;

    // Follows control flow from `entry`; stops at returns, at jumps out of range and at
    // other known function entries. Records which of `sites` (instruction end
    // addresses) are reached.
    virtual FunctionFacts explore_function(uint64_t entry, const std::set<uint64_t>& other_entries,
                                           const std::set<uint64_t>& sites) = 0;
};

}  // namespace ct::locate::boringssl
