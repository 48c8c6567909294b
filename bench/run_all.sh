#!/usr/bin/env bash
# Every benchmark, one after the other (never in parallel: they time the same cores), then
# bench/RESULTS.md from their outputs in bench/results/. About 15-25 minutes on 2 cores.
#   bash bench/run_all.sh            # full run
#   bash bench/run_all.sh --quick    # smaller N, fewer repeats (a few minutes)
# PY=/path/to/python overrides the interpreter (default: .venv/bin/python, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
QUICK=()
[ "${1:-}" = "--quick" ] && QUICK=(--quick)
export TF_CPP_MIN_LOG_LEVEL=3
echo "== tables" >&2
"$PY" bench/bench_tables.py "${QUICK[@]}"
echo "== start-up" >&2
"$PY" bench/bench_startup.py "${QUICK[@]}"
echo "== callback" >&2
"$PY" bench/bench_callback.py "${QUICK[@]}"
echo "== repeated fits" >&2
"$PY" bench/bench_refit.py "${QUICK[@]}"
echo "== GPU check" >&2
"$PY" bench/gpu_check.py
"$PY" bench/write_results.py
