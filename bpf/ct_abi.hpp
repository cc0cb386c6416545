// C++ twin of bpf/ct_abi.h: pins the layout with static_asserts and decodes
// events from unaligned bytes (ring buffer or capture file) with memcpy.
#pragma once

#include <linux/types.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>

extern "C" {
#include "ct_abi.h"
}

namespace ct::abi {

// The layout is a file format: any change here must be a deliberate ABI change.
static_assert(sizeof(ct_event_header) == 32);
static_assert(offsetof(ct_event_header, seq) == 8);
static_assert(offsetof(ct_event_header, ts_ns) == 16);
static_assert(offsetof(ct_event_header, pid) == 24);
static_assert(sizeof(ct_data_event) == 104);
static_assert(offsetof(ct_data_event, ssl) == 32);
static_assert(offsetof(ct_data_event, conn_gen) == 40);
static_assert(offsetof(ct_data_event, stream_pos) == 48);
static_assert(offsetof(ct_data_event, call_start_ns) == 56);
static_assert(offsetof(ct_data_event, call_len) == 64);
static_assert(offsetof(ct_data_event, chunk_offset) == 72);
static_assert(offsetof(ct_data_event, data_len) == 80);
static_assert(offsetof(ct_data_event, flags) == 84);
static_assert(offsetof(ct_data_event, direction) == 86);
static_assert(offsetof(ct_data_event, func) == 87);
static_assert(offsetof(ct_data_event, comm) == 88);
static_assert(sizeof(ct_loss_event) == 72);
static_assert(offsetof(ct_loss_event, lost_len) == 56);
static_assert(offsetof(ct_loss_event, reason) == 64);
static_assert(sizeof(ct_conn_event) == 88);
static_assert(offsetof(ct_conn_event, ret) == 64);
static_assert(offsetof(ct_conn_event, kind) == 68);
static_assert(sizeof(ct_socket_event) == 96);
static_assert(offsetof(ct_socket_event, fd) == 48);
static_assert(offsetof(ct_socket_event, family) == 56);
static_assert(offsetof(ct_socket_event, origin) == 62);
static_assert(offsetof(ct_socket_event, local_addr) == 64);
static_assert(offsetof(ct_socket_event, remote_addr) == 80);
static_assert(sizeof(ct_fork_event) == 48);
static_assert(sizeof(ct_exec_event) == 344);
static_assert(offsetof(ct_exec_event, args_len) == 36);
static_assert(offsetof(ct_exec_event, filename) == 64);
static_assert(offsetof(ct_exec_event, file_dev) == 320);
static_assert(offsetof(ct_exec_event, file_ino) == 328);
static_assert(offsetof(ct_exec_event, hold) == 336);
static_assert(sizeof(ct_exit_event) == 40);
static_assert(sizeof(ct_mmap_exec_event) == 80);
static_assert(offsetof(ct_mmap_exec_event, file_dev) == 56);
static_assert(offsetof(ct_mmap_exec_event, file_ino) == 64);
static_assert(offsetof(ct_mmap_exec_event, hold) == 72);
static_assert(sizeof(ct_file_id) == 16);
// enum values are part of the format: pinned like the layout.
static_assert(CT_FUNC_SYSCALL == 11);
static_assert(CT_FUNC_GNUTLS_RECORD_SEND == 12);
static_assert(CT_FUNC_GNUTLS_RECORD_SEND2 == 13);
static_assert(CT_FUNC_GNUTLS_RECORD_SEND_RANGE == 14);
static_assert(CT_FUNC_GNUTLS_RECORD_SEND_EARLY_DATA == 15);
static_assert(CT_FUNC_GNUTLS_RECORD_RECV == 16);
static_assert(CT_FUNC_GNUTLS_RECORD_RECV_SEQ == 17);
static_assert(CT_FUNC_GNUTLS_RECORD_RECV_EARLY_DATA == 18);
static_assert(CT_FUNC_GNUTLS_HANDSHAKE == 19);
static_assert(CT_FUNC_GNUTLS_DEINIT == 20);
static_assert(CT_FUNC_GO_CONN_WRITE == 21);
static_assert(CT_FUNC_GO_CONN_READ == 22);
static_assert(CT_FUNC_GO_CONN_CLOSE == 23);
static_assert(CT_FUNC_CONTINUED == 24);
static_assert(offsetof(ct_exec_event, watch) == 340);

// Sizes of the first versions of structs that grew since: still accepted.
inline constexpr std::size_t kExecEventV1Size = 320;
inline constexpr std::size_t kMmapExecEventV1Size = 56;
static_assert(sizeof(ct_tcp_event) == 136);
static_assert(offsetof(ct_tcp_event, open_ns) == 32);
static_assert(offsetof(ct_tcp_event, bytes_sent) == 40);
static_assert(offsetof(ct_tcp_event, bytes_received) == 48);
static_assert(offsetof(ct_tcp_event, ssl) == 56);
static_assert(offsetof(ct_tcp_event, conn_gen) == 64);
static_assert(offsetof(ct_tcp_event, send_calls) == 72);
static_assert(offsetof(ct_tcp_event, recv_calls) == 76);
static_assert(offsetof(ct_tcp_event, fd) == 80);
static_assert(offsetof(ct_tcp_event, connect_ret) == 84);
static_assert(offsetof(ct_tcp_event, family) == 88);
static_assert(offsetof(ct_tcp_event, local_port) == 90);
static_assert(offsetof(ct_tcp_event, remote_port) == 92);
static_assert(offsetof(ct_tcp_event, origin) == 94);
static_assert(offsetof(ct_tcp_event, end) == 95);
static_assert(offsetof(ct_tcp_event, flags) == 96);
static_assert(offsetof(ct_tcp_event, local_addr) == 104);
static_assert(offsetof(ct_tcp_event, remote_addr) == 120);
static_assert(sizeof(ct_tcp_state) == 144);
static_assert(sizeof(ct_counters) % 8 == 0);

// Minimum sizes a reader accepts per type: the size of ABI version 1's struct.
// A larger `hdr.size` is a newer writer with appended fields; a smaller one is damage.
constexpr std::size_t min_event_size(std::uint16_t type) {
    switch (type) {
        case CT_EVENT_DATA:
            return sizeof(ct_data_event);
        case CT_EVENT_LOSS:
            return sizeof(ct_loss_event);
        case CT_EVENT_CONN:
            return sizeof(ct_conn_event);
        case CT_EVENT_SOCKET:
            return sizeof(ct_socket_event);
        case CT_EVENT_FORK:
            return sizeof(ct_fork_event);
        case CT_EVENT_EXEC:
            return kExecEventV1Size;
        case CT_EVENT_EXIT:
            return sizeof(ct_exit_event);
        case CT_EVENT_MMAP_EXEC:
            return kMmapExecEventV1Size;
        case CT_EVENT_TCP:
            return sizeof(ct_tcp_event);
        default:
            return sizeof(ct_event_header);
    }
}

// Copies a T out of possibly unaligned bytes; nullopt if too short.
template <typename T>
std::optional<T> read_struct(std::span<const std::uint8_t> bytes) {
    if (bytes.size() < sizeof(T))
        return std::nullopt;
    T value;
    std::memcpy(&value, bytes.data(), sizeof(T));
    return value;
}

// An event struct from a validated event: the `hdr.size` bytes the writer filled in,
// fields appended after that writer's version zeroed. nullopt if malformed.
template <typename T>
std::optional<T> read_event(std::span<const std::uint8_t> bytes) {
    auto hdr = read_struct<ct_event_header>(bytes);
    if (!hdr || hdr->size > bytes.size() || hdr->size < sizeof(ct_event_header))
        return std::nullopt;
    T value{};
    std::memcpy(&value, bytes.data(), std::min<std::size_t>(hdr->size, sizeof(T)));
    return value;
}

// The header of an event, validated against its declared size.
inline std::optional<ct_event_header> read_header(std::span<const std::uint8_t> bytes) {
    auto hdr = read_struct<ct_event_header>(bytes);
    if (!hdr || hdr->size < min_event_size(hdr->type) || hdr->size > bytes.size()) {
        return std::nullopt;
    }
    return hdr;
}

// Bytes of an event worth storing: the fixed part plus its variable tail.
// Returns 0 if the event is malformed. `bytes` may be longer (ring slots are tiered).
inline std::size_t stored_length(std::span<const std::uint8_t> bytes) {
    auto hdr = read_header(bytes);
    if (!hdr)
        return 0;
    std::size_t tail = 0;
    if (hdr->type == CT_EVENT_DATA) {
        tail = read_struct<ct_data_event>(bytes)->data_len;
    } else if (hdr->type == CT_EVENT_EXEC) {
        tail = read_event<ct_exec_event>(bytes)->args_len;
    }
    if (tail > bytes.size() - hdr->size)
        return 0;
    return hdr->size + tail;
}

// The variable tail of an event (payload of DATA, argv of EXEC).
inline std::span<const std::uint8_t> tail(std::span<const std::uint8_t> bytes) {
    auto hdr = read_header(bytes);
    if (!hdr)
        return {};
    std::size_t len = stored_length(bytes);
    if (len < hdr->size)
        return {};
    return bytes.subspan(hdr->size, len - hdr->size);
}

// Whether a CT_CONN_HANDSHAKE_DONE's `ret` means the handshake succeeded: OpenSSL's
// handshake functions return 1, gnutls_handshake returns 0 (GNUTLS_E_SUCCESS).
constexpr bool handshake_succeeded(std::uint8_t func, std::int32_t ret) {
    return func == CT_FUNC_GNUTLS_HANDSHAKE ? ret == 0 : ret == 1;
}

// Whether a CT_CONN_OPEN by `func` saw the connection from its very start.
constexpr bool opens_from_start(std::uint8_t func) {
    return func == CT_FUNC_SSL_NEW || func == CT_FUNC_SSL_DO_HANDSHAKE ||
           func == CT_FUNC_GNUTLS_HANDSHAKE || func == CT_FUNC_GNUTLS_RECORD_SEND_EARLY_DATA;
}

inline std::string_view comm_view(const char (&comm)[CT_COMM_LEN]) {
    return {comm, strnlen(comm, CT_COMM_LEN)};
}

const char* event_type_name(std::uint16_t type);
const char* func_name(std::uint8_t func);
const char* loss_reason_name(std::uint32_t reason);
const char* conn_kind_name(std::uint8_t kind);
const char* tcp_origin_name(std::uint8_t origin);
const char* tcp_end_name(std::uint8_t end);

}  // namespace ct::abi
