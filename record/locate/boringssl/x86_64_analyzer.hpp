// CodeAnalyzer for x86-64 (SysV calling convention), using capstone.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "locate/boringssl/capstone_handle.hpp"
#include "locate/boringssl/code_analyzer.hpp"
#include "locate/elf_image.hpp"
#include "util/error.hpp"

namespace ct::locate::boringssl {

class X86_64Analyzer final : public CodeAnalyzer {
  public:
    static Expected<std::unique_ptr<X86_64Analyzer>> create(const ElfImage& image);

    const char* isa_name() const override { return "x86-64"; }
    std::vector<AddressLoad> find_address_loads(uint64_t target_va) override;
    std::optional<ErrorCall> decode_error_call(uint64_t site_va, uint64_t file_va) override;
    std::optional<CallArguments> decode_call(uint64_t va) override;
    std::optional<uint64_t> start_after_call(uint64_t va, unsigned max_back) override;
    std::map<uint64_t, unsigned> direct_call_targets(
        const std::vector<AddressRange>& windows) override;
    bool looks_like_boundary(uint64_t va) override;
    bool plausible_entry(uint64_t va, std::string& why_not) override;
    FunctionFacts explore_function(uint64_t entry, const std::set<uint64_t>& other_entries,
                                   const std::set<uint64_t>& sites) override;

    void set_error_function(uint64_t va) override { error_function_ = va; }

  private:
    X86_64Analyzer(const ElfImage& image, CapstoneHandle capstone)
        : image_(image), capstone_(std::move(capstone)) {}

    const cs_insn* decode_at(uint64_t va);
    bool is_code(uint64_t va) const;
    bool preceded_by_boundary(uint64_t va) const;
    bool entry_abi_clean(uint64_t va, std::string& why_not);
    void add_verified_load(uint64_t insn_va, uint64_t target_va, const char* form,
                           std::vector<AddressLoad>& out);

    const ElfImage& image_;
    CapstoneHandle capstone_;
    std::optional<uint64_t> error_function_;
};

// The analyzer for the image's instruction set (x86-64 only, so far).
Expected<std::unique_ptr<CodeAnalyzer>> make_code_analyzer(const ElfImage& image);

}  // namespace ct::locate::boringssl
