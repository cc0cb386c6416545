// ct-record --force (WriterOptions::overwrite) replaces only a regular file, and
// only once the new capture has its header; nothing else at the path is touched.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "capture/capture_reader.hpp"
#include "capture/capture_writer.hpp"
#include "synthetic_capture.hpp"
#include "test_files.hpp"

namespace ct::testing {
namespace {

record::WriterOptions force() {
    record::WriterOptions o;
    o.overwrite = true;
    return o;
}

ctz::FieldWriter some_header() {
    ctz::FieldWriter f;
    std::vector<std::uint8_t> uuid(16, 0x42);
    f.bytes(ctz::HeaderField::CaptureUuid, uuid).str(ctz::HeaderField::Hostname, "replacement");
    return f;
}

// Names in the directory, so a test can see that no temporary file is left behind.
std::vector<std::string> entries(const std::string& dir) {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

struct stat lstat_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st;
}

class ForceOverwrite : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = std::filesystem::path(tmp_.file("x")).parent_path().string();
        old_ = tmp_.file("old.ctz");
        {
            SyntheticCapture cap(old_);
            auto g = cap.open_connection(7, 0x70);
            cap.write(g, "GET /old HTTP/1.1\r\n\r\n");
            cap.finish("old capture");
        }
        ::chmod(old_.c_str(), 0640);  // so a chmod of it would show
        old_bytes_ = read_file(old_);
        ASSERT_FALSE(old_bytes_.empty());
    }

    TempDir tmp_;
    std::string dir_;
    std::string old_;
    std::vector<std::uint8_t> old_bytes_;
};

TEST_F(ForceOverwrite, ReplacesARegularFileOnlyOnceTheHeaderIsWritten) {
    struct stat before = lstat_of(old_);
    auto w = record::CaptureWriter::create(old_, force());
    ASSERT_TRUE(w) << w.error().what();
    // Until the new capture is valid, the old one is still there, byte for byte.
    EXPECT_EQ(read_file(old_), old_bytes_);
    EXPECT_EQ(entries(dir_).size(), 2u) << "the new capture is written beside the old one";
    ASSERT_TRUE((*w)->write_header(some_header()));
    EXPECT_EQ(entries(dir_), std::vector<std::string>{"old.ctz"});
    struct stat after = lstat_of(old_);
    EXPECT_NE(after.st_ino, before.st_ino) << "replaced by rename, not truncated in place";
    EXPECT_EQ(after.st_mode & 0777, 0600u);
    ASSERT_TRUE((*w)->finish(ctz::FieldWriter{}));
    w->reset();
    auto reader = replay::CaptureReader::open(old_);
    ASSERT_TRUE(reader) << reader.error().what();
    EXPECT_EQ(reader->header().hostname, "replacement");
}

TEST_F(ForceOverwrite, AFailedStartLeavesTheOldCaptureAndNoTemporaryFile) {
    for (bool background : {false, true}) {
        auto o = force();
        o.background = background;
        auto w = record::CaptureWriter::create(old_, o);
        ASSERT_TRUE(w) << w.error().what();
        w->reset();  // what ct-record does when setup fails before the header
        EXPECT_EQ(read_file(old_), old_bytes_);
        EXPECT_EQ(lstat_of(old_).st_mode & 0777, 0640u);
        EXPECT_EQ(entries(dir_), std::vector<std::string>{"old.ctz"});
    }
}

TEST_F(ForceOverwrite, WithoutForceAFailedStartRemovesOnlyItsOwnNewFile) {
    auto fresh = tmp_.file("new.ctz");
    auto w = record::CaptureWriter::create(fresh, {});
    ASSERT_TRUE(w) << w.error().what();
    EXPECT_EQ(lstat_of(fresh).st_mode & 0777, 0600u);
    w->reset();
    EXPECT_EQ(entries(dir_), std::vector<std::string>{"old.ctz"});
    auto refused = record::CaptureWriter::create(old_, {});
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("--force"), std::string::npos);
    EXPECT_EQ(read_file(old_), old_bytes_);
}

TEST_F(ForceOverwrite, RefusesASymlinkAndLeavesItsTargetAlone) {
    auto link = tmp_.file("link.ctz");
    ASSERT_EQ(::symlink(old_.c_str(), link.c_str()), 0);
    auto dangling = tmp_.file("dangling.ctz");
    ASSERT_EQ(::symlink(tmp_.file("nowhere.ctz").c_str(), dangling.c_str()), 0);
    for (bool overwrite : {true, false}) {
        record::WriterOptions o;
        o.overwrite = overwrite;
        for (const auto& path : {link, dangling}) {
            auto w = record::CaptureWriter::create(path, o);
            ASSERT_FALSE(w) << path;
            EXPECT_NE(w.error().message.find("symbolic link"), std::string::npos)
                << w.error().message;
            EXPECT_TRUE(S_ISLNK(lstat_of(path).st_mode));
        }
    }
    EXPECT_EQ(read_file(old_), old_bytes_);
    EXPECT_EQ(lstat_of(old_).st_mode & 0777, 0640u);
    EXPECT_FALSE(std::filesystem::exists(tmp_.file("nowhere.ctz")));
    EXPECT_EQ(entries(dir_), (std::vector<std::string>{"dangling.ctz", "link.ctz", "old.ctz"}));
}

// Everything that is not a regular file: refused with the same message, untouched.
void expect_refused_and_untouched(const std::string& path, const std::string& dir) {
    struct stat before = lstat_of(path);
    auto names = entries(dir);
    for (bool overwrite : {true, false}) {
        record::WriterOptions o;
        o.overwrite = overwrite;
        auto w = record::CaptureWriter::create(path, o);
        ASSERT_FALSE(w) << path;
        EXPECT_NE(w.error().message.find("-w " + path + ": not a regular file"), std::string::npos)
            << w.error().message;
    }
    struct stat after = lstat_of(path);
    EXPECT_EQ(after.st_ino, before.st_ino);
    EXPECT_EQ(after.st_mode, before.st_mode) << "mode changed";
    EXPECT_EQ(after.st_rdev, before.st_rdev);
    EXPECT_EQ(after.st_size, before.st_size);
    EXPECT_EQ(entries(dir), names);
}

TEST_F(ForceOverwrite, RefusesAFifo) {
    auto fifo = tmp_.file("fifo.ctz");
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
    expect_refused_and_untouched(fifo, dir_);
}

TEST_F(ForceOverwrite, RefusesADirectory) {
    auto sub = tmp_.file("dir.ctz");
    ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
    { std::ofstream(sub + "/inside") << "keep"; }
    expect_refused_and_untouched(sub, dir_);
    EXPECT_TRUE(std::filesystem::exists(sub + "/inside"));
}

TEST_F(ForceOverwrite, RefusesADeviceNode) {
    // A copy of /dev/null (1,3): creating it needs CAP_MKNOD.
    auto dev = tmp_.file("null.ctz");
    if (::mknod(dev.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0)
        GTEST_SKIP() << "mknod needs root: " << std::strerror(errno);
    expect_refused_and_untouched(dev, dir_);
}

TEST_F(ForceOverwrite, RefusesASocket) {
    auto sock = tmp_.file("s.ctz");
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (sock.size() >= sizeof addr.sun_path) {
        ::close(fd);
        GTEST_SKIP() << "temp path too long for a unix socket";
    }
    std::memcpy(addr.sun_path, sock.c_str(), sock.size() + 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    expect_refused_and_untouched(sock, dir_);
    ::close(fd);
}

}  // namespace
}  // namespace ct::testing
