#include "secrets.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>

#include "protocols/http1/types.hpp"
#include "util/unique_fd.hpp"

namespace ct::analyze {
namespace {

constexpr std::size_t kKeySize = 32;

Expected<std::string> read_key(int fd, const std::string& path) {
    std::string key(kKeySize, '\0');
    std::size_t got = 0;
    while (got < kKeySize) {
        ssize_t n = ::read(fd, key.data() + got, kKeySize - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail_errno("cannot read " + path);
        if (n == 0)
            return fail(path + " is too short to be a ct key file");
        got += static_cast<std::size_t>(n);
    }
    return key;
}

}  // namespace

std::string SecretFingerprinter::key_path_for(const std::string& database_path) {
    return database_path + ".key";
}

Expected<SecretFingerprinter> SecretFingerprinter::for_database(const std::string& database_path) {
    if (database_path.empty() || database_path == ":memory:") {
        std::string key(kKeySize, '\0');
        if (getrandom(key.data(), key.size(), 0) != static_cast<ssize_t>(key.size())) {
            return fail_errno("getrandom");
        }
        return SecretFingerprinter(std::move(key));
    }
    const std::string path = key_path_for(database_path);
    // Create it exclusively, so two importers racing agree on one key.
    UniqueFd created(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (created) {
        std::string key(kKeySize, '\0');
        if (getrandom(key.data(), key.size(), 0) != static_cast<ssize_t>(key.size())) {
            return fail_errno("getrandom");
        }
        if (::write(created.get(), key.data(), key.size()) != static_cast<ssize_t>(key.size()) ||
            ::fsync(created.get()) != 0) {
            int e = errno;
            ::unlink(path.c_str());
            return fail("cannot write " + path, e);
        }
        return SecretFingerprinter(std::move(key));
    }
    if (errno != EEXIST)
        return fail_errno("cannot create " + path);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        return fail_errno("cannot open " + path);
    struct stat st {};
    if (::fstat(fd.get(), &st) == 0 && (st.st_mode & 077) != 0) {
        ::fchmod(fd.get(), 0600);  // keep the key private even if someone loosened it
    }
    // A key being written by a concurrent importer may still be short: retry briefly.
    for (int attempt = 0;; ++attempt) {
        ::lseek(fd.get(), 0, SEEK_SET);
        auto key = read_key(fd.get(), path);
        if (key)
            return SecretFingerprinter(std::move(*key));
        if (attempt == 20)
            return std::unexpected(key.error());
        ::usleep(50000);
    }
}

bool SecretFingerprinter::is_secret_header(std::string_view name) {
    if (!name.empty() && name.front() == ':')
        return false;  // HTTP/2 pseudo-headers (":authority")
    std::string lower = http1::to_lower(name);
    static constexpr std::array<std::string_view, 11> exact = {
        "authorization", "proxy-authorization", "x-api-key",
        "api-key",       "x-goog-api-key",      "cookie",
        "set-cookie",    "x-auth-token",        "x-amz-security-token",
        "x-csrf-token",  "x-xsrf-token"};
    for (auto e : exact) {
        if (lower == e)
            return true;
    }
    for (std::string_view part : {"token", "secret", "password", "api-key", "apikey", "auth"}) {
        if (lower.find(part) != std::string::npos)
            return true;
    }
    return false;
}

bool SecretFingerprinter::is_secret_query_param(std::string_view name) {
    std::string lower = http1::to_lower(name);
    if (lower.ends_with("[]"))
        lower.resize(lower.size() - 2);
    static constexpr std::array<std::string_view, 8> exact = {"key",  "sig", "auth",    "pwd",
                                                              "pass", "jwt", "session", "sid"};
    for (auto e : exact) {
        if (lower == e)
            return true;
    }
    static constexpr std::array<std::string_view, 11> parts = {
        "token",   "secret",    "password",   "passwd", "apikey", "api_key",
        "api-key", "signature", "credential", "_key",   "-key"};
    for (auto part : parts) {
        if (lower.find(part) != std::string::npos)
            return true;
    }
    return false;
}

bool SecretFingerprinter::is_url_header(std::string_view name) {
    for (std::string_view h : {":path", "location", "content-location", "referer", "origin"}) {
        if (http1::iequals(name, h))
            return true;
    }
    return false;
}

std::string SecretFingerprinter::redact_query(
    std::string_view url, const std::function<std::string(std::string_view)>& replace) {
    std::size_t q = url.find('?');
    if (q == std::string_view::npos)
        return std::string(url);
    std::size_t end = url.find('#', q);
    if (end == std::string_view::npos)
        end = url.size();
    std::string out(url.substr(0, q + 1));
    std::string_view query = url.substr(q + 1, end - q - 1);
    while (true) {
        std::size_t amp = query.find('&');
        std::string_view param = query.substr(0, amp);
        std::size_t eq = param.find('=');
        if (eq != std::string_view::npos && eq + 1 < param.size() &&
            is_secret_query_param(param.substr(0, eq))) {
            out.append(param.substr(0, eq + 1));
            out += replace(param.substr(eq + 1));
        } else {
            out.append(param);
        }
        if (amp == std::string_view::npos)
            break;
        out += '&';
        query.remove_prefix(amp + 1);
    }
    out.append(url.substr(end));
    return out;
}

std::string SecretFingerprinter::fingerprint(std::string_view secret) const {
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int len = 0;
    HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
         reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), mac.data(), &len);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "ct-hmac:";
    for (unsigned int i = 0; i < 16 && i < len; ++i) {
        out += hex[mac[i] >> 4];
        out += hex[mac[i] & 15];
    }
    return out;
}

std::string SecretFingerprinter::redact(std::string_view name, std::string_view value) const {
    if (http1::iequals(name, "Authorization") || http1::iequals(name, "Proxy-Authorization")) {
        std::size_t space = value.find(' ');
        if (space != std::string_view::npos) {
            return std::string(value.substr(0, space)) + " " +
                   fingerprint(http1::trim_ows(value.substr(space + 1)));
        }
        return fingerprint(value);
    }
    if (http1::iequals(name, "Cookie") || http1::iequals(name, "Set-Cookie")) {
        // Cookie: every pair; Set-Cookie: only the first pair, attributes follow.
        const bool all = http1::iequals(name, "Cookie");
        std::string out;
        bool first = true;
        while (true) {
            std::size_t semi = value.find(';');
            std::string_view item = http1::trim_ows(value.substr(0, semi));
            if (!first)
                out += "; ";
            if (first || all) {
                std::size_t eq = item.find('=');
                if (eq == std::string_view::npos) {
                    out += fingerprint(item);
                } else {
                    out.append(item.substr(0, eq + 1));
                    out += fingerprint(item.substr(eq + 1));
                }
            } else {
                out.append(item);
            }
            first = false;
            if (semi == std::string_view::npos)
                break;
            value.remove_prefix(semi + 1);
        }
        return out;
    }
    return fingerprint(value);
}

}  // namespace ct::analyze
