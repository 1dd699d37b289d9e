// The PTX of a GPU kernel, from the persistent disk cache when it holds it (ARCHITECTURE.md rule
// 8).
#pragma once

#include <string>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/lower/kernel_plan.h"

namespace keops::runtime::cuda {

inline constexpr const char* kPtxKind = "ptx";

// The key of spec's PTX on disk: the spec's key and the compiler's build id.
std::string ptx_cache_key(const codegen::KernelSpec& spec);
std::string ptx_cache_key(const std::string& spec_key);  // of KernelSpec::key()

// The PTX of plan's kernel (a GPU spec's): loaded from the disk cache, else generated and
// stored there. The driver keeps its own cache of the machine code it compiles from PTX.
std::string cached_ptx(const lower::KernelPlan& plan);

// The same for the merge kernel of the partial kernel plan (jit::gpu_merge_kernel_ptx).
std::string cached_merge_ptx(const lower::KernelPlan& plan);

// The same for the kernel that sums an output's slices (jit::gpu_slice_sum_ptx).
std::string cached_slice_sum_ptx(ir::DType dtype, int sm);

}  // namespace keops::runtime::cuda
