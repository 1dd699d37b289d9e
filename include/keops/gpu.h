// GPU availability, answered without ever aborting the process.
#pragma once

#include <string>

namespace keops {

bool gpu_available();                  // true when a usable CUDA device was found
std::string gpu_unavailable_reason();  // why not, in words ("" when available)

}  // namespace keops
