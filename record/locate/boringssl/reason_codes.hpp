// Public, ABI-stable BoringSSL error constants (include/openssl/err.h and ssl.h).
// OPENSSL_PUT_ERROR(SSL, reason) expands to
//   ERR_put_error(ERR_LIB_SSL, 0, reason, __FILE__, __LINE__)
// so every error site in ssl/ssl_lib.cc passes one of these as a literal.
#pragma once

#include <cstdint>

namespace ct::locate::boringssl {

inline constexpr uint32_t kErrLibSsl = 16;

// ssl_lib.cc uses each of these in the functions named beside it.
inline constexpr uint32_t kShouldNotHaveBeenCalled = 66;  // ERR_R_..., QUIC checks (several)
inline constexpr uint32_t kBadLength = 111;               // SSL_write only
inline constexpr uint32_t kConnectionTypeNotSet = 134;    // SSL_do_handshake only
inline constexpr uint32_t kNullSslCtx = 185;              // SSL_new only
inline constexpr uint32_t kSslHandshakeFailure = 215;     // SSL_write, ssl_read_impl
inline constexpr uint32_t kUninitialized = 226;  // SSL_write, ssl_read_impl, SSL_shutdown...
inline constexpr uint32_t kApplicationDataOnShutdown = 291;  // SSL_shutdown only

// ssl_do_info_callback(ssl, SSL_CB_CONNECT_EXIT or SSL_CB_ACCEPT_EXIT, ret) in
// SSL_do_handshake: corroborating evidence only.
inline constexpr uint32_t kCallbackConnectExit = 0x1002;
inline constexpr uint32_t kCallbackAcceptExit = 0x2002;

}  // namespace ct::locate::boringssl
