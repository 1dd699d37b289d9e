// Module loading through cuModuleLoadDataEx with the JIT's error log, and the module cache.
#include "runtime/cuda/module_cache.h"

#include <chrono>
#include <cstdint>
#include <vector>

#include "compiler/support/log.h"
#include "runtime/cache/kernel_cache.h"
#include "runtime/cuda/device.h"
#include "runtime/cuda/errors.h"

namespace keops::runtime::cuda {

namespace {

constexpr size_t kJitLogBytes = 16 * 1024;

// Never destroyed: unloading modules during exit would race the driver's own teardown.
KernelCache<std::shared_ptr<const Module>>& module_cache() {
  static auto* cache = new KernelCache<std::shared_ptr<const Module>>();
  return *cache;
}

std::string cache_key(const std::string& kernel_key, int device) {
  return std::to_string(device) + ":" + kernel_key;
}

}  // namespace

Module::Module(int device, const std::string& ptx, JitEffort effort) : device_(device) {
  ContextGuard guard(device);
  std::vector<char> error_log(kJitLogBytes, '\0');
  CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                            CU_JIT_OPTIMIZATION_LEVEL};
  // Option values travel as pointers; a number is passed as the pointer's bits.
  void* values[] = {error_log.data(), reinterpret_cast<void*>(uintptr_t{kJitLogBytes - 1}),
                    reinterpret_cast<void*>(uintptr_t{effort == JitEffort::Quick ? 0u : 4u})};
  const CUresult result = driver().cuModuleLoadDataEx(&module_, ptx.c_str(), 3, options, values);
  if (result == CUDA_SUCCESS) return;
  module_ = nullptr;
  std::string message =
      "cuModuleLoadDataEx: " + describe_result(result) + " on GPU " + std::to_string(device);
  const std::string log(error_log.data());
  if (!log.empty()) message += "; the JIT said:\n" + log;
  throw DriverError(message, result);
}

Module::~Module() {
  ContextGuard guard(device_, std::nothrow);
  driver_probe().api.cuModuleUnload(module_);
}

KernelFunction Module::function(const std::string& name) const {
  KernelFunction function{nullptr, name, device_};
  check(driver().cuModuleGetFunction(&function.handle, module_, name.c_str()),
        "cuModuleGetFunction(" + name + ")");
  return function;
}

int function_attribute(const KernelFunction& kernel, CUfunction_attribute attribute) {
  int value = 0;
  check(driver().cuFuncGetAttribute(&value, attribute, kernel.handle),
        "cuFuncGetAttribute(" + kernel.name + ", " + std::to_string(attribute) + ")");
  return value;
}

int resident_blocks(const KernelFunction& kernel, int block_threads, int64_t dynamic_shared_bytes) {
  ContextGuard guard(kernel.device);
  int blocks = 0;
  check(driver().cuOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel.handle, block_threads,
                                                             size_t(dynamic_shared_bytes)),
        "cuOccupancyMaxActiveBlocksPerMultiprocessor(" + kernel.name + ", " +
            std::to_string(block_threads) + " threads)");
  return blocks;
}

std::shared_ptr<const Module> cached_module(const std::string& kernel_key, int device,
                                            const std::function<std::string()>& make_ptx,
                                            JitEffort effort) {
  check_device(device);
  return module_cache().get(cache_key(kernel_key, device), [&] {
    // KEOPS_LOG=debug says where a first call's time goes: LLVM (or the disk cache), then
    // the driver's JIT.
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    const std::string ptx = make_ptx();
    const auto built = Clock::now();
    auto module = std::make_shared<const Module>(device, ptx, effort);
    if (detail::debug_logging()) {
      auto ms = [](Clock::duration d) {
        return std::to_string(std::chrono::duration<double, std::milli>(d).count());
      };
      detail::log_debug("GPU " + std::to_string(device) + ": PTX (" + std::to_string(ptx.size()) +
                        " bytes) in " + ms(built - start) + " ms, loaded by the driver in " +
                        ms(Clock::now() - built) + " ms");
    }
    return module;
  });
}

bool module_cached(const std::string& kernel_key, int device) {
  return module_cache().holds(cache_key(kernel_key, device));
}

}  // namespace keops::runtime::cuda
