// cuLaunchKernel with the shared-memory opt-in and launch errors that say what was launched.
#include "runtime/cuda/launch.h"

#include <mutex>
#include <vector>

#include "runtime/cuda/device.h"
#include "runtime/cuda/errors.h"

namespace keops::runtime::cuda {

namespace {

std::string dims(const Dim3& d) {
  return std::to_string(d.x) + "x" + std::to_string(d.y) + "x" + std::to_string(d.z);
}

}  // namespace

void allow_dynamic_shared(const KernelFunction& kernel, int64_t bytes) {
  if (bytes <= kDefaultDynamicSharedLimit) return;
  // Only ever raised: a thread that lowered it could fail another's launch with more.
  static std::mutex mutex;
  const std::lock_guard<std::mutex> lock(mutex);
  ContextGuard guard(kernel.device);
  if (function_attribute(kernel, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES) >= bytes) return;
  const CUresult result = driver().cuFuncSetAttribute(
      kernel.handle, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, static_cast<int>(bytes));
  if (result != CUDA_SUCCESS)
    throw_driver_error(result, "cuFuncSetAttribute(" + kernel.name +
                                   ", MAX_DYNAMIC_SHARED_SIZE_BYTES = " + std::to_string(bytes) +
                                   ")");
}

void launch(const KernelFunction& kernel, const LaunchConfig& config, void** args) {
  const DriverApi& api = driver();
  ContextGuard guard(kernel.device);
  allow_dynamic_shared(kernel, config.dynamic_shared_bytes);
  const CUresult result = api.cuLaunchKernel(
      kernel.handle, config.grid.x, config.grid.y, config.grid.z, config.block.x, config.block.y,
      config.block.z, config.dynamic_shared_bytes, config.stream, args, nullptr);
  if (result != CUDA_SUCCESS)
    throw_driver_error(result, "cuLaunchKernel(" + kernel.name + ", grid " + dims(config.grid) +
                                   ", block " + dims(config.block) + ", " +
                                   std::to_string(config.dynamic_shared_bytes) +
                                   " bytes of dynamic shared memory)");
}

void launch(const KernelFunction& kernel, const LaunchConfig& config, const lower::KernelAbi& abi,
            lower::KernelArgs args) {
  std::vector<void*> params = abi.launch_params(args);
  launch(kernel, config, params.data());
}

}  // namespace keops::runtime::cuda
