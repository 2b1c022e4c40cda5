#!/usr/bin/env bash
#
# Build davit and davit-bench in release mode, then run the benchmark against davit and
# Radicale (see README.md, "Benchmarks"). Arguments go to davit-bench, e.g.
#
#     scripts/bench.sh              # the full run (10,000 events, 10,000 vCards; ~15 min)
#     scripts/bench.sh --quick      # a smoke run (500 + 500, 2 s per workload; ~2 min)
#     scripts/bench.sh --only davit # davit alone, no Radicale, no ratios
#
# Needs python3 with the venv module (Radicale is installed from PyPI into target/bench/venv
# on the first run). Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --bin davit --bin davit-bench
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/release/davit-bench" "$@"
