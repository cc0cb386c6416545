// Sizes on the command line: "4096", "64K", "16M", "1G" (powers of 1024).
#pragma once

#include <cstdint>
#include <string>

#include "util/error.hpp"

namespace ct {

Expected<std::uint64_t> parse_size(const std::string& text);

}  // namespace ct
