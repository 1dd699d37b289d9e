// GPU availability. This build has no GPU backend yet: every GPU request is refused with this reason.
#include "keops/gpu.h"

namespace keops {

bool gpu_available() { return false; }

std::string gpu_unavailable_reason() {
  return "this build of keops has no GPU backend yet (CPU only); the CUDA driver was not probed";
}

}  // namespace keops
