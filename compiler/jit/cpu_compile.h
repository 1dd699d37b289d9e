// From a KernelSpec to CPU code: build the LLVM module, optimize it, load it or print it.
#pragma once

#include <string>
#include <string_view>

#include "compiler/codegen/cpu_kernel.h"
#include "compiler/codegen/kernel_spec.h"
#include "compiler/lower/kernel_plan.h"

namespace keops::jit {

struct CpuKernel {
  void* entry = nullptr;  // a codegen::CpuKernelFn<float> or <double>, per spec.dtype
  codegen::CpuTiling tiling{1, 1};
};

// Compiles and loads the kernel; keops::Error for an op or reduction without codegen.
CpuKernel compile_cpu_kernel(const codegen::KernelSpec& spec);

// The kernel compiled for spec.cpu() as a relocatable object (what the disk cache holds),
// and that object loaded into the JIT: spec.cpu() must be the host's (its key says so). The
// plan forms let a caller that does both lower the spec once.
std::string cpu_kernel_object(const lower::KernelPlan& plan);
std::string cpu_kernel_object(const codegen::KernelSpec& spec);
CpuKernel load_cpu_kernel_object(const lower::KernelPlan& plan, std::string_view object);
CpuKernel load_cpu_kernel_object(const codegen::KernelSpec& spec, std::string_view object);

// The kernel's LLVM IR after optimization, and its assembly (tests, keopsc emit).
std::string cpu_kernel_llvm_ir(const codegen::KernelSpec& spec);
std::string cpu_kernel_assembly(const codegen::KernelSpec& spec);

// The symbol a spec's kernel gets.
std::string cpu_kernel_symbol(const codegen::KernelSpec& spec);
std::string cpu_kernel_symbol(uint64_t key_hash);

}  // namespace keops::jit
