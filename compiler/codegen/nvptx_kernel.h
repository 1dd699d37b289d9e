// The GPU kernel builder (NVPTX): a thread per output row, reduced rows staged in shared memory.
#pragma once

#include <cstdint>
#include <string>

#include <llvm/IR/Module.h>

#include "compiler/codegen/kernel_spec.h"

namespace keops::codegen {

// Every GPU kernel has this signature (T = float or double), launched with 1-D blocks of B
// threads (B <= GpuLayout::max_block_threads; block_threads for block-sparse and partial
// kernels), grid.x blocks covering the output rows (B * spec.gpu_rows_per_thread per block:
// a thread takes rows B apart), grid.z = column_groups and dynamic shared memory of
// B * staged_values(spec) * sizeof(T) bytes:
//   __global__ void kernel(int64_t out_rows, int64_t n_reduced, const T* const* args,
//                          T* values, int64_t* indices);
// args is a device array of device pointers, one per argument.
// A block-sparse kernel (spec.gpu_block_sparse) takes two more parameters,
//   (..., const int64_t* items, const int64_t* ranges),
// and runs one block per work item: item b, 4 int64 at items + 4b, holds the block's output
// rows [begin, end) (at most block_threads of them) and the span [first, last) of its
// reduced ranges, pairs [ranges[2r], ranges[2r + 1]) run in that order (disjoint,
// increasing: merge() takes the lower range first). No range leaves the identity.
//
// Long outputs (grouped_dim(spec) > 0: more than kGpuGroupedDim columns) are computed W
// columns per block, W = kColumnGroup (half that for states of more than three registers
// per column): block z computes columns [c0, c0 + W), c0 = min(z * W, dim - W) (the last
// group overlaps the one before and writes equal values), and runs groups z + grid.z,
// z + 2 grid.z, ... after it: any grid.z computes every column.
//
// A partial kernel (spec.gpu_partial, the 2-D scheme) has the signature
//   kernel(int64_t out_rows, int64_t n_reduced, const T* const* args, void* states,
//          int64_t split_len, int64_t index_base, int64_t first_slot)
// and grid.y splits: block y reduces the rows [y * split_len, (y + 1) * split_len) of
// [0, n_reduced), whose reduced index is index_base + row (the arrays may be a slice of the
// reduced axis starting there), into the state slot first_slot + y. States are not
// finalized: state value k of column group g, slot s, row r is an 8-byte cell (a T, int64
// or double at its start) at
//   states + 8 * (((s * out_rows + r) * column_groups + g) * state_values + k).
// Its merge kernel, merge_kernel_name(name), comes in a module of its own (so that the two
// compile in parallel), one thread per row (grid.z as above):
//   merge(int64_t out_rows, void* states, int64_t n_slots, T* values, int64_t* indices,
//         int64_t finalize)
// folds slots 0, 1, ..., n_slots - 1 of each row in that order with the reduction's
// merge(); with finalize != 0 it writes the output row, else the merged state to slot 0.
struct GpuLayout {
  int block_threads;      // threads per block, and reduced rows per shared-memory tile
  int max_block_threads;  // the most threads whose tile fits the shared memory budget
  int rows_per_thread;    // output rows per thread (spec.gpu_rows_per_thread)
  int staged_values;      // T values each reduced row leaves in shared memory
  int element_bytes;
  int column_groups = 1;  // column groups of a long output (grid.z); 1 when computed whole
  int state_values = 0;   // values in the state of one row and column group
  // Larger blocks, whose tiles of reduced rows take fewer barriers and stagings a pair, pay
  // more than more resident warps: pair bodies of more than 32 argument values, staged whole
  // (dimension tiles are kTileRows rows whatever the block: gauss_D1000 at 1e5 on an H100
  // took 1.65 s with 384 threads, 1.55 with 256), outputs computed whole (column groups:
  // not measured).
  bool wide_tiles_pay = false;
  // Dynamic shared memory of a block of `threads` threads (block_threads by default).
  int64_t shared_bytes(int threads = 0) const;
  // Bytes of the partial states of one row in one slot (every column group).
  int64_t state_bytes() const { return int64_t(column_groups) * state_values * 8; }
};

GpuLayout gpu_layout(const KernelSpec& spec);

// The most threads per block (a multiple of 32, at least block_threads) whose tiles of
// shared_bytes_per_thread each fit the shared memory budget of a block on sm_<sm>.
int max_block_threads(int64_t shared_bytes_per_thread, int sm, int block_threads);

// Whether several rows per thread (spec.gpu_rows_per_thread) may pay: sums of short pair
// bodies, whose loop and shared-memory loads weigh in each pair. Selections diverge on
// their per-row branches instead (knn_D3 at 1e6 on an H100: 448 ms with one row per
// thread, 534 with two, 1055 with four).
bool several_rows_per_thread_pay(const KernelSpec& spec);

// Whether spec's kernel runs the products of its long rows in dimension tiles
// (nvptx_dim_tiles.h).
bool nvptx_dim_tiled(const KernelSpec& spec);

// The entry point of a partial kernel's merge kernel.
std::string merge_kernel_name(const std::string& kernel_name);

// Adds the kernel `name` to module m, whose triple and data layout must be NVPTX's.
void build_nvptx_kernel(llvm::Module& m, const KernelSpec& spec, const std::string& name);

// Adds the merge kernel `name` of the partial kernel spec (spec.gpu_partial) to module m.
void build_nvptx_merge_kernel(llvm::Module& m, const KernelSpec& spec, const std::string& name);

}  // namespace keops::codegen
