// The CPU kernel builder: a SIMD, register-tiled reduction over a block of output rows.
#pragma once

#include <cstdint>
#include <string>

#include <llvm/IR/Module.h>

#include "compiler/codegen/kernel_spec.h"

namespace keops::lower {
struct KernelPlan;
}

namespace keops::codegen {

// Every CPU kernel has this C signature (T = float or double):
//   void kernel(int64_t out_begin, int64_t out_end, const int64_t* reduced, int64_t n_ranges,
//               const T* const* args, T* values, int64_t* indices);
// It computes output rows [out_begin, out_end) completely, reducing over the n_ranges
// ranges [reduced[2r], reduced[2r + 1]) of reduced indices in turn (a dense reduction
// passes the single range [0, n); a block-sparse one the ranges of the rows' cluster; no
// range leaves the reduction's identity). Ranges must be disjoint and in increasing order:
// merge() takes the lower range first. args[k] is argument k (row-major), values and
// indices the whole outputs. A runtime splits the output rows across threads (runtime/cpu).
template <class T>
using CpuKernelFn = void (*)(int64_t, int64_t, const int64_t*, int64_t, const T* const*, T*,
                             int64_t*);

// A resumable kernel (CpuTarget::resumable) takes three more parameters, after indices:
//   void* states, int64_t load, int64_t finalize
// states holds cpu_state_cells(spec) cells of 8 bytes per output row, row-major (a state's
// values, each in the low bytes of its cell; a selection with its slots in memory, the slots'
// values, then their indices: ReductionEmitter::store_cells). Where load != 0, a selection's state
// starts from its cells, and any other reduction's state over the ranges is merged after them (the
// reduction's merge, the cells' rows taken as the lower ones); then the state is written as
// the outputs where finalize != 0, else back to its cells. Reducing the reduced rows
// a part at a time, in increasing order, then gives what one call over them all gives
// (but for the rounding of sums, whose blocks then end with each part).
template <class T>
using CpuResumableFn = void (*)(int64_t, int64_t, const int64_t*, int64_t, const T* const*, T*,
                                int64_t*, void*, int64_t, int64_t);

// Whether spec's kernel can be resumable: outputs computed whole (not in groups of columns)
// and a state of values (not a selection's slots kept in memory).
bool cpu_resumable(const KernelSpec& spec);
// The cells of one output row's state in a resumable kernel's states.
int cpu_state_cells(const KernelSpec& spec);

// How the kernel maps rows to registers: `lanes` output rows per vector, `copies`
// vectors evaluated per reduced index (a register tile of lanes * copies rows).
struct CpuTiling {
  int lanes;
  int copies;
  int rows_per_tile() const { return lanes * copies; }
};

CpuTiling choose_cpu_tiling(const KernelSpec& spec);

// Columns per group of a long output (kernel_spec.h). Every group computes the formula's
// other values again: where they include products of long rows (those the GPU tiles,
// passes/dim_tiles.h), 4 * kColumnGroup. On the CPU (AVX-512, 2000 x 2000): the gradient of
// gauss_D1000 w.r.t. x 3.08 -> 1.08 s, of a Gaussian of dimension 100 70 -> 25 ms,
// Exp(-SqDist(x, y)) * v with 64 components to x and y, 1000 to v, 215 -> 131 ms; 256 columns
// took the first 0.75 s but 1.2 s to compile, not 0.35. With short products (x, y of 3
// components) wider groups ran as fast and only took longer to compile.
int cpu_column_group(const KernelSpec& spec);

// Adds the kernel `name` of plan (a CPU spec's) to module m (whose context it uses).
void build_cpu_kernel(llvm::Module& m, const lower::KernelPlan& plan, const std::string& name);

}  // namespace keops::codegen
