// One kernel of a Genred on its backend (see kernel_dispatch.h).
#include "runtime/api/kernel_dispatch.h"

#include "runtime/api/kernel_request.h"
#include "runtime/api/ranges_run.h"
#include "runtime/cpu/driver.h"
#include "runtime/cpu/kernels.h"
#include "runtime/cpu/widened.h"
#include "runtime/cuda/gpu_reduce.h"
#include "runtime/cuda/multi_gpu.h"
#include "runtime/cuda/stream.h"

namespace keops::detail {

codegen::KernelSpec kernel_spec(const ReductionStage& s, ir::DType dtype, const Options& o,
                                int gpu_device) {
  codegen::KernelSpec spec;
  spec.formula = s.f.of(dtype);
  spec.reduction = s.reduction;
  spec.reduction.formula2 = s.g.of(dtype);
  spec.axis = s.axis;
  spec.dtype = dtype;
  spec.args = s.args;
  if (gpu_device >= 0)
    spec.target = runtime::gpu_target(runtime::cuda::device_sm(gpu_device), o);
  else
    spec.target = codegen::CpuTarget::host();
  spec.sum_scheme = runtime::codegen_sum_scheme(o.sum_scheme);
  spec.float64_accumulator = o.float64_accumulator;
  return spec;
}

template <class T>
void run_kernel(const ReductionStage& s, const Options& o, int gpu_device,
                runtime::ReductionArrays<T> arrays, runtime::cuda::CUstream stream) {
  codegen::KernelSpec spec = kernel_spec(s, dtype_of<T>(), o, gpu_device);
  spec.storage = storage_of<T>();
  const auto sparse = sparse_axis(o, s);
  arrays.sparse = sparse_ptr(sparse);
  if (gpu_device < 0) {
    if constexpr (sizeof(T) == 2)
      runtime::run_cpu_widened<T>(spec, arrays, o.threads);
    else
      runtime::run_cpu_kernel<T>(runtime::cpu_kernel_for(spec), arrays, o.threads);
    return;
  }
  runtime::cuda::GpuRunOptions run_options;
  run_options.memory_limit = o.gpu_memory_limit;
  if (!o.devices.empty()) {
    runtime::cuda::wait_for_stream(gpu_device, stream);
    runtime::cuda::run_multi_gpu_reduction<T>(spec, runtime::cuda::multi_gpu_devices(o.devices),
                                              arrays, run_options);
    return;
  }
  run_options.stream = stream;
  runtime::cuda::run_gpu_reduction<T>(spec, gpu_device, arrays, run_options);
}

template void run_kernel<float>(const ReductionStage&, const Options&, int,
                                runtime::ReductionArrays<float>, runtime::cuda::CUstream);
template void run_kernel<double>(const ReductionStage&, const Options&, int,
                                 runtime::ReductionArrays<double>, runtime::cuda::CUstream);
template void run_kernel<keops::half>(const ReductionStage&, const Options&, int,
                                      runtime::ReductionArrays<keops::half>,
                                      runtime::cuda::CUstream);
template void run_kernel<keops::bfloat16>(const ReductionStage&, const Options&, int,
                                          runtime::ReductionArrays<keops::bfloat16>,
                                          runtime::cuda::CUstream);

}  // namespace keops::detail
