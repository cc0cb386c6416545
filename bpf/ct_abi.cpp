#include "ct_abi.hpp"

namespace ct::abi {

const char* event_type_name(std::uint16_t type) {
    switch (type) {
        case CT_EVENT_DATA:
            return "data";
        case CT_EVENT_LOSS:
            return "loss";
        case CT_EVENT_CONN:
            return "conn";
        case CT_EVENT_SOCKET:
            return "socket";
        case CT_EVENT_FORK:
            return "fork";
        case CT_EVENT_EXEC:
            return "exec";
        case CT_EVENT_EXIT:
            return "exit";
        case CT_EVENT_MMAP_EXEC:
            return "mmap-exec";
        case CT_EVENT_TCP:
            return "tcp";
        default:
            return "unknown";
    }
}

const char* func_name(std::uint8_t func) {
    switch (func) {
        case CT_FUNC_SSL_WRITE:
            return "SSL_write";
        case CT_FUNC_SSL_WRITE_EX:
            return "SSL_write_ex";
        case CT_FUNC_SSL_READ:
            return "SSL_read";
        case CT_FUNC_SSL_READ_EX:
            return "SSL_read_ex";
        case CT_FUNC_SSL_DO_HANDSHAKE:
            return "SSL_do_handshake";
        case CT_FUNC_SSL_CONNECT:
            return "SSL_connect";
        case CT_FUNC_SSL_ACCEPT:
            return "SSL_accept";
        case CT_FUNC_SSL_NEW:
            return "SSL_new";
        case CT_FUNC_SSL_FREE:
            return "SSL_free";
        case CT_FUNC_SSL_CLEAR:
            return "SSL_clear";
        case CT_FUNC_SYSCALL:
            return "syscall";
        case CT_FUNC_GNUTLS_RECORD_SEND:
            return "gnutls_record_send";
        case CT_FUNC_GNUTLS_RECORD_SEND2:
            return "gnutls_record_send2";
        case CT_FUNC_GNUTLS_RECORD_SEND_RANGE:
            return "gnutls_record_send_range";
        case CT_FUNC_GNUTLS_RECORD_SEND_EARLY_DATA:
            return "gnutls_record_send_early_data";
        case CT_FUNC_GNUTLS_RECORD_RECV:
            return "gnutls_record_recv";
        case CT_FUNC_GNUTLS_RECORD_RECV_SEQ:
            return "gnutls_record_recv_seq";
        case CT_FUNC_GNUTLS_RECORD_RECV_EARLY_DATA:
            return "gnutls_record_recv_early_data";
        case CT_FUNC_GNUTLS_HANDSHAKE:
            return "gnutls_handshake";
        case CT_FUNC_GNUTLS_DEINIT:
            return "gnutls_deinit";
        case CT_FUNC_GO_CONN_WRITE:
            return "crypto/tls.(*Conn).Write";
        case CT_FUNC_GO_CONN_READ:
            return "crypto/tls.(*Conn).Read";
        case CT_FUNC_GO_CONN_CLOSE:
            return "crypto/tls.(*Conn).Close";
        case CT_FUNC_CONTINUED:
            return "continued";
        default:
            return "unknown";
    }
}

const char* loss_reason_name(std::uint32_t reason) {
    switch (reason) {
        case CT_LOSS_RING_FULL:
            return "ring-full";
        case CT_LOSS_READ_FAULT:
            return "read-fault";
        case CT_LOSS_TRUNCATED:
            return "truncated";
        default:
            return "unknown";
    }
}

const char* conn_kind_name(std::uint8_t kind) {
    switch (kind) {
        case CT_CONN_OPEN:
            return "open";
        case CT_CONN_CLOSE:
            return "close";
        case CT_CONN_HANDSHAKE_START:
            return "handshake-start";
        case CT_CONN_HANDSHAKE_DONE:
            return "handshake-done";
        default:
            return "unknown";
    }
}

const char* tcp_origin_name(std::uint8_t origin) {
    switch (origin) {
        case CT_TCP_FROM_CONNECT:
            return "connect";
        case CT_TCP_FROM_ACCEPT:
            return "accept";
        case CT_TCP_FROM_PROC:
            return "already-open";
        default:
            return "unknown";
    }
}

const char* tcp_end_name(std::uint8_t end) {
    switch (end) {
        case CT_TCP_END_CLOSE:
            return "close";
        case CT_TCP_END_EXIT:
            return "exit";
        case CT_TCP_END_EXEC:
            return "exec";
        case CT_TCP_END_REPLACED:
            return "replaced";
        case CT_TCP_END_RECORDING:
            return "open-at-end";
        default:
            return "unknown";
    }
}

}  // namespace ct::abi
