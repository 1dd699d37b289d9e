// PTX emission: a GPU kernel plan to PTX text through LLVM's NVPTX backend.
#pragma once

#include <string>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/lower/kernel_plan.h"

namespace keops::jit {

// The PTX of the plan's kernel for sm_<spec.gpu().sm>, with a PTX ISA version that the
// drivers of that architecture accept; from a spec, lowered first.
std::string gpu_kernel_ptx(const lower::KernelPlan& plan);
std::string gpu_kernel_ptx(const codegen::KernelSpec& spec);

// The PTX of the merge kernel of the partial kernel plan (GpuScheme::Partial), entry
// lower::merge_kernel_name(gpu_kernel_symbol(spec)).
std::string gpu_merge_kernel_ptx(const lower::KernelPlan& plan);
std::string gpu_merge_kernel_ptx(const codegen::KernelSpec& spec);

// The PTX of the kernel that sums an output's slices (codegen/nvptx_slice_sum.h) of
// `dtype` values for sm_<sm>, entry gpu_slice_sum_symbol(dtype).
std::string gpu_slice_sum_ptx(ir::DType dtype, int sm);
std::string gpu_slice_sum_symbol(ir::DType dtype);

// The kernel's entry name in its PTX.
std::string gpu_kernel_symbol(const codegen::KernelSpec& spec);
std::string gpu_kernel_symbol(uint64_t key_hash);

}  // namespace keops::jit
