// Secret header values (Authorization, x-api-key, Cookie, ...) and secret URL
// query parameters (?key=, api_key=, access_token=, ...) are stored as a keyed
// fingerprint, HMAC-SHA256 under a per-database key: equal secrets get
// equal fingerprints, so they stay correlatable, but cannot be read back.
#pragma once

#include <functional>
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
    // A URL query parameter that carries a credential: key, api_key, access_token,
    // token, client_secret, password, sig, X-Amz-Signature, ... (case-insensitive).
    static bool is_secret_query_param(std::string_view name);
    // Headers whose value is a URL, whose query may carry secret parameters.
    static bool is_url_header(std::string_view name);
    // `url` (a request target or a full URL) with the value of every secret query
    // parameter replaced by replace(value); all other bytes unchanged.
    static std::string redact_query(std::string_view url,
                                    const std::function<std::string(std::string_view)>& replace);

    // "ct-hmac:" + 32 hex digits (the first 128 bits of the HMAC).
    std::string fingerprint(std::string_view secret) const;
    // The header value with its secret parts fingerprinted (an Authorization
    // scheme and cookie names stay readable).
    std::string redact(std::string_view name, std::string_view value) const;
    // redact_query() with keyed fingerprints.
    std::string redact_url(std::string_view url) const {
        return redact_query(url, [this](std::string_view v) { return fingerprint(v); });
    }

  private:
    explicit SecretFingerprinter(std::string key) : key_(std::move(key)) {}
    std::string key_;
};

}  // namespace ct::analyze
