// Kernel launches through cuLaunchKernel, with errors that name the kernel and its shape.
#pragma once

#include "compiler/lower/kernel_abi.h"
#include "runtime/cuda/driver_api.h"
#include "runtime/cuda/module_cache.h"

namespace keops::runtime::cuda {

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

struct LaunchConfig {
  Dim3 grid;
  Dim3 block;
  unsigned dynamic_shared_bytes = 0;
  CUstream stream = nullptr;  // null: the legacy default stream
};

// grid.z's limit: more column groups of a long output run in turn in each block
// (nvptx_kernel.h).
inline constexpr int kMaxGridZ = 65535;

// Dynamic shared memory a kernel may use without opting in.
inline constexpr unsigned kDefaultDynamicSharedLimit = 48 * 1024;

// Lets `kernel` take `bytes` of dynamic shared memory at least (the driver's opt-in past 48
// KiB, never lowered), so that launches, and occupancy queries, with that much succeed.
void allow_dynamic_shared(const KernelFunction& kernel, int64_t bytes);

// Launches `kernel` asynchronously on config.stream; `args` points to each kernel parameter's
// value, in order. Opts the function in first when it asks for more than 48 KiB of dynamic
// shared memory. Makes the kernel's device current for the calls.
void launch(const KernelFunction& kernel, const LaunchConfig& config, void** args);
// The same with the parameters `abi` lists, their values from args.
void launch(const KernelFunction& kernel, const LaunchConfig& config, const lower::KernelAbi& abi,
            lower::KernelArgs args);

}  // namespace keops::runtime::cuda
