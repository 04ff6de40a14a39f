#!/usr/bin/env bash
# Plugin state's latency: `get` and `set` through a plugin call beside a
# direct call of the backend from Rust, for the memory, embedded (SQLite)
# and Redis backends, in one run (crates/plugbox/benches/kv.rs, bench
# profile). Prints criterion's report, then the table BENCHMARKS.md quotes
# and a note on the machine. Needs redis-server (scripts/test.sh installs
# it): the bench starts its own on a free loopback port and stops it.
# Arguments go to the bench (criterion's options, e.g. a filter).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo run --quiet --locked -p plugbox-test-support --bin build-guests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo bench --quiet --locked -p plugbox --bench kv -- "$@" | tee "$log"
echo
echo "Machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; $(rustc --version)."
echo
grep -e '^|' -e 'samples of each operation' "$log"
