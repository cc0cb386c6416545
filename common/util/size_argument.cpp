#include "util/size_argument.hpp"

#include <cctype>
#include <limits>

namespace ct {

Expected<std::uint64_t> parse_size(const std::string& text) {
    std::size_t i = 0;
    std::uint64_t value = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
        std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
        if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
            return fail("'" + text + "' is too large");
        }
        value = value * 10 + digit;
        ++i;
    }
    if (i == 0)
        return fail("'" + text + "' is not a size (use e.g. 4096, 64K, 16M, 1G)");
    std::string suffix = text.substr(i);
    if (!suffix.empty() && (suffix.back() == 'B' || suffix.back() == 'b'))
        suffix.pop_back();
    if (suffix == "i" || (suffix.size() == 2 && suffix[1] == 'i'))
        suffix.pop_back();
    int shift = 0;
    if (suffix.empty())
        shift = 0;
    else if (suffix == "K" || suffix == "k")
        shift = 10;
    else if (suffix == "M" || suffix == "m")
        shift = 20;
    else if (suffix == "G" || suffix == "g")
        shift = 30;
    else
        return fail("'" + text + "' has an unknown unit (use K, M or G)");
    if (shift && value > (std::numeric_limits<std::uint64_t>::max() >> shift)) {
        return fail("'" + text + "' is too large");
    }
    return value << shift;
}

}  // namespace ct
