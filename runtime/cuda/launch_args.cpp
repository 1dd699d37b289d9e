// A reduction kernel's launch on one GPU (see launch_args.h).
#include "runtime/cuda/launch_args.h"

#include <string>

#include "compiler/support/check.h"
#include "keops/error.h"
#include "runtime/cuda/device.h"
#include "runtime/cuda/launch.h"
#include "runtime/cuda/memory.h"

namespace keops::runtime::cuda {
namespace {

// Throws unless p is memory of `device` (cudaMalloc, PyTorch, managed).
void check_device_pointer(const void* p, int device) {
  if (p == nullptr) return;
  unsigned type = 0;
  int ordinal = -1;
  const DriverApi& api = driver();
  if (api.cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, address_of(p)) !=
          CUDA_SUCCESS ||
      (type != CU_MEMORYTYPE_DEVICE && type != CU_MEMORYTYPE_UNIFIED))
    throw Error("running on GPU " + std::to_string(device) +
                ": an array marked as GPU memory (View::device) is not device memory");
  if (api.cuPointerGetAttribute(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, address_of(p)) ==
          CUDA_SUCCESS &&
      ordinal != device)
    throw Error("running on GPU " + std::to_string(device) + ": an array is in the memory of GPU " +
                std::to_string(ordinal));
}

// A view's data on the device: its own pointer when it is there, else a copy made here.
template <class V>
CUdeviceptr on_device(const V& view, int device, size_t bytes, std::vector<DeviceBuffer>& owned,
                      bool upload) {
  if (in_device_memory(view.data, view.device, device)) return address_of(view.data);
  owned.emplace_back(device, bytes);
  if (upload && bytes > 0) owned.back().upload(view.data, bytes);
  return owned.back().address();
}

}  // namespace

bool in_device_memory(const void* data, int view_device, int device) {
  if (view_device == device) {
    check_device_pointer(data, device);
    return true;
  }
  if (view_device >= 0)
    throw Error("running on GPU " + std::to_string(device) + ": an array is on GPU " +
                std::to_string(view_device) + "; all arrays must be on the host or on that GPU");
  return false;
}

template <class T>
void launch_reduction(const KernelFunction& kernel, LaunchConfig config,
                      const ReductionArrays<T>& arrays) {
  KEOPS_CHECK(!arrays.sparse, "launch_reduction runs dense kernels");
  const int device = kernel.device;
  const std::vector<View<const T>>& args = arrays.args;
  const View<T>& values = arrays.values;
  const View<int64_t>& indices = arrays.indices;
  ContextGuard guard(device);
  std::vector<DeviceBuffer> owned;
  owned.reserve(args.size() + 3);
  std::vector<CUdeviceptr> arg_addresses;
  for (const auto& a : args)
    arg_addresses.push_back(on_device(a, device, size_t(a.rows * a.cols) * sizeof(T), owned, true));
  DeviceBuffer arg_table(device, arg_addresses.size() * sizeof(CUdeviceptr));
  if (!arg_addresses.empty()) arg_table.upload(arg_addresses.data(), arg_table.bytes());
  const size_t value_bytes = size_t(values.rows * values.cols) * sizeof(T);
  const size_t index_bytes = size_t(indices.rows * indices.cols) * sizeof(int64_t);
  CUdeviceptr values_address = on_device(values, device, value_bytes, owned, false);
  CUdeviceptr indices_address = on_device(indices, device, index_bytes, owned, false);

  lower::KernelArgs params;
  params.out_rows = arrays.out_rows;
  params.n_reduced = arrays.n_reduced;
  params.arg_table = arg_table.address();
  params.values = values_address;
  params.indices = indices_address;
  config.grid.x = unsigned((arrays.out_rows + config.block.x - 1) / config.block.x);
  launch(kernel, config, lower::reduction_kernel_abi(codegen::GpuScheme::Dense), params);
  synchronize(device);
  if (values.device != device && value_bytes > 0)
    copy_to_host(device, values.data, values_address, value_bytes);
  if (indices.device != device && index_bytes > 0)
    copy_to_host(device, indices.data, indices_address, index_bytes);
}

template void launch_reduction<float>(const KernelFunction&, LaunchConfig,
                                      const ReductionArrays<float>&);
template void launch_reduction<double>(const KernelFunction&, LaunchConfig,
                                       const ReductionArrays<double>&);
template void launch_reduction<keops::half>(const KernelFunction&, LaunchConfig,
                                            const ReductionArrays<keops::half>&);
template void launch_reduction<keops::bfloat16>(const KernelFunction&, LaunchConfig,
                                                const ReductionArrays<keops::bfloat16>&);

}  // namespace keops::runtime::cuda
