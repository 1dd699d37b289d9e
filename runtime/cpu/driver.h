// The CPU driver: runs a compiled kernel over all output rows with OpenMP.
#pragma once

#include <cstdint>

#include "compiler/jit/cpu_compile.h"

namespace keops::runtime {

// Splits [0, out_rows) into tile-aligned chunks run by `threads` OpenMP threads
// (0: OpenMP's default). Every output row is computed by one thread in one fixed order,
// so results do not depend on the thread count.
template <class T>
void run_cpu_kernel(const jit::CpuKernel& kernel, int64_t out_rows, int64_t n_reduced,
                    const T* const* args, T* values, int64_t* indices, int threads);

}  // namespace keops::runtime
