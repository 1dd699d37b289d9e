// The CPU driver: runs a compiled kernel over all output rows with OpenMP.
#pragma once

#include <cstdint>

#include "compiler/jit/cpu_compile.h"
#include "runtime/reduction_arrays.h"

namespace keops::runtime {

// Runs the kernel over `arrays` (in host memory): output rows in tile-aligned chunks (or
// block-sparse work items) run by `threads` OpenMP threads (0: OpenMP's default). Every
// output row is computed by one thread in one fixed order, so results do not depend on the
// thread count.
template <class T>
void run_cpu_kernel(const jit::CpuKernel& kernel, const ReductionArrays<T>& arrays, int threads);

}  // namespace keops::runtime
