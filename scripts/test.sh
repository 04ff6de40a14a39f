#!/usr/bin/env bash
# Installs what the test suite needs, then runs every test in the workspace.
# Safe to run on a fresh machine and again on a used one.
set -euo pipefail
cd "$(dirname "$0")/.."

# Rust guests (test plugins) are built from source for these targets.
rustup target add wasm32-wasip1 wasm32-wasip2 >/dev/null

cargo test --workspace --locked
