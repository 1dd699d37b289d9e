// GPU availability: the CUDA driver loaded with dlopen, cuInit passed and a device was found.
#include "keops/gpu.h"

#include "runtime/cuda/driver_api.h"

namespace keops {

bool gpu_available() { return runtime::cuda::driver_probe().available; }

std::string gpu_unavailable_reason() { return runtime::cuda::driver_probe().reason; }

}  // namespace keops
