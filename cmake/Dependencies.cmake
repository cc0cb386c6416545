# Every dependency comes from a Debian 12 package (see README and .ci/run).
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBBPF REQUIRED IMPORTED_TARGET libbpf>=1.1)
pkg_check_modules(LIBELF REQUIRED IMPORTED_TARGET libelf)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(CAPSTONE REQUIRED IMPORTED_TARGET capstone)
pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)
pkg_check_modules(BROTLIDEC REQUIRED IMPORTED_TARGET libbrotlidec)
pkg_check_modules(NGHTTP2 REQUIRED IMPORTED_TARGET libnghttp2)
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
find_package(CLI11 REQUIRED)
find_package(fmt REQUIRED)
find_package(Threads REQUIRED)
if(CT_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

# ---- ct-analyze (replay/analyze) ----------------------------------------------------------------
# JSON of the LLM APIs, and HMAC-SHA256 for secret fingerprints.
# Debian packages: nlohmann-json3-dev, libssl-dev.
find_package(nlohmann_json 3.10 REQUIRED)
find_package(OpenSSL 3 REQUIRED COMPONENTS Crypto)
