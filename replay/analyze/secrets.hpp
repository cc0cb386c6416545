// Secret header values (Authorization, x-api-key, Cookie, ...) are stored as a
// keyed fingerprint, HMAC-SHA256 under a per-database key: equal secrets get
// equal fingerprints, so they stay correlatable, but cannot be read back.
#pragma once

#include <string>
#include <string_view>

#include "util/error.hpp"

namespace ct::analyze {

class SecretFingerprinter {
  public:
    // The key lives beside the database (`<db>.key`, mode 0600), created on first use.
    static Expected<SecretFingerprinter> for_database(const std::string& database_path);
    static SecretFingerprinter with_key(std::string key) {
        return SecretFingerprinter(std::move(key));
    }

    static std::string key_path_for(const std::string& database_path);
    static bool is_secret_header(std::string_view name);

    // "ct-hmac:" + 32 hex digits (the first 128 bits of the HMAC).
    std::string fingerprint(std::string_view secret) const;
    // The header value with its secret parts fingerprinted (an Authorization
    // scheme and cookie names stay readable).
    std::string redact(std::string_view name, std::string_view value) const;

  private:
    explicit SecretFingerprinter(std::string key) : key_(std::move(key)) {}
    std::string key_;
};

}  // namespace ct::analyze
