#!/usr/bin/env bash
# Installs what the test suite needs, then runs every test in the workspace.
# Safe to run on a fresh machine and again on a used one.
set -euo pipefail
cd "$(dirname "$0")/.."

# Rust guests (test plugins) are built from source for these targets.
rustup target add wasm32-wasip1 wasm32-wasip2 >/dev/null

# Debian packages: clang and lld build the C guest (guests/c) and the C
# templates (with wasi-libc and compiler-rt for wasm32); node, python3 and
# make build and test the other templates; redis-server is the Redis the
# tests of the Redis backend start (each its own, on a free loopback port,
# stopped when it ends; the package's own service is not used).
need=()
command -v clang-19 >/dev/null 2>&1 || need+=(clang-19)
command -v wasm-ld-19 >/dev/null 2>&1 || need+=(lld-19)
[ -f /usr/lib/wasm32-wasi/libc.a ] || need+=(wasi-libc)
[ -f /usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a ] || need+=(libclang-rt-19-dev-wasm32)
command -v make >/dev/null 2>&1 || need+=(make)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3 python3-venv)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    # Where the package started its own service (port 6379), stop it: the
    # tests start theirs.
    if [[ " ${need[*]} " == *" redis-server "* ]] && [ -x /etc/init.d/redis-server ]; then
        $sudo /etc/init.d/redis-server stop >/dev/null 2>&1 || true
    fi
fi

# The template toolchains (crates/plugbox-cli/tests/cli/new.rs), at the
# versions the templates pin, in a cache outside the work tree so a fresh
# clone reuses them. Each step is skipped when its version is there.
scripts/toolchains.sh

# Every test guest is built once, before the test binaries run.
cargo run --quiet --locked -p plugbox-test-support --bin build-guests

# The Redis backend's tests run against a real redis-server: this one, on a
# free loopback port, for the whole run (each test takes a database of its
# own; crates/test-support/src/redis.rs), and servers of their own for the
# tests that stop, restart or freeze one, which leave their pids in
# $PLUGBOX_TEST_REDIS_PIDS while they run. Whatever the tests do — pass,
# fail, crash — every one of them is stopped when this script ends.
redis_run=$(mktemp -d "${TMPDIR:-/tmp}/plugbox-test-redis.XXXXXX")
# Kills the redis-server whose pid is in file $1, if that pid is still one.
stop_redis_pid() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q redis-server; then
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}
stop_redis() {
    local file
    for file in "$redis_run"/*.pid; do
        [ -f "$file" ] && stop_redis_pid "$file"
    done
    rm -rf "$redis_run"
}
trap stop_redis EXIT
# redis-cli comes with redis-server (Debian's redis-tools).
redis_server=$(command -v redis-server || echo /usr/bin/redis-server)
redis_cli=$(command -v redis-cli || echo /usr/bin/redis-cli)
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=""
for _ in 1 2 3; do
    try=$(free_port)
    "$redis_server" --port "$try" --bind 127.0.0.1 --save "" --appendonly no \
        --databases 1024 --dir "$redis_run" --daemonize yes \
        --pidfile "$redis_run/shared.pid" --logfile "$redis_run/shared.log"
    for _ in $(seq 100); do
        if [ "$("$redis_cli" -p "$try" ping 2>/dev/null)" = PONG ]; then port=$try; break 2; fi
        sleep 0.1
    done
    # Not answering (the port was taken meanwhile): stop it, try another.
    stop_redis_pid "$redis_run/shared.pid"
done
if [ -z "$port" ]; then
    echo "scripts/test.sh: redis-server did not start; its log:" >&2
    cat "$redis_run/shared.log" >&2 || true
    exit 1
fi
export PLUGBOX_TEST_REDIS="redis://127.0.0.1:$port"
export PLUGBOX_TEST_REDIS_PIDS="$redis_run"

cargo test --workspace --locked

# A short soak: mixed good and hostile calls from two threads with reloads
# (scripts/soak.sh runs the full ten minutes).
cargo run --quiet --locked -p plugbox --example soak -- 20s

# A short soak of `plugbox serve`: normal and hostile clients, misbehaving
# guests and reloads at once, with the debug build the tests used
# (scripts/soak-serve.sh runs the release build for ten minutes).
scripts/soak-serve.sh --debug 30s
