// Where the cache lives by default.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <optional>
#include <string>

#include "locate/tls_locator.hpp"

namespace ct::locate {
namespace {

// Sets an environment variable for the scope; restores it after.
class ScopedEnv {
  public:
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (const char* old = ::getenv(name))
            old_ = old;
        value ? ::setenv(name, value, 1) : ::unsetenv(name);
    }
    ~ScopedEnv() { old_ ? ::setenv(name_, old_->c_str(), 1) : ::unsetenv(name_); }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

  private:
    const char* name_;
    std::optional<std::string> old_;
};

TEST(DefaultCacheDir, CtCacheDirWins) {
    ScopedEnv ct("CT_CACHE_DIR", "/tmp/ct-cache");
    ScopedEnv xdg("XDG_CACHE_HOME", "/tmp/xdg");
    EXPECT_EQ(default_cache_dir(), "/tmp/ct-cache");
}

TEST(DefaultCacheDir, ThenXdgCacheHome) {
    ScopedEnv ct("CT_CACHE_DIR", nullptr);
    ScopedEnv xdg("XDG_CACHE_HOME", "/tmp/xdg");
    EXPECT_EQ(default_cache_dir(), "/tmp/xdg/ct/locator");
}

TEST(DefaultCacheDir, ThenHome) {
    ScopedEnv ct("CT_CACHE_DIR", nullptr);
    ScopedEnv xdg("XDG_CACHE_HOME", "");
    ScopedEnv home("HOME", "/home/someone");
    EXPECT_EQ(default_cache_dir(), "/home/someone/.cache/ct/locator");
}

}  // namespace
}  // namespace ct::locate
