#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 600),
# two at a time, niced, then prints one summary line per target: run time,
# executions, corpus (inputs/size), coverage (cov/ft), all from libFuzzer's
# last lines, peak RSS and findings. Not part of CI (scripts/test.sh runs the same code
# as a bounded property test instead); see fuzz/README.md and SECURITY.md.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 60 load wit
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); works on the
# stable toolchain without a sanitizer (-s none). Logs go to fuzz/logs/,
# crashes to fuzz/artifacts/<target>/, the corpus to fuzz/corpus/<target>/.
# JOBS (default 2) sets how many targets run at once; RSS_LIMIT_MB
# (default 2048) and TIMEOUT (default 10, seconds per input) are passed to
# libFuzzer. SAVE_INPUT=1 makes each target keep its last input in
# fuzz/logs/<target>.last-input, the reproducer of a crash libFuzzer
# cannot save (a stack overflow in native code).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(load call wit manifest api_args settings)
fi
jobs="${JOBS:-2}"
rss_limit="${RSS_LIMIT_MB:-2048}"
timeout="${TIMEOUT:-10}"
case "$seconds" in
'' | *[!0-9]* | 0)
    # (libFuzzer reads 0 as "no time limit".)
    echo "fuzz.sh: SECONDS must be a whole number above 0, not \`$seconds\`" >&2
    exit 2
    ;;
esac
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz is not installed: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

# The `types` component (call target) and the seed corpora.
cargo run --quiet --locked -p plugbox-test-support --bin build-guests
cargo run --quiet --locked -p plugbox-test-support --bin fuzz-seeds >/dev/null
fuzz=(cargo fuzz)
flags=(-s none --codegen-units 16)
nice -n 10 "${fuzz[@]}" build "${flags[@]}"

mkdir -p fuzz/logs
run() {
    local target="$1"
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    local before
    before=$(find "fuzz/artifacts/$target" -type f | wc -l)
    echo "$before" >"fuzz/logs/$target.artifacts-before"
    if [ "${SAVE_INPUT:-0}" = 1 ]; then
        export PLUGBOX_FUZZ_SAVE_INPUT="$PWD/fuzz/logs/$target.last-input"
    fi
    # libFuzzer exits non-zero on a finding; the summary reports it.
    nice -n 10 "${fuzz[@]}" run "${flags[@]}" "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb="$rss_limit" \
        -print_final_stats=1 >"fuzz/logs/$target.log" 2>&1 || true
}

running=0
for target in "${targets[@]}"; do
    echo "fuzz.sh: $target for ${seconds}s (log: fuzz/logs/$target.log)"
    run "$target" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

status=0
printf '%-9s %8s %11s %16s %7s %8s %8s  %s\n' \
    target seconds executions corpus cov ft peak-rss findings
for target in "${targets[@]}"; do
    log="fuzz/logs/$target.log"
    done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1 || true)
    runs=$(sed -E 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\1/' <<<"$done_line")
    secs=$(sed -E 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\2/' <<<"$done_line")
    # libFuzzer's last status line: "#N DONE cov: C ft: F corp: K/SIZE ...".
    last=$(grep -E '^#[0-9]+[[:space:]]+[A-Z]+.*cov: ' "$log" | tail -1 || true)
    cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | cut -d' ' -f2 || true)
    ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | cut -d' ' -f2 || true)
    corpus=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' <<<"$last" | cut -d' ' -f2 || true)
    rss=$(grep -oE '^stat::peak_rss_mb: +[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
    before=$(cat "fuzz/logs/$target.artifacts-before")
    after=$(find "fuzz/artifacts/$target" -type f | wc -l)
    findings="none"
    if [ -z "$done_line" ] || [ "$after" -gt "$before" ]; then
        findings="$((after - before)) new artifact(s); see $log"
        status=1
    fi
    printf '%-9s %8s %11s %16s %7s %8s %8s  %s\n' "$target" "${secs:-?}" "${runs:-?}" \
        "${corpus:-?}" "${cov:-?}" "${ft:-?}" "${rss:-?}MB" "$findings"
done
exit "$status"
