#!/usr/bin/env bash
# Measures the language matrix of `plugbox new` (README.md, `plugbox new
# --list`): builds each language's plugin template with its own build
# command and prints, as a Markdown table:
#
#   size      the built component (KiB, MiB)
#   call      a cold `plugbox call --no-cache <plugin> handle '"world"'`: process start,
#             read, validate, compile (Cranelift), instantiate, one call
#   cwasm     the same from a precompiled `.cwasm` (`plugbox compile`, then
#             `plugbox call --allow-precompiled`): process start, load,
#             instantiate, one call; no compilation
#   instantiate + call
#             `plugbox bench` (stateless mode): the median of ITERATIONS
#             (default 200) fresh instantiations of the compiled plugin,
#             each with one `handle` call, inside one process
#
# Process times are hyperfine's mean ± σ over RUNS runs (default 10) of a
# release build, after one warm-up run (the file is in the page cache;
# nothing else is warm: each run is a new process).
# Usage: scripts/lang-matrix.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-10}
iterations=${ITERATIONS:-200}

if ! command -v hyperfine >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends hyperfine >/dev/null
fi
scripts/toolchains.sh >&2
toolchains="${PLUGBOX_TOOLCHAINS:-${XDG_CACHE_HOME:-$HOME/.cache}/plugbox/toolchains}"
export PATH="$toolchains/bin:$toolchains/python/bin:$PATH"

cargo build --release --locked -p plugbox-cli >&2
plugbox="$(realpath "${CARGO_TARGET_DIR:-target}")/release/plugbox"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# build LANG: generates the template into $work/LANG and builds it with its
# own build command; prints the component's path.
build() {
    local lang=$1 dir="$work/$1"
    "$plugbox" new "m-$lang" --lang "$lang" --dir "$dir" >&2
    (
        cd "$dir"
        unset CARGO_TARGET_DIR
        case $lang in
        rust) cargo build --quiet --release --target wasm32-wasip2 ;;
        c) make --quiet >/dev/null ;;
        js) ln -s "$toolchains/node/node_modules" node_modules && npm run --silent build >/dev/null ;;
        python) ./build.sh >/dev/null ;;
        esac
    ) >&2
    case $lang in
    rust) echo "$dir/target/wasm32-wasip2/release/m_rust.wasm" ;;
    *) echo "$dir/m-$lang.wasm" ;;
    esac
}

# mean ± σ in ms of a command, by hyperfine.
timed() {
    local json="$work/time.json"
    hyperfine --style none --warmup 1 --runs "$runs" --export-json "$json" "$1" >&2
    python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print("%.0f ± %.0f ms" % (r["mean"] * 1000, r["stddev"] * 1000))' "$json"
}

# The median of `plugbox bench` stateless calls (instantiate + call), in
# µs or ms.
bench() {
    "$plugbox" bench --no-cache --json --iterations "$iterations" "$1" handle '"world"' |
        python3 -c 'import json, sys
ns = json.load(sys.stdin)["plugbox"]["median_ns"]
print("%.0f µs" % (ns / 1e3) if ns < 1e6 else "%.1f ms" % (ns / 1e6))'
}

echo "| language | plugin size | cold \`plugbox call\` (compile + instantiate + call) | cold \`plugbox call\` of the \`.cwasm\` (instantiate + call) | \`plugbox bench\` instantiate + call (median) |"
echo "| --- | --- | --- | --- | --- |"
for lang in rust c js python; do
    wasm=$(build "$lang")
    out=$("$plugbox" call "$wasm" handle '"world"')
    if [ "$out" != '{"ok":"hello, world"}' ]; then
        echo "lang-matrix.sh: $lang plugin answered $out" >&2
        exit 1
    fi
    "$plugbox" compile "$wasm" -o "$wasm.cwasm" >&2
    size=$(numfmt --to=iec-i --suffix=B --format=%.1f "$(stat -c %s "$wasm")" | sed 's/\([0-9]\)\([KMG]\)/\1 \2/')
    call=$(timed "$plugbox call --no-cache $wasm handle '\"world\"'")
    cwasm=$(timed "$plugbox call --allow-precompiled $wasm.cwasm handle '\"world\"'")
    inst=$(bench "$wasm")
    echo "| $lang | $size | $call | $cwasm | $inst |"
done
