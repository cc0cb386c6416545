// ct-record --watch, the parts that need no BPF: rules, durations, the capture directory.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "watch.hpp"

namespace ct::record {
namespace {

namespace fs = std::filesystem;

struct TempDir {
    TempDir() {
        char tmpl[] = "/tmp/ct-watch-test-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { fs::remove_all(path); }
    std::string path;
};

void touch(const std::string& path, std::size_t bytes) {
    std::ofstream f(path, std::ios::binary);
    f << std::string(bytes, 'x');
}

TEST(WatchDuration, UnitsAndErrors) {
    EXPECT_EQ(*parse_duration_ms("90"), 90'000u);
    EXPECT_EQ(*parse_duration_ms("90s"), 90'000u);
    EXPECT_EQ(*parse_duration_ms("500ms"), 500u);
    EXPECT_EQ(*parse_duration_ms("30m"), 1'800'000u);
    EXPECT_EQ(*parse_duration_ms("1h"), 3'600'000u);
    EXPECT_EQ(*parse_duration_ms("7d"), 604'800'000u);
    EXPECT_FALSE(parse_duration_ms(""));
    EXPECT_FALSE(parse_duration_ms("h"));
    EXPECT_FALSE(parse_duration_ms("5 parsecs"));
    EXPECT_FALSE(parse_duration_ms("99999999999999999999d"));
}

TEST(WatchRules, NamesMatchCommOrExecutableBasenameCutTo15Bytes) {
    WatchRuleArgs args;
    args.names = {"python3", "a-very-long-program-name"};
    auto rules = WatchRules::resolve(args);
    ASSERT_TRUE(rules);
    ProcessSnapshot p;
    p.comm = "python3";
    p.exe = "/usr/bin/python3.11";
    EXPECT_EQ(rules->match(p, std::nullopt), "name=python3");
    p.comm = "agent";  // a script's name; its interpreter's basename does not match either
    EXPECT_FALSE(rules->match(p, std::nullopt));
    p.exe = "/usr/bin/python3";
    EXPECT_EQ(rules->match(p, std::nullopt), "name=python3");
    // The kernel keeps 15 bytes of comm: the rule is compared on those.
    p.comm = "a-very-long-pro";
    p.exe = "/x/y";
    EXPECT_TRUE(rules->match(p, std::nullopt));
    EXPECT_EQ(rules->names()[1], "a-very-long-pro");
}

TEST(WatchRules, ExeUserAndCommandLine) {
    TempDir dir;
    std::string exe = dir.path + "/agent";
    touch(exe, 10);
    WatchRuleArgs args;
    args.exes = {exe};
    args.users = {"0"};
    args.cmdlines = {R"(agent\.py --task \d+)"};
    auto rules = WatchRules::resolve(args);
    ASSERT_TRUE(rules);
    ASSERT_EQ(rules->exe_ids().size(), 1u);
    EXPECT_EQ(rules->uids(), std::vector<std::uint32_t>{0});
    EXPECT_TRUE(rules->has_cmdlines());
    ProcessSnapshot p;
    p.comm = "x";
    p.uid = 1000;
    EXPECT_FALSE(rules->match(p, std::nullopt));
    EXPECT_TRUE(rules->match(p, file_id_of(exe)));
    p.cmdline = {"python3", "agent.py", "--task", "42"};
    EXPECT_EQ(rules->match(p, std::nullopt), R"(cmdline=agent\.py --task \d+)");
    EXPECT_EQ(rules->match_cmdline({"python3", "agent.py", "--task", "x"}), std::nullopt);
    p.cmdline.clear();
    p.uid = 0;
    EXPECT_EQ(rules->match(p, std::nullopt), "user=0");
}

TEST(WatchRules, BadRulesAreClearErrors) {
    WatchRuleArgs a;
    a.names = {"/usr/bin/node"};
    EXPECT_NE(WatchRules::resolve(a).error().message.find("--match-exe"), std::string::npos);
    WatchRuleArgs b;
    b.cmdlines = {"(unclosed"};
    EXPECT_NE(WatchRules::resolve(b).error().message.find("regular expression"), std::string::npos);
    WatchRuleArgs c;
    c.users = {"no-such-user-ct-test"};
    EXPECT_NE(WatchRules::resolve(c).error().message.find("no such user"), std::string::npos);
    WatchRuleArgs d;
    d.exes = {"/no/such/file"};
    EXPECT_FALSE(WatchRules::resolve(d));
}

TEST(CaptureDirectory, OneRecorderPerDirectoryAndPartialFilesAreKept) {
    TempDir dir;
    std::string out = dir.path + "/captures";
    touch(dir.path + "/unrelated.ctz.part", 1);
    {
        auto d = CaptureDirectory::open(out, {});
        ASSERT_TRUE(d) << d.error().message;
        EXPECT_TRUE(d->recovered().empty());
        auto names = d->next_names(1'700'000'000'000'000'000, "abcd0123", 7);
        EXPECT_EQ(names.final_path, out + "/ct-20231114T221320Z-abcd0123-0007.ctz");
        EXPECT_EQ(names.part, names.final_path + ".part");
        touch(names.part, 100);
        // A second recorder on the same directory is refused while this one lives.
        auto second = CaptureDirectory::open(out, {});
        ASSERT_FALSE(second);
        EXPECT_NE(second.error().message.find("another ct-record --watch"), std::string::npos);
    }
    // The next one renames the dead recorder's partial file to its final name.
    auto d = CaptureDirectory::open(out, {});
    ASSERT_TRUE(d);
    ASSERT_EQ(d->recovered().size(), 1u);
    EXPECT_EQ(d->recovered()[0], out + "/ct-20231114T221320Z-abcd0123-0007.ctz");
    EXPECT_TRUE(fs::exists(d->recovered()[0]));
    EXPECT_TRUE(fs::exists(dir.path + "/unrelated.ctz.part"));  // not in the directory
}

TEST(CaptureDirectory, KeepSizeRemovesTheOldestFinishedCapturesOnly) {
    TempDir dir;
    auto d = CaptureDirectory::open(dir.path, {0, 3 * 8192});
    ASSERT_TRUE(d);
    for (int i = 0; i < 5; ++i)
        touch(dir.path + "/ct-2026010" + std::to_string(i) + "T000000Z-s-0000.ctz", 8000);
    touch(dir.path + "/ct-20260109T000000Z-s-0001.ctz.part", 8000);  // being written
    touch(dir.path + "/notes.ctz", 8000);                            // not ours
    auto removed = d->enforce_limits();
    ASSERT_EQ(removed.size(), 3u);
    EXPECT_EQ(removed[0], dir.path + "/ct-20260100T000000Z-s-0000.ctz");
    EXPECT_EQ(removed[2], dir.path + "/ct-20260102T000000Z-s-0000.ctz");
    EXPECT_TRUE(fs::exists(dir.path + "/ct-20260109T000000Z-s-0001.ctz.part"));
    EXPECT_TRUE(fs::exists(dir.path + "/notes.ctz"));
    EXPECT_TRUE(fs::exists(dir.path + "/ct-20260104T000000Z-s-0000.ctz"));
}

TEST(CaptureDirectory, NotADirectoryIsAClearError) {
    auto d = CaptureDirectory::open("/dev/null/captures", {});
    ASSERT_FALSE(d);
    EXPECT_NE(d.error().message.find("output directory"), std::string::npos);
}

}  // namespace
}  // namespace ct::record
