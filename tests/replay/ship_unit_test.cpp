// ct-analyze --watch's look at a file: the trailer at its end, its temporary name.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ship.hpp"

namespace {

std::vector<std::uint8_t> read_fixture(const std::string& name) {
    std::ifstream in(std::string(CT_FIXTURES_DIR) + "/ship/" + name, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<std::uint8_t> tail_of(const std::vector<std::uint8_t>& file) {
    const std::size_t take = std::min(file.size(), ct::analyze::kTailBytes);
    return {file.end() - static_cast<std::ptrdiff_t>(take), file.end()};
}

TEST(Ship, TrailerAtTheEndOfAFinishedCapture) {
    for (const char* name : {"a-tool.ctz", "b-openai.ctz", "c-long.ctz"}) {
        auto file = read_fixture(name);
        ASSERT_GT(file.size(), 1024u) << name;
        EXPECT_TRUE(ct::analyze::tail_ends_with_trailer(tail_of(file))) << name;
        // The trailer alone, as a tail.
        std::vector<std::uint8_t> last(file.end() - 1024, file.end());
        EXPECT_TRUE(ct::analyze::tail_ends_with_trailer(last)) << name;
    }
}

TEST(Ship, NoTrailerAtTheEndOfAnUnfinishedCapture) {
    EXPECT_FALSE(ct::analyze::tail_ends_with_trailer(tail_of(read_fixture("d-damaged.ctz"))));
    auto file = read_fixture("c-long.ctz");
    // A byte after the trailer: a writer went on, the trailer does not end the file.
    auto longer = file;
    longer.push_back(0);
    EXPECT_FALSE(ct::analyze::tail_ends_with_trailer(tail_of(longer)));
    // Cut inside the trailer.
    std::vector<std::uint8_t> cut(file.begin(), file.end() - 3);
    EXPECT_FALSE(ct::analyze::tail_ends_with_trailer(tail_of(cut)));
    EXPECT_FALSE(ct::analyze::tail_ends_with_trailer({}));
}

TEST(Ship, TemporaryNames) {
    EXPECT_TRUE(ct::analyze::is_temporary_name("x.ctz.part"));
    EXPECT_TRUE(ct::analyze::is_temporary_name("x.ctz.tmp"));
    EXPECT_TRUE(ct::analyze::is_temporary_name("x.ctz~"));
    EXPECT_FALSE(ct::analyze::is_temporary_name("x.ctz"));
    EXPECT_FALSE(ct::analyze::is_temporary_name("party.ctz"));
}

}  // namespace
