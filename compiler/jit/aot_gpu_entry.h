// The host side of a keopsc GPU object: the kernel's PTX and launch facts, and its C entry.
#pragma once

#include <string>
#include <vector>

#include <llvm/IR/Module.h>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/lower/kernel_plan.h"

namespace keops::jit {

// The XX of every sm_XX that LLVM's NVPTX backend knows, ascending (sm_90a and the like,
// which are not sm_XX, left out).
std::vector<int> nvptx_sms();

// Adds to m, a module for a host triple, the description of plan's GPU kernel (a constant
// struct keops_aot_gpu_kernel of include/keops/aot_gpu.h holding `ptx`, the kernel's PTX,
// and its GpuLayout) and the entry
//   int symbol(int64_t nx, int64_t ny, const T* const* args, T* values, int64_t* indices);
// which returns keops_aot_gpu_launch(&description, nx, ny, args, values, indices): libkeops
// checks the arguments and runs the kernel. keops_aot_gpu_launch is m's only external symbol.
void build_aot_gpu_entry(llvm::Module& m, const lower::KernelPlan& plan, const std::string& ptx,
                         const std::string& symbol);

}  // namespace keops::jit
