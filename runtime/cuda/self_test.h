// A GPU smoke test independent of the compiler: a hand-written PTX vector add, loaded and run.
#pragma once

#include <string>

namespace keops::runtime::cuda {

// PTX (ISA 6.0, sm_50: the driver JIT-compiles it for any newer GPU) of
// keops_vector_add(const float* a, const float* b, float* out, unsigned n): out = a + b.
const char* vector_add_ptx();

struct SelfTestResult {
  bool passed = false;
  std::string detail;  // what ran, or what failed
};

// Loads the PTX on `device`, adds two vectors of n floats there and checks every value.
// Driver errors are caught and reported in `detail`.
SelfTestResult run_vector_add_self_test(int device, unsigned n = 100000);

}  // namespace keops::runtime::cuda
