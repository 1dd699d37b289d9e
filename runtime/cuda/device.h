// CUDA devices: what they are, and their primary contexts made current for a scope.
#pragma once

#include <cstddef>
#include <new>
#include <string>
#include <vector>

#include "runtime/cuda/driver_api.h"

namespace keops::runtime::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int multiprocessors = 0;
  int compute_major = 0;
  int compute_minor = 0;
  size_t total_memory = 0;  // bytes
  size_t free_memory = 0;   // bytes, when the info was taken
  int warp_size = 0;
  int max_threads_per_block = 0;
  int max_shared_per_block = 0;  // bytes, without opting in
  int max_shared_per_block_optin =
      0;  // bytes, with CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
  int max_shared_per_multiprocessor = 0;

  std::string arch() const;  // "sm_90"
};

// Devices the driver found; 0 when the GPU backend is unavailable (never throws).
int device_count();

// Throws keops::Error when the backend is unavailable or `device` is not a device index.
void check_device(int device);
CUdevice device_handle(int device);

// Everything about one device; free memory is read through its primary context.
DeviceInfo device_info(int device);
// Every device, in index order (empty when the GPU backend is unavailable).
std::vector<DeviceInfo> list_devices();

// The device's primary context, retained on first use and kept for the process's
// lifetime (as the CUDA runtime does: releasing it at exit would race the driver's teardown).
CUcontext primary_context(int device);

// Free and total memory of a device, in bytes.
struct MemoryInfo {
  size_t free = 0;
  size_t total = 0;
};
MemoryInfo memory_info(int device);

// Waits for all work on the device; errors of earlier asynchronous launches surface here.
void synchronize(int device);

// Makes the primary context of `device` current on this thread for the guard's scope.
class ContextGuard {
 public:
  explicit ContextGuard(int device);
  // For destructors: never throws, and pushes only a context already retained (the one
  // the resource was made in) when the driver accepts it; at exit it may be shutting down.
  ContextGuard(int device, std::nothrow_t) noexcept;
  ~ContextGuard();
  ContextGuard(const ContextGuard&) = delete;
  ContextGuard& operator=(const ContextGuard&) = delete;

 private:
  bool pushed_ = false;
};

}  // namespace keops::runtime::cuda
