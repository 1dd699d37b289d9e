// The process-wide CPU kernel cache (see kernels.h).
#include "runtime/cpu/kernels.h"

#include "compiler/lower/kernel_plan.h"
#include "compiler/support/log.h"
#include "keops/error.h"
#include "runtime/cache/build_id.h"
#include "runtime/cache/disk_cache.h"
#include "runtime/cache/kernel_cache.h"

namespace keops::runtime {
namespace {

// The disk cache's key of the kernel object of the spec whose key() is spec_key.
std::string object_cache_key(const std::string& spec_key) {
  return spec_key + "|build=" + code_build_id();
}

KernelCache<jit::CpuKernel>& cache() {
  static KernelCache<jit::CpuKernel> instance;
  return instance;
}

jit::CpuKernel load_or_compile(const codegen::KernelSpec& spec) {
  const std::shared_ptr<const DiskCache> disk = process_disk_cache();
  const lower::KernelPlan plan = lower::lower(spec);  // once, for the object and its tiling
  const std::string key = disk ? object_cache_key(plan.key) : "";
  if (disk) {
    if (std::optional<std::string> object = disk->load(kCpuObjectKind, key)) {
      try {
        return jit::load_cpu_kernel_object(plan, *object);
      } catch (const Error& e) {
        detail::log_debug(std::string("disk cache: recompiling: ") + e.what());
      }
    }
  }
  const std::string object = jit::cpu_kernel_object(plan);
  if (disk) disk->store(kCpuObjectKind, key, object);
  return jit::load_cpu_kernel_object(plan, object);
}

}  // namespace

std::string cpu_object_cache_key(const codegen::KernelSpec& spec) {
  return object_cache_key(spec.key());
}

jit::CpuKernel cpu_kernel_for(const codegen::KernelSpec& spec) {
  return cache().get(spec.key(), [&] { return load_or_compile(spec); });
}

size_t cpu_kernel_compiles() { return cache().compiles(); }

}  // namespace keops::runtime
