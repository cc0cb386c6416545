// Recoverable errors travel as std::expected<T, Error>; exceptions only end
// the program from main().
#pragma once

#include <cerrno>
#include <cstring>
#include <expected>
#include <string>
#include <utility>

namespace ct {

struct Error {
    std::string message;
    int errno_value = 0;  // the errno that caused it, 0 if none

    // Appends ": strerror(errno)" when an errno is attached.
    std::string what() const {
        if (errno_value == 0)
            return message;
        return message + ": " + std::strerror(errno_value);
    }
};

template <typename T>
using Expected = std::expected<T, Error>;

inline std::unexpected<Error> fail(std::string message, int errno_value = 0) {
    return std::unexpected<Error>(Error{std::move(message), errno_value});
}

// fail() with the current errno.
inline std::unexpected<Error> fail_errno(std::string message) {
    return fail(std::move(message), errno);
}

}  // namespace ct

// Inside a function returning Expected<...>: returns the error of `expr` (an
// Expected) if it holds one, and goes on otherwise.
#define CT_TRY(expr)                                       \
    do {                                                   \
        if (auto ct_try_result = (expr); !ct_try_result) { \
            return std::unexpected(ct_try_result.error()); \
        }                                                  \
    } while (false)
