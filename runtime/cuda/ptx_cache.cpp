// The disk layer of GPU kernels' PTX (see ptx_cache.h).
#include "runtime/cuda/ptx_cache.h"

#include <functional>
#include <memory>
#include <optional>

#include "compiler/jit/ptx.h"
#include "runtime/cache/build_id.h"
#include "runtime/cache/disk_cache.h"

namespace keops::runtime::cuda {

std::string ptx_cache_key(const codegen::KernelSpec& spec) { return ptx_cache_key(spec.key()); }

std::string ptx_cache_key(const std::string& spec_key) {
  return spec_key + "|build=" + code_build_id();
}

namespace {

std::string cached(const std::string& key, const std::function<std::string()>& make_ptx) {
  const std::shared_ptr<const DiskCache> disk = process_disk_cache();
  if (!disk) return make_ptx();
  // A damaged entry fails its checksum in load() and is rebuilt here.
  if (std::optional<std::string> ptx = disk->load(kPtxKind, key)) return *ptx;
  std::string ptx = make_ptx();
  disk->store(kPtxKind, key, ptx);
  return ptx;
}

}  // namespace

std::string cached_ptx(const lower::KernelPlan& plan) {
  return cached(ptx_cache_key(plan.key), [&] { return jit::gpu_kernel_ptx(plan); });
}

std::string cached_merge_ptx(const lower::KernelPlan& plan) {
  return cached(ptx_cache_key(plan.key) + "|merge",
                [&] { return jit::gpu_merge_kernel_ptx(plan); });
}

std::string cached_slice_sum_ptx(ir::DType dtype, int sm) {
  return cached(
      jit::gpu_slice_sum_symbol(dtype) + "|sm_" + std::to_string(sm) + "|build=" + code_build_id(),
      [&] { return jit::gpu_slice_sum_ptx(dtype, sm); });
}

}  // namespace keops::runtime::cuda
