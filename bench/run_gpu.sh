#!/usr/bin/env bash
# The GPU table of BENCHMARKS.md with keops_bench: one JSON line per case (usage: run_gpu.sh BENCH [extra flags]).
set -euo pipefail
bench=${1:?usage: run_gpu.sh path/to/keops_bench [flags]}
shift
run() { "$bench" --backend gpu --repeat 5 "$@"; }
run --cases gauss_sum_D3 --nx 10000 --ny 10000 "$@"
run --cases gauss_sum_D3 --nx 100000 --ny 100000 "$@"
run --cases gauss_sum_D3 --nx 1000000 --ny 1000000 "$@"
run --cases gauss_grad_x --nx 1000000 --ny 1000000 "$@"
run --cases gauss_D64_E16 --nx 100000 --ny 100000 "$@"
run --cases logsumexp_D3 --nx 1000000 --ny 1000000 "$@"
run --cases knn_D3 --nx 1000000 --ny 1000000 "$@"
run --cases knn_D64 --nx 100000 --ny 1000000 "$@"
run --cases gauss_sum_D3_f64 --nx 100000 --ny 100000 "$@"
run --cases attention_D64 --nx 100000 --ny 100000 "$@"
# Beyond BENCHMARKS.md: long rows (dimension tiles).
run --cases gauss_D1000 --nx 20000 --ny 20000 "$@"
run --cases gauss_D1000 --nx 100000 --ny 100000 "$@"
