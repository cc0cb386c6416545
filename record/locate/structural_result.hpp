// What a structural locator (stripped BoringSSL, stripped OpenSSL 3) found, or why it
// refused: the part both share.
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "locate/source_strings.hpp"
#include "locate/tls_locator.hpp"

namespace ct::locate {

struct StructuralResult {
    std::vector<Target> targets;
    std::optional<std::string> refusal;
    std::vector<std::string> evidence;
};

// A result whose evidence starts with the source paths the analysis anchors on.
inline StructuralResult start_structural_result(std::string_view library,
                                                const std::vector<SourcePathString>& paths) {
    StructuralResult result;
    for (const auto& path : paths) {
        result.evidence.push_back(
            fmt::format("{} source path \"{}\" at vaddr {:#x}", library, path.text, path.vaddr));
    }
    return result;
}

// `result` naming nothing, for the reason `why`.
inline StructuralResult refuse(StructuralResult result, std::string why) {
    result.targets.clear();
    result.refusal = std::move(why);
    return result;
}

}  // namespace ct::locate
