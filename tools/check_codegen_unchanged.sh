#!/usr/bin/env bash
# Checks that the working tree generates the same kernels as revision BASE: builds
# keops_codegen_snapshot at both, runs each on this tree's corpus
# (tools/codegen_snapshot/corpus.txt) and compares the PTX and x86 assembly file by file.
# Usage: tools/check_codegen_unchanged.sh BASE [WORK_DIR]
# Exit status 0 when every file is byte-identical, 1 when some differ (listed), 2 on misuse.
set -euo pipefail

base=${1:-}
if [[ -z "$base" ]]; then
  echo "usage: $0 BASE [WORK_DIR]  (BASE: a git revision with tools/codegen_snapshot)" >&2
  exit 2
fi
root=$(git rev-parse --show-toplevel)
work=${2:-/tmp/keops-codegen-check}
base_rev=$(git -C "$root" rev-parse --verify "$base^{commit}")
mkdir -p "$work"

# The snapshot program of a source tree, built in its own folder (ccache shares the work).
build_snapshot() {
  local src=$1 build=$2
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DKEOPS_BUILD_TESTS=OFF \
    -DKEOPS_BUILD_BENCH=OFF -DKEOPS_BUILD_DEMO=OFF -DKEOPS_BUILD_PYTHON=OFF \
    -DKEOPS_BUILD_TOOLS=ON >/dev/null
  cmake --build "$build" -j"$(nproc)" --target keops_codegen_snapshot >/dev/null
}

rm -rf "$work/src-base"
mkdir -p "$work/src-base"
git -C "$root" archive "$base_rev" | tar -x -C "$work/src-base"
if [[ ! -f "$work/src-base/tools/codegen_snapshot/main.cpp" ]]; then
  echo "$base has no tools/codegen_snapshot: pick a later revision" >&2
  exit 2
fi
echo "building the snapshot program at ${base_rev:0:12} and in $root"
build_snapshot "$work/src-base" "$work/build-base"
build_snapshot "$root" "$work/build-head"

corpus="$root/tools/codegen_snapshot/corpus.txt"
for side in base head; do
  rm -rf "$work/out-$side"
  mkdir -p "$work/out-$side"
  "$work/build-$side/tools/codegen_snapshot/keops_codegen_snapshot" "$corpus" "$work/out-$side"
done

if diff -rq "$work/out-base" "$work/out-head" >"$work/differences.txt"; then
  echo "identical: $(ls "$work/out-head" | wc -l) kernels"
  exit 0
fi
echo "$(wc -l <"$work/differences.txt") kernels differ from ${base_rev:0:12} (diff -r $work/out-base $work/out-head):"
head -50 "$work/differences.txt"
exit 1
