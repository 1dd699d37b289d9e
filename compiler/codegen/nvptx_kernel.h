// The GPU kernel builder (NVPTX): a thread per output row, reduced rows staged in shared memory.
#pragma once

#include <cstdint>
#include <string>

#include <llvm/IR/Module.h>

#include "compiler/codegen/kernel_spec.h"

namespace keops::codegen {

// Every GPU kernel has this signature (T = float or double), launched with a 1-D grid of
// 1-D blocks covering the output rows and dynamic shared memory of
// block_threads * staged_values(spec) * sizeof(T) bytes:
//   __global__ void kernel(int64_t out_rows, int64_t n_reduced, const T* const* args,
//                          T* values, int64_t* indices);
// args is a device array of device pointers, one per argument.
// A block-sparse kernel (spec.gpu_block_sparse) takes two more parameters,
//   (..., const int64_t* items, const int64_t* ranges),
// and runs one block per work item: item b, 4 int64 at items + 4b, holds the block's output
// rows [begin, end) (at most block_threads of them) and the span [first, last) of its
// reduced ranges, pairs [ranges[2r], ranges[2r + 1]) run in that order (disjoint,
// increasing: merge() takes the lower range first). No range leaves the identity.
struct GpuLayout {
  int block_threads;  // threads per block, and reduced rows per shared-memory tile
  int staged_values;  // T values each reduced row leaves in shared memory
  int64_t shared_bytes() const;
  int element_bytes;
};

GpuLayout gpu_layout(const KernelSpec& spec);

// Adds the kernel `name` to module m, whose triple and data layout must be NVPTX's.
void build_nvptx_kernel(llvm::Module& m, const KernelSpec& spec, const std::string& name);

}  // namespace keops::codegen
