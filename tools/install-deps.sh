#!/usr/bin/env bash
# Installs everything ct needs to build and test on Debian 12 (bookworm).
# Usage: sudo tools/install-deps.sh
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
    echo "install-deps: run as root (sudo tools/install-deps.sh)" >&2
    exit 1
fi
packages=(
    # build
    build-essential cmake ninja-build pkg-config git
    # BPF: clang for the BPF target, libbpf, bpftool for skeletons and vmlinux.h
    clang llvm libbpf-dev bpftool libelf-dev
    # libraries
    libzstd-dev libxxhash-dev libsqlite3-dev libcli11-dev libfmt-dev libcapstone-dev zlib1g-dev
    libbrotli-dev libnghttp2-dev nlohmann-json3-dev libssl-dev libpq-dev
    # tests; clang 16 with libFuzzer for the fuzz targets (tools/fuzz.sh)
    libgtest-dev libgmock-dev clang-16 libclang-rt-16-dev
    # runtime tools the tests and demo use: real TLS clients and servers, zstd, sqlite3
    zstd sqlite3 curl openssl python3 python3-venv ca-certificates util-linux procps
    # GnuTLS clients (tests/record_e2e/test_gnutls.py): wget, git over HTTPS (git-remote-https
    # links libcurl-gnutls), libcurl-gnutls itself, libgnutls30 (GnuTLS called through ctypes)
    wget git libcurl3-gnutls libgnutls30
    # Go crypto/tls clients built by the tests (test_go.py, test_unseen.py, record-bench)
    golang-1.19-go
    # the rustls test client (tests/rustls), built offline from Debian's crates by cargo
    librust-rustls-dev
    # the HTML report test: headless Chromium driven over the DevTools protocol
    chromium python3-websocket
    # ct-analyze --db postgresql://: the tests start a throw-away PostgreSQL 15 cluster
    postgresql-15 postgresql-client-15
)
# /usr/bin/node may come from elsewhere (NodeSource); install Debian's only if absent.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
# cargo may come from rustup; install Debian's only if absent.
command -v cargo >/dev/null 2>&1 || packages+=(cargo)
export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    apt-get update -q || echo "install-deps: apt-get update failed; trying with the current lists" >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "install-deps: everything is installed"
fi
