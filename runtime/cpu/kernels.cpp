// The process-wide CPU kernel cache (see kernels.h).
#include "runtime/cpu/kernels.h"

#include "compiler/support/log.h"
#include "keops/error.h"
#include "runtime/cache/build_id.h"
#include "runtime/cache/disk_cache.h"
#include "runtime/cache/kernel_cache.h"

namespace keops::runtime {
namespace {

KernelCache<jit::CpuKernel>& cache() {
  static KernelCache<jit::CpuKernel> instance;
  return instance;
}

jit::CpuKernel load_or_compile(const codegen::KernelSpec& spec) {
  const std::shared_ptr<const DiskCache> disk = process_disk_cache();
  const std::string key = disk ? cpu_object_cache_key(spec) : "";
  if (disk) {
    if (std::optional<std::string> object = disk->load(kCpuObjectKind, key)) {
      try {
        return jit::load_cpu_kernel_object(spec, *object);
      } catch (const Error& e) {
        detail::log_debug(std::string("disk cache: recompiling: ") + e.what());
      }
    }
  }
  const std::string object = jit::cpu_kernel_object(spec);
  if (disk) disk->store(kCpuObjectKind, key, object);
  return jit::load_cpu_kernel_object(spec, object);
}

}  // namespace

std::string cpu_object_cache_key(const codegen::KernelSpec& spec) {
  return spec.key() + "|build=" + code_build_id();
}

jit::CpuKernel cpu_kernel_for(const codegen::KernelSpec& spec) {
  return cache().get(spec.key(), [&] { return load_or_compile(spec); });
}

size_t cpu_kernel_compiles() { return cache().compiles(); }

}  // namespace keops::runtime
