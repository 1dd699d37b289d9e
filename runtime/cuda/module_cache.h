// PTX modules loaded on a device, cached per (kernel key, device), and their kernel functions.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "runtime/cuda/driver_api.h"

namespace keops::runtime::cuda {

// A kernel entry point of a loaded module; the name is kept for error messages.
struct KernelFunction {
  CUfunction handle = nullptr;
  std::string name;
  int device = -1;
};

// A property of a kernel as compiled for its device (registers, max threads per block, ...).
int function_attribute(const KernelFunction& kernel, CUfunction_attribute attribute);

// Blocks of `block_threads` threads with `dynamic_shared_bytes` each that one SM of the
// kernel's device holds at once (the driver's occupancy calculator).
int resident_blocks(const KernelFunction& kernel, int block_threads, int64_t dynamic_shared_bytes);

// How hard the driver's JIT optimizes a module: Full (its default, level 4), or Quick (level
// 0) for kernels whose speed does not matter, which then load sooner.
enum class JitEffort { Full, Quick };

// A PTX module JIT-compiled by the driver for one device; unloaded by the destructor.
class Module {
 public:
  // Throws DriverError naming the failure and quoting the JIT's error log (bad PTX, a PTX
  // version the driver does not know, ...).
  Module(int device, const std::string& ptx, JitEffort effort = JitEffort::Full);
  ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Throws DriverError naming `name` when the module has no such entry point.
  KernelFunction function(const std::string& name) const;
  int device() const { return device_; }

 private:
  CUmodule module_ = nullptr;
  int device_;
};

// The module of `kernel_key` (a KernelSpec key or its hash) on `device`, from the process-wide
// cache: `make_ptx` runs and the driver loads its text only on the first request, once even
// under concurrent callers. A failed load is not cached. Cached modules live until exit.
std::shared_ptr<const Module> cached_module(const std::string& kernel_key, int device,
                                            const std::function<std::string()>& make_ptx,
                                            JitEffort effort = JitEffort::Full);

// Whether cached_module(kernel_key, device, ...) has been called: the module is loaded, or
// being loaded.
bool module_cached(const std::string& kernel_key, int device);

}  // namespace keops::runtime::cuda
