// CUDA driver errors as keops::Error: the failed call, the driver's error name and text.
#pragma once

#include <string>
#include <string_view>

#include "keops/error.h"
#include "runtime/cuda/driver_api.h"

namespace keops::runtime::cuda {

// A failed driver call; keeps the code so that callers can react to one (out of memory).
struct DriverError : Error {
  DriverError(const std::string& message, CUresult code) : Error(message), code(code) {}
  CUresult code;
};

// "CUDA_ERROR_INVALID_PTX (a PTX JIT compilation failed)" as the driver `api` words it;
// a code it cannot name (or no api) still reads as its name where keops knows it and
// always with its number: "CUDA_ERROR_NO_DEVICE (CUDA error 100)", "CUDA error 12345".
std::string describe_result(CUresult result, const DriverApi* api);
// The same with the process's driver, when it loaded.
std::string describe_result(CUresult result);

// Throws DriverError "call: NAME (text)"; `call` may carry context ("cuModuleGetFunction(f)").
[[noreturn]] void throw_driver_error(CUresult result, std::string_view call);

inline void check(CUresult result, std::string_view call) {
  if (result != CUDA_SUCCESS) [[unlikely]]
    throw_driver_error(result, call);
}

}  // namespace keops::runtime::cuda
