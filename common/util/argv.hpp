// A command line shown as one string: its arguments joined by single spaces.
#pragma once

#include <string>
#include <vector>

namespace ct {

inline std::string join_argv(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& a : argv) {
        if (!out.empty())
            out += ' ';
        out += a;
    }
    return out;
}

}  // namespace ct
