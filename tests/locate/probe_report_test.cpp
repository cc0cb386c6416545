// format_probe_report() and run_probe_report() (ct-record --probe-report).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "locate/tls_locator.hpp"
#include "test_support.hpp"

namespace ct::locate {
namespace {

constexpr const char* kLibSsl = "/usr/lib/x86_64-linux-gnu/libssl.so.3";

LocatorOptions no_cache() {
    LocatorOptions options;
    options.use_cache = false;
    return options;
}

std::pair<int, std::string> probe(const std::string& what) {
    std::ostringstream out;
    const int status = run_probe_report(what, out, no_cache());
    return {status, out.str()};
}

TEST(ProbeReport, LibSslListsEveryFunctionWithItsOffset) {
    auto [status, text] = probe(kLibSsl);
    EXPECT_EQ(status, 0) << text;
    const auto sections = test::readelf_sections(kLibSsl);
    for (const auto& sym : test::readelf_dynamic_symbols(kLibSsl)) {
        if (!sym.name.starts_with("SSL_write@@") && !sym.name.starts_with("SSL_read@@"))
            continue;
        const auto offset = test::offset_through_section(sections, sym.value);
        ASSERT_TRUE(offset);
        EXPECT_NE(text.find(fmt::format("file offset {:#10x}", *offset)), std::string::npos)
            << sym.name << "\n"
            << text;
        EXPECT_NE(text.find(sym.name), std::string::npos) << text;  // the evidence
    }
}

TEST(ProbeReport, NoTls) {
    auto [status, text] = probe("/usr/lib/x86_64-linux-gnu/libc.so.6");
    EXPECT_EQ(status, 0);
    EXPECT_NE(text.find("no TLS functions"), std::string::npos) << text;
}

TEST(ProbeReport, RefusalExitsNonZeroAndSaysWhy) {
    auto [status, text] =
        probe(std::string(CT_LOCATE_FIXTURE_DIR) + "/libct_locate_write_only_ssl.so");
    EXPECT_EQ(status, 1);
    EXPECT_NE(text.find("REFUSED"), std::string::npos) << text;
    EXPECT_NE(text.find("SSL_read"), std::string::npos) << text;
}

TEST(ProbeReport, UnreadableBinary) {
    auto [status, text] = probe("/nonexistent/binary");
    EXPECT_EQ(status, 2);
    EXPECT_NE(text.find("cannot examine"), std::string::npos) << text;
}

TEST(ProbeReport, ProcessListsTlsBinariesAndCountsTheRest) {
    if (!std::filesystem::exists("/usr/bin/node"))
        GTEST_SKIP() << "needs /usr/bin/node";
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::execl("/usr/bin/node", "node", "-e", "setTimeout(() => {}, 30000)", nullptr);
        ::_exit(127);
    }
    ASSERT_GT(pid, 0);
    // Wait until node has started and mapped its libraries.
    for (int i = 0; i < 200; ++i) {
        std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
        const std::string text((std::istreambuf_iterator<char>(maps)), {});
        if (text.find("/usr/bin/node") != std::string::npos &&
            text.find("libc.so") != std::string::npos) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::ostringstream out;
    const int status = run_probe_report(std::to_string(pid), out, no_cache());
    const std::string text = out.str();
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    EXPECT_EQ(status, 0) << text;
    EXPECT_NE(text.find("/usr/bin/node"), std::string::npos) << text;
    EXPECT_NE(text.find("SSL_write"), std::string::npos) << text;
    EXPECT_NE(text.find("examined"), std::string::npos) << text;
    EXPECT_EQ(text.find("libc.so.6\n"), std::string::npos) << "libc listed:\n" << text;
}

TEST(ProbeReport, ExitedProcess) {
    const pid_t pid = ::fork();
    if (pid == 0)
        ::_exit(0);
    ::waitpid(pid, nullptr, 0);
    auto [status, text] = probe(std::to_string(pid));
    EXPECT_EQ(status, 2);
    EXPECT_NE(text.find("cannot examine process"), std::string::npos) << text;
}

TEST(ProbeReport, FormatShowsTargetsEvidenceAndRefusal) {
    BinaryReport report;
    report.path = "/x/libfoo.so";
    report.flavor = Flavor::BoringSslStripped;
    report.how_found = "boringssl-structure";
    report.targets.push_back(Target{Role::SslWrite, 0x331e660, 0x311d660, "only BAD_LENGTH"});
    report.evidence.push_back("an evidence line");
    std::string text = format_probe_report(report);
    EXPECT_NE(text.find("SSL_write"), std::string::npos);
    EXPECT_NE(text.find("0x311d660"), std::string::npos);
    EXPECT_NE(text.find("0x331e660"), std::string::npos);
    EXPECT_NE(text.find("only BAD_LENGTH"), std::string::npos);
    EXPECT_NE(text.find("an evidence line"), std::string::npos);
    EXPECT_EQ(text.find("REFUSED"), std::string::npos);

    report.targets.clear();
    report.refusal = "SSL_read: 2 candidates";
    text = format_probe_report(report);
    EXPECT_NE(text.find("REFUSED"), std::string::npos);
    EXPECT_NE(text.find("SSL_read: 2 candidates"), std::string::npos);
}

}  // namespace
}  // namespace ct::locate
