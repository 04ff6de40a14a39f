#!/usr/bin/env bash
# Soak test: mixed good and hostile calls on one PluginManager from two
# threads, with reloads every few seconds, for DURATION (default 10m);
# fails on any unexpected outcome, lost or misattributed call, panic, or
# RSS growth after warm-up. See crates/plugbox/examples/soak.rs.
#
#   scripts/soak.sh [DURATION]        e.g. scripts/soak.sh 30s
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10m}"

# The `types` component is one of the plugins called.
cargo run --quiet --locked -p plugbox-test-support --bin build-guests
cargo run --quiet --locked -p plugbox --example soak -- "$duration"
