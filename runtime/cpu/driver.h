// The CPU driver: runs a compiled kernel over all output rows with OpenMP.
#pragma once

#include <cstdint>

#include "compiler/jit/cpu_compile.h"
#include "runtime/cpu/block_sparse.h"

namespace keops::runtime {

// Splits [0, out_rows) into tile-aligned chunks run by `threads` OpenMP threads
// (0: OpenMP's default). Every output row is computed by one thread in one fixed order,
// so results do not depend on the thread count. With `sparse`, each row reduces only over
// its cluster's ranges (rows in no cluster get the identity) and n_reduced is unused.
template <class T>
void run_cpu_kernel(const jit::CpuKernel& kernel, int64_t out_rows, int64_t n_reduced,
                    const T* const* args, T* values, int64_t* indices, int threads,
                    const SparseAxis* sparse = nullptr);

}  // namespace keops::runtime
