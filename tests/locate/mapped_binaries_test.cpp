// mapped_binaries(): live processes, exited ones, and deleted or replaced executables.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "locate/tls_locator.hpp"
#include "test_support.hpp"

namespace ct::locate {
namespace {

namespace fs = std::filesystem;

// A child process running `program args...`; killed and reaped at scope exit.
class Child {
  public:
    explicit Child(std::vector<std::string> argv) {
        pid_ = ::fork();
        if (pid_ == 0) {
            std::vector<char*> args;
            for (auto& a : argv)
                args.push_back(a.data());
            args.push_back(nullptr);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
    }
    ~Child() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    pid_t pid() const { return pid_; }
    // Waits until the child runs `path` (exec has happened).
    bool wait_for_exec(const std::string& path) const {
        for (int i = 0; i < 500; ++i) {
            std::error_code ec;
            if (fs::read_symlink(fmt_path("exe"), ec) == path)
                return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }

  private:
    std::string fmt_path(const char* leaf) const {
        return "/proc/" + std::to_string(pid_) + "/" + leaf;
    }
    pid_t pid_ = -1;
};

uint64_t inode_of(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

TEST(MappedBinaries, OwnProcess) {
    const auto binaries = mapped_binaries(::getpid());
    ASSERT_FALSE(binaries.empty());
    EXPECT_TRUE(binaries.front().is_main_executable);
    EXPECT_EQ(binaries.front().path_in_process, fs::read_symlink("/proc/self/exe").string());
    std::set<std::pair<uint64_t, uint64_t>> seen;
    bool libc = false;
    for (const auto& b : binaries) {
        EXPECT_TRUE(seen.emplace(b.device, b.inode).second) << "duplicate " << b.path_in_process;
        EXPECT_FALSE(b.access_path.empty()) << b.path_in_process;
        EXPECT_EQ(inode_of(b.access_path), b.inode) << b.access_path;
        EXPECT_FALSE(b.deleted);
        libc = libc || b.path_in_process.find("libc.so") != std::string::npos;
    }
    EXPECT_TRUE(libc);
}

TEST(MappedBinaries, NonexistentProcess) {
    // Above the largest possible pid_max (2^22).
    auto result = read_mapped_binaries(4194305 + 17);
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().what().find("does not exist"), std::string::npos)
        << result.error().what();
    EXPECT_TRUE(mapped_binaries(4194305 + 17).empty());
}

TEST(MappedBinaries, ExitedButNotReapedProcess) {
    const pid_t pid = ::fork();
    if (pid == 0)
        ::_exit(0);
    ASSERT_GT(pid, 0);
    siginfo_t info{};
    ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT), 0);  // a zombie
    auto result = read_mapped_binaries(pid);
    EXPECT_FALSE(result);
    if (!result) {
        EXPECT_NE(result.error().what().find("exited"), std::string::npos) << result.error().what();
    }
    EXPECT_TRUE(mapped_binaries(pid).empty());
    ::waitpid(pid, nullptr, 0);
}

TEST(MappedBinaries, DeletedExecutable) {
    test::TempDir dir;
    const std::string copy = (dir.path() / "sleeper").string();
    fs::copy_file("/bin/sleep", copy);
    Child child({copy, "30"});
    ASSERT_TRUE(child.wait_for_exec(copy));
    const uint64_t inode = inode_of(copy);
    fs::remove(copy);

    const auto binaries = mapped_binaries(child.pid());
    ASSERT_FALSE(binaries.empty());
    const MappedBinary& main = binaries.front();
    EXPECT_TRUE(main.is_main_executable);
    EXPECT_TRUE(main.deleted);
    EXPECT_EQ(main.path_in_process, copy);
    EXPECT_EQ(main.inode, inode);
    ASSERT_FALSE(main.access_path.empty()) << "no way to open the deleted executable";
    EXPECT_EQ(inode_of(main.access_path), inode) << main.access_path;
    auto report =
        locate_tls_functions(main.access_path, LocatorOptions{.use_cache = false, .cache_dir = {}});
    ASSERT_TRUE(report) << report.error().what();
    EXPECT_EQ(report->flavor, Flavor::None);
}

// The path now names another file: the access path must still lead to the mapped one.
TEST(MappedBinaries, ReplacedExecutable) {
    test::TempDir dir;
    const std::string copy = (dir.path() / "sleeper").string();
    fs::copy_file("/bin/sleep", copy);
    Child child({copy, "30"});
    ASSERT_TRUE(child.wait_for_exec(copy));
    const uint64_t inode = inode_of(copy);
    const std::string replacement = (dir.path() / "replacement").string();
    fs::copy_file("/bin/ls", replacement);
    fs::rename(replacement, copy);
    ASSERT_NE(inode_of(copy), inode);

    const auto binaries = mapped_binaries(child.pid());
    ASSERT_FALSE(binaries.empty());
    const MappedBinary& main = binaries.front();
    EXPECT_EQ(main.inode, inode);
    EXPECT_TRUE(main.deleted);
    ASSERT_FALSE(main.access_path.empty());
    EXPECT_EQ(inode_of(main.access_path), inode) << main.access_path;
}

}  // namespace
}  // namespace ct::locate
