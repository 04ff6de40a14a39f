#!/usr/bin/env bash
# Installs what the test suite needs, then runs every test in the workspace.
# Safe to run on a fresh machine and again on a used one.
set -euo pipefail
cd "$(dirname "$0")/.."

# Rust guests (test plugins) are built from source for these targets.
rustup target add wasm32-wasip1 wasm32-wasip2 >/dev/null

# Debian packages: clang and lld build the C guest (guests/c) and the C
# templates (with wasi-libc and compiler-rt for wasm32); node, python3 and
# make build and test the other templates.
need=()
command -v clang-19 >/dev/null 2>&1 || need+=(clang-19)
command -v wasm-ld-19 >/dev/null 2>&1 || need+=(lld-19)
[ -f /usr/lib/wasm32-wasi/libc.a ] || need+=(wasi-libc)
[ -f /usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a ] || need+=(libclang-rt-19-dev-wasm32)
command -v make >/dev/null 2>&1 || need+=(make)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3 python3-venv)
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The template toolchains (crates/plugbox-cli/tests/cli/new.rs), at the
# versions the templates pin, in a cache outside the work tree so a fresh
# clone reuses them. Each step is skipped when its version is there.
scripts/toolchains.sh

# Every test guest is built once, before the test binaries run.
cargo run --quiet --locked -p plugbox-test-support --bin build-guests

cargo test --workspace --locked

# A short soak: mixed good and hostile calls from two threads with reloads
# (scripts/soak.sh runs the full ten minutes).
cargo run --quiet --locked -p plugbox --example soak -- 20s
