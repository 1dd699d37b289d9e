// Error names and texts come from the driver; a few names are known here for when it can't.
#include "runtime/cuda/errors.h"

namespace keops::runtime::cuda {

namespace {

// The codes a failed probe can meet (the driver that would name them may be a stub or absent).
const char* known_name(CUresult result) {
  switch (static_cast<int>(result)) {
    case 1:
      return "CUDA_ERROR_INVALID_VALUE";
    case 2:
      return "CUDA_ERROR_OUT_OF_MEMORY";
    case 3:
      return "CUDA_ERROR_NOT_INITIALIZED";
    case 4:
      return "CUDA_ERROR_DEINITIALIZED";
    case 34:
      return "CUDA_ERROR_STUB_LIBRARY";
    case 36:
      return "CUDA_ERROR_CALL_REQUIRES_NEWER_DRIVER";
    case 46:
      return "CUDA_ERROR_DEVICE_UNAVAILABLE";
    case 100:
      return "CUDA_ERROR_NO_DEVICE";
    case 101:
      return "CUDA_ERROR_INVALID_DEVICE";
    case 803:
      return "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH";
    case 804:
      return "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE";
    case 999:
      return "CUDA_ERROR_UNKNOWN";
    default:
      return nullptr;
  }
}

}  // namespace

std::string describe_result(CUresult result, const DriverApi* api) {
  const char* name = nullptr;
  const char* text = nullptr;
  if (api && api->cuGetErrorName && api->cuGetErrorName(result, &name) != CUDA_SUCCESS)
    name = nullptr;
  if (name && api->cuGetErrorString && api->cuGetErrorString(result, &text) != CUDA_SUCCESS)
    text = nullptr;
  if (name) return text ? std::string(name) + " (" + text + ")" : std::string(name);
  const std::string number = "CUDA error " + std::to_string(static_cast<int>(result));
  if (const char* known = known_name(result)) return std::string(known) + " (" + number + ")";
  return number;
}

std::string describe_result(CUresult result) {
  const DriverProbe& probe = driver_probe();
  return describe_result(result, probe.api.cuGetErrorName ? &probe.api : nullptr);
}

void throw_driver_error(CUresult result, std::string_view call) {
  throw DriverError(std::string(call) + ": " + describe_result(result), result);
}

}  // namespace keops::runtime::cuda
