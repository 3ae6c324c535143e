#!/usr/bin/env bash
# Install every Debian 12 package that troika's build, tests, demo and benchmarks need.
#
#   deploy/install-deps.sh           install what is missing (idempotent, non-interactive)
#   deploy/install-deps.sh --check   list what is missing; exit 1 if anything is
#   deploy/install-deps.sh --list    print the package list, one per line
#
# Runs `apt-get update` at most once, and only when something is missing. Works as root or
# through sudo. The Makefile calls it: `make` checks, `make test` and `make demo` install.
set -euo pipefail

packages=(
    # build
    build-essential cmake pkg-config
    # libraries (each linked only by the modules that use it; see cmake/deps.cmake)
    libuv1-dev libnng-dev libraft-dev libmsgpack-dev librocksdb-dev libcurl4-openssl-dev
    libssl-dev libyaml-dev libjansson-dev
    # tests and CI (clang and its runtime for the libFuzzer targets)
    libcmocka-dev python3 clang-format clang libclang-rt-14-dev prometheus # promtool checks /metrics
    # the chaos harness's nemeses (chaos/, docs/chaos.md): partitions inside network namespaces,
    # libfiu's fiu-run and fiu-ctrl for RocksDB's fsync
    iproute2 iptables fiu-utils
    # RocksDB's ldb tool, used by the storage tamper tests to edit a store from outside
    rocksdb-tools
    # benchmark peers run by bench/actors/run (Erlang/OTP and CAF)
    erlang-base libcaf-dev etcd-server etcd-client # etcd 3.4 (server, etcdctl): bench/cluster/run
)

missing_packages() {
    local pkg status
    for pkg in "${packages[@]}"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
        [ "$status" = "installed" ] || echo "$pkg"
    done
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "install-deps: need root or sudo to run: $*" >&2
        exit 1
    fi
}

mode=${1:-install}
case "$mode" in
--list)
    printf '%s\n' "${packages[@]}"
    exit 0
    ;;
--check | install) ;;
*)
    echo "usage: $0 [--check | --list]" >&2
    exit 2
    ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps: this is not a Debian system; install the equivalents of:" >&2
    printf '  %s\n' "${packages[@]}" >&2
    exit 1
fi

mapfile -t missing < <(missing_packages)
if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi
if [ "$mode" = "--check" ]; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run deploy/install-deps.sh (or make test / make demo) to install them" >&2
    exit 1
fi

echo "install-deps: installing ${missing[*]}"
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
mapfile -t still < <(missing_packages)
if [ "${#still[@]}" -ne 0 ]; then
    echo "install-deps: still missing after install: ${still[*]}" >&2
    exit 1
fi
echo "install-deps: installed ${#missing[@]} packages"
