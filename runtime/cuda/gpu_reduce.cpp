// The GPU driver of a reduction (see gpu_reduce.h).
#include "runtime/cuda/gpu_reduce.h"

#include <string>

#include "compiler/codegen/nvptx_kernel.h"
#include "compiler/jit/ptx.h"
#include "keops/error.h"
#include "runtime/cuda/device.h"
#include "runtime/cuda/launch_args.h"
#include "runtime/cuda/memory.h"
#include "runtime/cuda/module_cache.h"
#include "runtime/cuda/ptx_cache.h"

namespace keops::runtime::cuda {

int device_sm(int device) {
  const DeviceInfo info = device_info(device);
  return info.compute_major * 10 + info.compute_minor;
}

template <class T>
void run_gpu_reduction(const codegen::KernelSpec& spec, int device, int64_t out_rows,
                       int64_t n_reduced, const std::vector<View<const T>>& args, View<T> values,
                       View<int64_t> indices, const SparseAxis* sparse) {
  if (out_rows == 0) return;
  ContextGuard guard(device);
  codegen::KernelSpec run_spec = spec;
  run_spec.gpu_block_sparse = sparse != nullptr;
  const auto module = cached_module(run_spec.key(), device, [&] { return cached_ptx(run_spec); });
  const KernelFunction kernel = module->function(jit::gpu_kernel_symbol(run_spec));
  const codegen::GpuLayout layout = codegen::gpu_layout(run_spec);
  if (!sparse) {
    launch_reduction<T>(kernel, layout.block_threads, layout.shared_bytes(), out_rows, n_reduced,
                        args, values, indices);
    return;
  }
  // One block per item: items of at most block_threads rows, each within one cluster.
  // (Narrower blocks for small clusters measured slower on an H100: more tiles staged.)
  const SparsePlan plan = plan_sparse(*sparse, out_rows, layout.block_threads, 0);
  const size_t item_bytes = plan.items.size() * sizeof(SparseItem);
  const size_t range_bytes = plan.ranges.size() * sizeof(int64_t);
  DeviceBuffer items(device, item_bytes), ranges(device, range_bytes);
  items.upload(plan.items.data(), item_bytes);
  if (range_bytes > 0) ranges.upload(plan.ranges.data(), range_bytes);
  const SparseLaunch launch{int64_t(plan.items.size()), items.address(), ranges.address()};
  launch_reduction<T>(kernel, layout.block_threads, layout.shared_bytes(), out_rows, n_reduced,
                      args, values, indices, &launch);
}

template void run_gpu_reduction<float>(const codegen::KernelSpec&, int, int64_t, int64_t,
                                       const std::vector<View<const float>>&, View<float>,
                                       View<int64_t>, const SparseAxis*);
template void run_gpu_reduction<double>(const codegen::KernelSpec&, int, int64_t, int64_t,
                                        const std::vector<View<const double>>&, View<double>,
                                        View<int64_t>, const SparseAxis*);

}  // namespace keops::runtime::cuda
