// The process-wide CPU kernel cache: specs to loaded kernels, keyed by content.
#pragma once

#include <cstddef>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/jit/cpu_compile.h"

namespace keops::runtime {

// The kernel of spec, compiled once per process per spec.key().
jit::CpuKernel cpu_kernel_for(const codegen::KernelSpec& spec);

// Compiles started by cpu_kernel_for so far.
size_t cpu_kernel_compiles();

}  // namespace keops::runtime
