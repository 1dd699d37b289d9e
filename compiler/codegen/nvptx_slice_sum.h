// The GPU kernel that sums the slices of an output: a dense launch's tail split
// (runtime/cuda/gpu_plan.h) computes a tail's sums over slices of the reduced axis apart.
#pragma once

#include <string>

#include <llvm/IR/Module.h>

#include "compiler/ir/types.h"

namespace keops::codegen {

// Adds to module m (NVPTX) the kernel `name`, for T = float or double as dtype says, taking
// lower::slice_sum_kernel_abi()'s parameters:
//   __global__ void kernel(int64_t n, const T* slices, int64_t n_slices, T* out);
// a thread per value, out[i] = slices[i] + slices[n + i] + ... + slices[(n_slices - 1) * n + i]
// for i < n, added in that order in double precision (rounded once for float).
void build_nvptx_slice_sum_kernel(llvm::Module& m, ir::DType dtype, const std::string& name);

}  // namespace keops::codegen
