#!/usr/bin/env bash
# Soak of `plugbox serve`: for DURATION (default 10m), one server on a
# loopback port is driven at once by
#   - normal clients (kept HTTP/1.1 connections, a connection per request,
#     a shared HTTP/2 connection) calling well-behaved plugins: every
#     answer must be exactly the expected status and body;
#   - hostile clients: unknown plugin names (4 KiB long, or made to inject
#     a line into /metrics), a 1 MiB argument array, JSON nested 100 000
#     deep, bodies over max-body, heads over max-header-size, 200 header
#     fields, 2000 trailer fields, garbage, over HTTP/1.1 and HTTP/2, and
#     slowloris clients trickling a head or a body a byte every 100 ms:
#     each must get its 4xx or be cut off;
#   - calls of misbehaving guests (an infinite loop, memory and table
#     bombs, deep recursion, traps, an output flood): each must be stopped
#     by its limit, with that limit's status and kind;
#   - reloads: plugin files replaced every 2 s, touched, and replaced by
#     versions start-up would refuse, which must be refused while the old
#     version serves on.
# It samples the server's RSS and the size of /metrics, and fails unless
# both are flat after warm-up (see SECURITY.md, "Soak of the server"), no
# normal request failed, every hostile and guest case got its answer, the
# server still runs and logged no panic, and it then stops cleanly on
# SIGTERM. The load client is crates/test-support/src/bin/soak-serve/.
#
#   scripts/soak-serve.sh [--debug] [DURATION]    e.g. scripts/soak-serve.sh 2m
#
# DURATION: seconds, or with s, m or h; at least 10s. The server is the
# release build (realistic RSS figures; about 10 minutes to build from
# scratch on two cores), or with --debug the debug build `cargo test`
# leaves (scripts/test.sh runs a 30-second smoke that way).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
if [ "${1:-}" = --debug ]; then
    profile=debug
    shift
fi
duration=${1:-10m}
if [[ ! "$duration" =~ ^([0-9]+)(s|m|h)?$ ]]; then
    echo "soak-serve.sh: invalid duration \`$duration\` (expected e.g. 30s, 10m, 1h)" >&2
    exit 2
fi
case "${BASH_REMATCH[2]}" in
    m) seconds=$((10#${BASH_REMATCH[1]} * 60)) ;;
    h) seconds=$((10#${BASH_REMATCH[1]} * 3600)) ;;
    *) seconds=$((10#${BASH_REMATCH[1]})) ;;
esac
if [ "$seconds" -lt 10 ]; then
    echo "soak-serve.sh: invalid duration \`$duration\`: at least 10s" >&2
    exit 2
fi

# The wasi:http guest (the same build as build-guests makes), the server
# and the load client.
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_RUSTFLAGS \
    cargo build --release --quiet --target wasm32-wasip2 \
    --manifest-path guests/rust/Cargo.toml --target-dir target/guests -p http-echo
if [ "$profile" = release ]; then
    cargo build --quiet --locked --release -p plugbox-cli
else
    cargo build --quiet --locked -p plugbox-cli
fi
plugbox=target/$profile/plugbox
cargo build --quiet --locked -p plugbox-test-support --bin soak-serve
client=target/debug/soak-serve

work=$(mktemp -d "${TMPDIR:-/tmp}/plugbox-soak-serve.XXXXXX")
server=""
cleanup() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        kill -KILL "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
# Stopped by a signal: exit, so that the EXIT trap runs.
trap 'exit 130' INT
trap 'exit 143' TERM

"$client" setup "$work"
# The compile cache of this run only; logs at plugbox's default level.
export PLUGBOX_CACHE_DIR="$work/cache"
unset PLUGBOX_LOG RUST_BACKTRACE
"$plugbox" serve --manifest "$work/plugbox.toml" --addr 127.0.0.1:0 \
    >"$work/stdout.log" 2>"$work/server.log" &
server=$!
addr=""
for _ in $(seq 600); do
    addr=$(sed -n 's|^Serving HTTP on http://\([^/]*\)/.*|\1|p' "$work/server.log" | head -1)
    [ -n "$addr" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$addr" ]; then
    echo "soak-serve.sh: plugbox serve did not start; its log:" >&2
    cat "$work/server.log" >&2
    exit 1
fi

verdict=0
"$client" run "$addr" "$server" "$work" "$seconds" "$work/server.log" || verdict=$?

# Graceful stop: SIGTERM, then exit 0 within its shutdown-timeout (30 s).
kill -TERM "$server" 2>/dev/null || true
code=""
for _ in $(seq 600); do
    if ! kill -0 "$server" 2>/dev/null; then
        code=0
        wait "$server" || code=$?
        break
    fi
    sleep 0.1
done
server_pid=$server
server=""
check() { printf 'check %-16s  %-4s  %s\n' shutdown "$1" "$2"; }
if [ "$code" = 0 ]; then
    check ok "exit 0 after SIGTERM"
elif [ -n "$code" ]; then
    check FAIL "exit $code after SIGTERM"
    verdict=1
else
    check FAIL "still running 60 s after SIGTERM"
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    verdict=1
fi
if [ "$verdict" != 0 ]; then
    echo "the end of the server's log:"
    tail -n 20 "$work/server.log" | cut -c1-300 | sed 's/^/  /'
    echo "soak-serve: FAIL"
    exit 1
fi
echo "soak-serve: ok"
