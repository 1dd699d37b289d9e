#!/usr/bin/env bash
# Multi-GPU scaling: gauss_sum_D3 N=M=4e6 and knn_D64 on 1, 2, ... GPUs (usage: run_multi_gpu.sh BENCH [GPUS]).
set -euo pipefail
bench=${1:?usage: run_multi_gpu.sh path/to/keops_bench [number of GPUs, default 2]}
gpus=${2:-2}
devices=0
for ((n = 1; n <= gpus; n *= 2)); do
  "$bench" --devices "$devices" --repeat 3 --cases gauss_sum_D3 --nx 4000000 --ny 4000000 --no-check
  "$bench" --devices "$devices" --repeat 3 --cases knn_D64 --nx 100000 --ny 1000000 --no-check
  for ((d = n; d < 2 * n && d < gpus; ++d)); do devices+=",$d"; done
done
