#!/usr/bin/env bash
# Installs what the test suite needs, then runs every test in the workspace.
# Safe to run on a fresh machine and again on a used one.
set -euo pipefail
cd "$(dirname "$0")/.."

# Rust guests (test plugins) are built from source for these targets.
rustup target add wasm32-wasip1 wasm32-wasip2 >/dev/null

# The C guest (guests/c) is built with clang for wasm32 and linked by lld.
if ! command -v clang-19 >/dev/null 2>&1 || ! command -v wasm-ld-19 >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends clang-19 lld-19 >/dev/null
fi

# Every test guest is built once, before the test binaries run.
cargo run --quiet --locked -p plugbox-test-support --bin build-guests

cargo test --workspace --locked
