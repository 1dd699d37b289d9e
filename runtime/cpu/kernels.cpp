// The process-wide CPU kernel cache (see kernels.h).
#include "runtime/cpu/kernels.h"

#include "runtime/cache/kernel_cache.h"

namespace keops::runtime {
namespace {

KernelCache<jit::CpuKernel>& cache() {
  static KernelCache<jit::CpuKernel> instance;
  return instance;
}

}  // namespace

jit::CpuKernel cpu_kernel_for(const codegen::KernelSpec& spec) {
  return cache().get(spec.key(), [&] { return jit::compile_cpu_kernel(spec); });
}

size_t cpu_kernel_compiles() { return cache().compiles(); }

}  // namespace keops::runtime
