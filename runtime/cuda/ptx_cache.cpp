// The disk layer of GPU kernels' PTX (see ptx_cache.h).
#include "runtime/cuda/ptx_cache.h"

#include <functional>
#include <memory>
#include <optional>

#include "compiler/jit/ptx.h"
#include "compiler/support/log.h"
#include "runtime/cache/build_id.h"
#include "runtime/cache/disk_cache.h"

namespace keops::runtime::cuda {

std::string ptx_cache_key(const codegen::KernelSpec& spec) { return ptx_cache_key(spec.key()); }

std::string ptx_cache_key(const std::string& spec_key) {
  return spec_key + "|build=" + code_build_id();
}

namespace {

// PTX for sm_<sm> whose entry is `symbol`: what an entry must hold to be used. Another
// kernel's PTX under this key (a forged or stale header) would fail every call at the
// driver's lookup of the symbol instead of being rebuilt.
bool defines(const std::string& ptx, const std::string& symbol, int sm) {
  return ptx.find(".entry " + symbol + "(") != std::string::npos &&
         ptx.find(".target sm_" + std::to_string(sm) + "\n") != std::string::npos;
}

std::string cached(const std::string& key, const std::function<std::string()>& make_ptx,
                   const std::function<bool(const std::string&)>& valid) {
  const std::shared_ptr<const DiskCache> disk = process_disk_cache();
  if (!disk) return make_ptx();
  // A damaged entry fails its checksum in load(), a foreign one `valid`: both are rebuilt.
  if (std::optional<std::string> ptx = disk->load(kPtxKind, key)) {
    if (valid(*ptx)) return *ptx;
    detail::log_debug("disk cache: the PTX entry of " + key.substr(0, 40) +
                      "... defines another kernel: rebuilt");
  }
  std::string ptx = make_ptx();
  disk->store(kPtxKind, key, ptx);
  return ptx;
}

}  // namespace

std::string cached_ptx(const lower::KernelPlan& plan) {
  return cached(
      ptx_cache_key(plan.key), [&] { return jit::gpu_kernel_ptx(plan); },
      [&](const std::string& ptx) {
        return defines(ptx, jit::gpu_kernel_symbol(plan.key_hash()), plan.spec.gpu().sm);
      });
}

std::string cached_merge_ptx(const lower::KernelPlan& plan) {
  return cached(
      ptx_cache_key(plan.key) + "|merge", [&] { return jit::gpu_merge_kernel_ptx(plan); },
      [&](const std::string& ptx) {
        return defines(ptx, lower::merge_kernel_name(jit::gpu_kernel_symbol(plan.key_hash())),
                       plan.spec.gpu().sm);
      });
}

std::string cached_slice_sum_ptx(ir::DType dtype, int sm) {
  return cached(
      jit::gpu_slice_sum_symbol(dtype) + "|sm_" + std::to_string(sm) + "|build=" + code_build_id(),
      [&] { return jit::gpu_slice_sum_ptx(dtype, sm); },
      [&](const std::string& ptx) { return defines(ptx, jit::gpu_slice_sum_symbol(dtype), sm); });
}

}  // namespace keops::runtime::cuda
