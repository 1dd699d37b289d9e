// Device queries and primary contexts, all through the dlopen'd driver table.
#include "runtime/cuda/device.h"

#include <mutex>

#include "runtime/cuda/errors.h"

namespace keops::runtime::cuda {

namespace {

// Retained primary contexts by device index; null until first use.
struct RetainedContexts {
  std::mutex mutex;
  std::vector<CUcontext> contexts;
};

RetainedContexts& retained_contexts() {
  static RetainedContexts retained;
  return retained;
}

int attribute(CUdevice device, CUdevice_attribute which, const char* what) {
  int value = 0;
  check(driver().cuDeviceGetAttribute(&value, which, device),
        std::string("cuDeviceGetAttribute(") + what + ")");
  return value;
}

}  // namespace

std::string DeviceInfo::arch() const {
  return "sm_" + std::to_string(compute_major) + std::to_string(compute_minor);
}

int device_count() {
  const DriverProbe& probe = driver_probe();
  return probe.available ? probe.device_count : 0;
}

void check_device(int device) {
  const int count = driver_probe().device_count;
  driver();  // throws the probe's reason when the backend is unavailable
  if (device < 0 || device >= count)
    throw Error("GPU " + std::to_string(device) + " does not exist: the CUDA driver found " +
                std::to_string(count) + " device(s)");
}

CUdevice device_handle(int device) {
  check_device(device);
  CUdevice handle = 0;
  check(driver().cuDeviceGet(&handle, device), "cuDeviceGet");
  return handle;
}

DeviceInfo device_info(int device) {
  const CUdevice handle = device_handle(device);
  const DriverApi& api = driver();
  DeviceInfo info;
  info.index = device;
  char name[256] = {};
  check(api.cuDeviceGetName(name, sizeof name - 1, handle), "cuDeviceGetName");
  info.name = name;
  info.multiprocessors =
      attribute(handle, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, "MULTIPROCESSOR_COUNT");
  info.compute_major =
      attribute(handle, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, "COMPUTE_CAPABILITY_MAJOR");
  info.compute_minor =
      attribute(handle, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, "COMPUTE_CAPABILITY_MINOR");
  info.warp_size = attribute(handle, CU_DEVICE_ATTRIBUTE_WARP_SIZE, "WARP_SIZE");
  info.max_threads_per_block =
      attribute(handle, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, "MAX_THREADS_PER_BLOCK");
  info.max_shared_per_block = attribute(handle, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK,
                                        "MAX_SHARED_MEMORY_PER_BLOCK");
  info.max_shared_per_block_optin =
      attribute(handle, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                "MAX_SHARED_MEMORY_PER_BLOCK_OPTIN");
  info.max_shared_per_multiprocessor =
      attribute(handle, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR,
                "MAX_SHARED_MEMORY_PER_MULTIPROCESSOR");
  check(api.cuDeviceTotalMem(&info.total_memory, handle), "cuDeviceTotalMem");
  info.free_memory = memory_info(device).free;
  return info;
}

std::vector<DeviceInfo> list_devices() {
  std::vector<DeviceInfo> devices;
  for (int d = 0; d < device_count(); ++d) devices.push_back(device_info(d));
  return devices;
}

CUcontext primary_context(int device) {
  check_device(device);
  RetainedContexts& retained = retained_contexts();
  std::lock_guard lock(retained.mutex);
  if (retained.contexts.empty()) retained.contexts.resize(driver_probe().device_count, nullptr);
  CUcontext& context = retained.contexts[device];
  if (!context)
    check(driver().cuDevicePrimaryCtxRetain(&context, device_handle(device)),
          "cuDevicePrimaryCtxRetain");
  return context;
}

MemoryInfo memory_info(int device) {
  ContextGuard guard(device);
  MemoryInfo memory;
  check(driver().cuMemGetInfo(&memory.free, &memory.total), "cuMemGetInfo");
  return memory;
}

void synchronize(int device) {
  ContextGuard guard(device);
  check(driver().cuCtxSynchronize(), "cuCtxSynchronize");
}

ContextGuard::ContextGuard(int device) {
  check(driver().cuCtxPushCurrent(primary_context(device)), "cuCtxPushCurrent");
  pushed_ = true;
}

ContextGuard::ContextGuard(int device, std::nothrow_t) noexcept {
  RetainedContexts& retained = retained_contexts();
  CUcontext context = nullptr;
  {
    std::lock_guard lock(retained.mutex);
    if (device >= 0 && static_cast<size_t>(device) < retained.contexts.size())
      context = retained.contexts[device];
  }
  pushed_ = context && driver_probe().api.cuCtxPushCurrent(context) == CUDA_SUCCESS;
}

ContextGuard::~ContextGuard() {
  CUcontext popped = nullptr;
  if (pushed_) driver_probe().api.cuCtxPopCurrent(&popped);
}

}  // namespace keops::runtime::cuda
