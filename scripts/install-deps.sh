#!/bin/sh
# Installs what a fresh Debian 12 machine lacks to build and test jwtguard.
# Run as root. Safe to run again: installed packages are skipped.
set -eu

packages="nginx nginx-dev libnginx-mod-http-lua luajit2 libluajit2-5.1-dev
    build-essential pkg-config valgrind wrk curl ca-certificates python3"

missing=""
for package in $packages; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $package"
    fi
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is missing: install a Rust toolchain (rustup, 1.88 or newer)" >&2
    exit 1
fi
# clippy and rustfmt come with the toolchain here; add them only if missing.
if ! cargo clippy --version >/dev/null 2>&1 || ! cargo fmt --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy
fi
