// EXEC and MMAP_EXEC grew (the exec/dlopen hold): events of the first size still
// read, with the appended fields zero, and the argv tail is found at `size`.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>
#include <vector>

#include "ct_abi.hpp"

namespace ct::testing {
namespace {

// capture-format.md (3.3 to 3.6) says these fields are signed 32-bit: a failed
// connect() or handshake returns a negative value, an fd can be -1, and a wait(2)
// status is an int. A reader that took them unsigned would show 4294967181 for
// -EINPROGRESS.
template <typename T>
constexpr bool kIsI32 = std::is_same_v<T, std::int32_t>;
static_assert(kIsI32<decltype(ct_conn_event::ret)>);
static_assert(kIsI32<decltype(ct_socket_event::fd)>);
static_assert(kIsI32<decltype(ct_socket_event::ret)>);
static_assert(kIsI32<decltype(ct_exit_event::exit_code)>);
static_assert(kIsI32<decltype(ct_mmap_exec_event::fd)>);
static_assert(kIsI32<decltype(ct_tcp_event::fd)>);
static_assert(kIsI32<decltype(ct_tcp_event::connect_ret)>);

std::vector<std::uint8_t> exec_event(std::size_t fixed_size, std::string_view args) {
    ct_exec_event e{};
    e.hdr.type = CT_EVENT_EXEC;
    e.hdr.size = static_cast<std::uint16_t>(fixed_size);
    e.hdr.pid = 42;
    e.args_len = static_cast<std::uint32_t>(args.size());
    std::memcpy(e.filename, "/bin/x", 6);
    e.file_dev = 0x800001;
    e.file_ino = 77;
    e.hold = CT_HOLD_STOPPED;
    std::vector<std::uint8_t> bytes(fixed_size + args.size());
    std::memcpy(bytes.data(), &e, fixed_size);
    std::memcpy(bytes.data() + fixed_size, args.data(), args.size());
    return bytes;
}

TEST(EventAbi, FirstSizeExecEventReadsWithZeroHoldFields) {
    // Shorter than the new struct: a plain read_struct would fail on it.
    auto bytes = exec_event(abi::kExecEventV1Size, std::string_view("a\0b", 3));
    ASSERT_TRUE(abi::read_header(bytes));
    EXPECT_EQ(abi::stored_length(bytes), bytes.size());
    auto tail = abi::tail(bytes);
    EXPECT_EQ(std::string(tail.begin(), tail.end()), std::string("a\0b", 3));
    auto e = abi::read_event<ct_exec_event>(bytes);
    ASSERT_TRUE(e);
    EXPECT_STREQ(e->filename, "/bin/x");
    EXPECT_EQ(e->file_dev, 0u);  // the writer had no such field: not the argv bytes
    EXPECT_EQ(e->file_ino, 0u);
    EXPECT_EQ(e->hold, 0u);
}

TEST(EventAbi, CurrentExecEventCarriesTheHold) {
    auto bytes = exec_event(sizeof(ct_exec_event), "argv0");
    EXPECT_EQ(abi::stored_length(bytes), bytes.size());
    auto e = abi::read_event<ct_exec_event>(bytes);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->file_dev, 0x800001u);
    EXPECT_EQ(e->file_ino, 77u);
    EXPECT_EQ(e->hold, static_cast<std::uint32_t>(CT_HOLD_STOPPED));
    auto tail = abi::tail(bytes);
    EXPECT_EQ(std::string(tail.begin(), tail.end()), "argv0");
}

TEST(EventAbi, MmapExecEventOfTheFirstSizeIsAccepted) {
    ct_mmap_exec_event e{};
    e.hdr.type = CT_EVENT_MMAP_EXEC;
    e.hdr.size = static_cast<std::uint16_t>(abi::kMmapExecEventV1Size);
    e.fd = 3;
    e.hold = CT_HOLD_STOPPED;  // beyond the first size: must not be read
    std::vector<std::uint8_t> bytes(abi::kMmapExecEventV1Size);
    std::memcpy(bytes.data(), &e, bytes.size());
    EXPECT_EQ(abi::stored_length(bytes), bytes.size());
    auto read = abi::read_event<ct_mmap_exec_event>(bytes);
    ASSERT_TRUE(read);
    EXPECT_EQ(read->fd, 3);
    EXPECT_EQ(read->hold, 0u);
    // Shorter than the first size is damage.
    bytes.resize(abi::kMmapExecEventV1Size - 8);
    e.hdr.size = static_cast<std::uint16_t>(bytes.size());
    std::memcpy(bytes.data(), &e.hdr, sizeof e.hdr);
    EXPECT_EQ(abi::stored_length(bytes), 0u);
}

// A reader judges a handshake by the function that reported it: OpenSSL's succeed
// with 1, gnutls_handshake with 0 (capture format 1.4).
TEST(EventAbi, HandshakeSuccessDependsOnTheLibrary) {
    EXPECT_TRUE(abi::handshake_succeeded(CT_FUNC_SSL_DO_HANDSHAKE, 1));
    EXPECT_FALSE(abi::handshake_succeeded(CT_FUNC_SSL_DO_HANDSHAKE, 0));
    EXPECT_TRUE(abi::handshake_succeeded(CT_FUNC_GNUTLS_HANDSHAKE, 0));
    EXPECT_FALSE(abi::handshake_succeeded(CT_FUNC_GNUTLS_HANDSHAKE, 1));
    EXPECT_FALSE(abi::handshake_succeeded(CT_FUNC_GNUTLS_HANDSHAKE, -9));
}

TEST(EventAbi, GnutlsOpensFromTheStartAndHaveNames) {
    EXPECT_TRUE(abi::opens_from_start(CT_FUNC_GNUTLS_HANDSHAKE));
    EXPECT_TRUE(abi::opens_from_start(CT_FUNC_GNUTLS_RECORD_SEND_EARLY_DATA));
    EXPECT_TRUE(abi::opens_from_start(CT_FUNC_SSL_NEW));
    EXPECT_FALSE(abi::opens_from_start(CT_FUNC_GNUTLS_RECORD_RECV));
    EXPECT_FALSE(abi::opens_from_start(CT_FUNC_SSL_READ));
    for (int f = CT_FUNC_GNUTLS_RECORD_SEND; f <= CT_FUNC_GNUTLS_DEINIT; ++f) {
        EXPECT_EQ(std::string_view(abi::func_name(static_cast<std::uint8_t>(f))).substr(0, 7),
                  "gnutls_")
            << f;
    }
}

}  // namespace
}  // namespace ct::testing
