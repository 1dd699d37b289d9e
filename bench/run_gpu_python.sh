#!/usr/bin/env bash
# The GPU table through pykeops.torch beside the C++ figures, in one run (BENCHMARKS.md):
# keops_bench's JSON lines, then compare_keops.py with this project's pykeops and with
# KeOps 2.3 on the same problems (usage: run_gpu_python.sh KEOPS_BENCH OURS_PYTHONPATH
# [KEOPS_PYTHONPATH] [OUT_DIR]). On the GPU machine KeOps needs the system libstdc++ first.
set -euo pipefail
bench=${1:?usage: run_gpu_python.sh KEOPS_BENCH OURS_PYTHONPATH [KEOPS_PYTHONPATH] [OUT_DIR]}
ours=${2:?}
keops=${3:-}
out=${4:-.}
here=$(dirname "$0")
"$here/run_gpu.sh" "$bench" | tee "$out/cpp.jsonl"
PYTHONPATH=$ours python3 "$here/compare_keops.py" --ours "$out/cpp.jsonl" --backend GPU \
  --repeat 5 --label pykeops-llvm | tee "$out/pykeops_llvm.txt"
if [[ -n $keops ]]; then
  LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libstdc++.so.6 PYTHONPATH=$keops \
    python3 "$here/compare_keops.py" --ours "$out/cpp.jsonl" --backend GPU --repeat 5 \
    --label KeOps-2.3 | tee "$out/keops.txt"
fi
