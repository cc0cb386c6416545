#!/usr/bin/env bash
# Downloads native Claude Code builds (npm package @anthropic-ai/claude-code-linux-x64)
# into a cache outside the repository, for the locator tests.
#
#   fetch_claude_builds.sh [--latest] [VERSION...]
#
# Cache layout: ${CT_TEST_CACHE:-/var/cache/ct-test}/claude-code-linux-x64/VERSION/claude
# A build already in the cache is not downloaded again. --latest also fetches the
# newest published version and records it in the cache root's "latest-version" file.
#
# Exit status: 0 when every requested build is in the cache; 3 when the npm registry
# cannot be reached (the file "registry-unreachable" is then left in the cache root so
# that the tests can skip with a clear message); 1 on any other failure.
set -euo pipefail

readonly package="@anthropic-ai/claude-code-linux-x64"
readonly cache_root="${CT_TEST_CACHE:-/var/cache/ct-test}/claude-code-linux-x64"
readonly unreachable_marker="${cache_root}/registry-unreachable"

want_latest=0
if [[ "${1:-}" == "--latest" ]]; then
    want_latest=1
    shift
fi
if [[ $# -eq 0 && ${want_latest} -eq 0 ]]; then
    echo "usage: $0 [--latest] VERSION..." >&2
    exit 1
fi

mkdir -p "${cache_root}"

registry_reachable() {
    # "npm view" of a single field is the cheapest registry round trip.
    timeout 60 npm view --fetch-retries=1 --fetch-timeout=20000 "${package}@$1" version >/dev/null 2>&1
}

fetch_one() {
    local version="$1"
    local dest="${cache_root}/${version}"
    if [[ -s "${dest}/claude" && -f "${dest}/.complete" ]]; then
        return 0
    fi
    local work
    work="$(mktemp -d "${cache_root}/.fetch-${version}.XXXXXX")"
    # npm pack checks the tarball against the registry's integrity hash.
    if ! (cd "${work}" && timeout 900 npm pack --silent "${package}@${version}" >/dev/null); then
        rm -rf "${work}"
        echo "npm pack ${package}@${version} failed" >&2
        return 1
    fi
    tar -xzf "${work}"/*.tgz -C "${work}" package/claude package/package.json
    rm -rf "${dest}"
    mkdir -p "${dest}"
    mv "${work}/package/claude" "${work}/package/package.json" "${dest}/"
    rm -rf "${work}"
    touch "${dest}/.complete"
    echo "fetched ${package}@${version} -> ${dest}/claude"
}

versions=("$@")
if [[ ${want_latest} -eq 1 ]]; then
    if latest="$(timeout 60 npm view --fetch-retries=1 --fetch-timeout=20000 "${package}" version 2>/dev/null)" && [[ -n "${latest}" ]]; then
        echo "${latest}" >"${cache_root}/latest-version"
        versions+=("${latest}")
    elif [[ ! -f "${cache_root}/latest-version" ]]; then
        echo "npm registry unreachable: cannot resolve the latest version" >"${unreachable_marker}"
        cat "${unreachable_marker}" >&2
        exit 3
    else
        versions+=("$(cat "${cache_root}/latest-version")")
    fi
fi

missing=()
for v in "${versions[@]}"; do
    if [[ ! -s "${cache_root}/${v}/claude" || ! -f "${cache_root}/${v}/.complete" ]]; then
        missing+=("$v")
    fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
    rm -f "${unreachable_marker}"
    exit 0
fi

if ! registry_reachable "${missing[0]}"; then
    echo "npm registry unreachable: cannot fetch ${missing[*]}" >"${unreachable_marker}"
    cat "${unreachable_marker}" >&2
    exit 3
fi
rm -f "${unreachable_marker}"

status=0
for v in "${missing[@]}"; do
    fetch_one "$v" || status=1
done
exit "${status}"
