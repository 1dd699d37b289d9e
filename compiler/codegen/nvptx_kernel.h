// The GPU kernel builder (NVPTX): a thread per output row, reduced rows staged in shared memory.
#pragma once

#include <cstdint>
#include <string>

#include <llvm/IR/Module.h>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/lower/kernel_plan.h"

namespace keops::codegen {

// Every GPU kernel has this signature (T = float or double; the parameters in the order of
// the plan's lower::KernelAbi, which launchers fill), launched with 1-D blocks of B threads
// (B <= GpuLayout::max_block_threads; block_threads for block-sparse and partial kernels),
// grid.x blocks covering the output rows (B * GpuTarget::rows_per_thread per block: a thread
// takes rows B apart), grid.z = column_groups and dynamic shared memory of
// B * staged_values * sizeof(T) bytes (the plan's GpuLayout):
//   __global__ void kernel(int64_t out_rows, int64_t n_reduced, const T* const* args,
//                          T* values, int64_t* indices);
// args is a device array of device pointers, one per argument.
// A block-sparse kernel (GpuScheme::BlockSparse) takes two more parameters,
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
// A partial kernel (GpuScheme::Partial, the 2-D scheme) has the signature
//   kernel(int64_t out_rows, int64_t n_reduced, const T* const* args, void* states,
//          int64_t split_len, int64_t index_base, int64_t first_slot)
// and grid.y splits: block y reduces the rows [y * split_len, (y + 1) * split_len) of
// [0, n_reduced), whose reduced index is index_base + row (the arrays may be a slice of the
// reduced axis starting there), into the state slot first_slot + y. States are not
// finalized: state value k of column group g, slot s, row r is an 8-byte cell (a T, int64
// or double at its start) at
//   states + 8 * (((s * out_rows + r) * column_groups + g) * state_values + k).
// Its merge kernel, lower::merge_kernel_name(name), comes in a module of its own (so that the two
// compile in parallel), one thread per row (grid.z as above):
//   merge(int64_t out_rows, void* states, int64_t n_slots, T* values, int64_t* indices,
//         int64_t finalize)
// folds slots 0, 1, ..., n_slots - 1 of each row in that order with the reduction's
// merge(); with finalize != 0 it writes the output row, else the merged state to slot 0.

// Adds the kernel `name` of plan (a GPU spec's) to module m, whose triple and data layout
// must be NVPTX's.
void build_nvptx_kernel(llvm::Module& m, const lower::KernelPlan& plan, const std::string& name);

// Adds the merge kernel `name` of the partial kernel plan (GpuScheme::Partial) to module m.
void build_nvptx_merge_kernel(llvm::Module& m, const lower::KernelPlan& plan,
                              const std::string& name);

}  // namespace keops::codegen
