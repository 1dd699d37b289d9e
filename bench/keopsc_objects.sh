#!/bin/bash
# keopsc objects' speed by dtype: compiles gauss_D64_E16 for float32, float16 and bfloat16
# with KEOPSC (default build/tools/keopsc/keopsc), links bench/keopsc_objects.c, prints JSON
# lines. Usage: bench/keopsc_objects.sh [N] (N = M, default 10000); OMP_NUM_THREADS applies.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
keopsc=${KEOPSC:-$here/../build/tools/keopsc/keopsc}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for dtype in float32 float16 bfloat16; do
  "$keopsc" compile 'Exp(-SqDist(x, y) * g) * b' -a 'x = Vi(64)' -a 'y = Vj(64)' \
    -a 'b = Vj(16)' -a 'g = Pm(1)' --axis 1 --dtype "$dtype" --name "g_$dtype" \
    -o "$work/g_$dtype.o"
done
cc -O2 "$here/keopsc_objects.c" "$work"/g_*.o -fopenmp -lm -o "$work/keopsc_objects"
"$work/keopsc_objects" "${1:-10000}"
