// Loads the CUDA driver with dlopen, fills the function table and initializes it, once.
#include "runtime/cuda/driver_api.h"

#include <dlfcn.h>
#include <link.h>

#include <cstdlib>
#include <string_view>
#include <vector>

#include "runtime/cuda/errors.h"

namespace keops::runtime::cuda {

namespace {

constexpr const char* kDefaultLibrary = "libcuda.so.1";

std::string last_dl_error() {
  const char* message = dlerror();
  return message ? message : "no error text from dlerror";
}

// The file behind a handle, so that a reason names the driver that was actually probed.
std::string loaded_path(void* handle, const std::string& requested) {
  link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name && *map->l_name)
    return map->l_name;
  return requested;
}

// Drivers older than CUDA 12.8 export cuEventElapsedTime only under its first name.
const char* older_symbol(std::string_view symbol) {
  return symbol == "cuEventElapsedTime_v2" ? "cuEventElapsedTime" : nullptr;
}

// Fills every entry of the table; returns the symbols that are missing, in table order.
std::vector<std::string> resolve_symbols(void* handle, DriverApi& api) {
  std::vector<std::string> missing;
  auto find = [&](const char* symbol) {
    void* address = dlsym(handle, symbol);
    if (!address)
      if (const char* older = older_symbol(symbol)) address = dlsym(handle, older);
    if (!address) missing.push_back(symbol);
    return address;
  };
#define KEOPS_CUDA_RESOLVE(member, symbol, params) \
  api.member = reinterpret_cast<decltype(api.member)>(find(symbol));
  KEOPS_CUDA_DRIVER_FUNCTIONS(KEOPS_CUDA_RESOLVE)
#undef KEOPS_CUDA_RESOLVE
  return missing;
}

}  // namespace

std::string cuda_version_text(int version) {
  if (version <= 0) return "unknown";
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

DriverProbeOptions probe_options_from_environment() {
  DriverProbeOptions options;
  const char* disable = std::getenv("KEOPS_DISABLE_GPU");
  options.disabled = disable && *disable && std::string_view(disable) != "0";
  if (const char* library = std::getenv("KEOPS_LIBCUDA")) options.library = library;
  return options;
}

DriverProbe probe_driver(const DriverProbeOptions& options) {
  DriverProbe probe;
  if (options.disabled) {
    probe.reason = "the GPU backend is disabled by the environment variable KEOPS_DISABLE_GPU";
    return probe;
  }
  const std::string requested = options.library.empty() ? kDefaultLibrary : options.library;
  dlerror();
  // A driver some other library (PyTorch, the CUDA runtime, ...) already loaded is reused.
  void* handle = dlopen(requested.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
  if (!handle) handle = dlopen(requested.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    // dlerror's text usually starts with the name it was given; say it once either way.
    const std::string error = last_dl_error();
    probe.reason = "could not load the CUDA driver library: " +
                   (error.find(requested) == std::string::npos ? requested + ": " + error : error);
    if (options.library.empty())
      probe.reason += " (no NVIDIA driver installed? KEOPS_LIBCUDA may give its path)";
    return probe;
  }
  probe.library_path = loaded_path(handle, requested);

  // A library that is not a working driver is closed again; a real driver stays loaded
  // once cuInit ran, since unloading it after that is not known to be safe.
  auto reject = [&](std::string reason) {
    probe.reason = std::move(reason);
    probe.api = {};
    dlclose(handle);
    return probe;
  };
  const std::vector<std::string> missing = resolve_symbols(handle, probe.api);
  if (!missing.empty()) {
    std::string reason =
        probe.library_path + " is not a usable CUDA driver: it lacks the symbol " + missing.front();
    if (missing.size() > 1)
      reason += " (and " + std::to_string(missing.size() - 1) + " more driver functions)";
    return reject(reason);
  }
  const CUresult init = probe.api.cuInit(0);
  if (init == CUDA_ERROR_STUB_LIBRARY)
    return reject(
        "cuInit failed with " + describe_result(init, &probe.api) + ": " + probe.library_path +
        " is the CUDA toolkit's stub library, not a driver (no NVIDIA driver installed?)");
  if (init != CUDA_SUCCESS) {
    probe.reason = "cuInit failed with " + describe_result(init, &probe.api) + " (driver " +
                   probe.library_path + ")";
    return probe;
  }
  if (probe.api.cuDriverGetVersion(&probe.driver_version) != CUDA_SUCCESS) probe.driver_version = 0;
  const CUresult count = probe.api.cuDeviceGetCount(&probe.device_count);
  if (count != CUDA_SUCCESS) {
    probe.device_count = 0;
    probe.reason = "cuDeviceGetCount failed with " + describe_result(count, &probe.api);
    return probe;
  }
  if (probe.device_count == 0) {
    probe.reason = "the CUDA driver (" + probe.library_path + ", CUDA " +
                   cuda_version_text(probe.driver_version) + ") found no GPU";
    return probe;
  }
  probe.available = true;
  return probe;
}

const DriverProbe& driver_probe() {
  static const DriverProbe probe = probe_driver(probe_options_from_environment());
  return probe;
}

const DriverApi& driver() {
  const DriverProbe& probe = driver_probe();
  if (!probe.available) throw Error("the GPU backend is unavailable: " + probe.reason);
  return probe.api;
}

}  // namespace keops::runtime::cuda
