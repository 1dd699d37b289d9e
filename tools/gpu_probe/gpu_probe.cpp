// Prints what keops finds of the CUDA driver and devices, then smoke-tests device 0.
// Exit status: 0 when the smoke test passes, 1 when it fails, 2 when no GPU is usable.
#include <cstdio>

#include <keops/keops.h>

#include "runtime/cuda/device.h"
#include "runtime/cuda/driver_api.h"
#include "runtime/cuda/memory.h"
#include "runtime/cuda/self_test.h"

namespace cuda = keops::runtime::cuda;

int main() {
  const bool available = keops::gpu_available();
  std::printf("gpu_available: %s\n", available ? "true" : "false");
  if (!available) {
    std::printf("reason: %s\n", keops::gpu_unavailable_reason().c_str());
    return 2;
  }
  const cuda::DriverProbe& probe = cuda::driver_probe();
  std::printf("driver: CUDA %s (%s), %d device(s)\n",
              cuda::cuda_version_text(probe.driver_version).c_str(), probe.library_path.c_str(),
              probe.device_count);
  try {
    for (const cuda::DeviceInfo& d : cuda::list_devices())
      std::printf(
          "GPU %d: %s, %d SMs, compute capability %d.%d (%s), %s free of %s, warp %d, "
          "shared memory per block %s (opt-in %s), per SM %s\n",
          d.index, d.name.c_str(), d.multiprocessors, d.compute_major, d.compute_minor,
          d.arch().c_str(), cuda::format_bytes(d.free_memory).c_str(),
          cuda::format_bytes(d.total_memory).c_str(), d.warp_size,
          cuda::format_bytes(d.max_shared_per_block).c_str(),
          cuda::format_bytes(d.max_shared_per_block_optin).c_str(),
          cuda::format_bytes(d.max_shared_per_multiprocessor).c_str());
  } catch (const keops::Error& e) {
    std::printf("listing the devices failed: %s\n", e.what());
    return 1;
  }
  const cuda::SelfTestResult result = cuda::run_vector_add_self_test(0);
  std::printf("vector add on GPU 0: %s: %s\n", result.passed ? "PASS" : "FAIL",
              result.detail.c_str());
  return result.passed ? 0 : 1;
}
