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

// Runs a resumable kernel (codegen/cpu_kernel.h) over `arrays`, dense, reducing over the
// reduced rows [first_reduced, first_reduced + arrays.n_reduced): the reduced axis's
// arguments must point at their row first_reduced (the caller offsets them back from the
// part's first row). states: the rows' cells; load and finalize as the kernel takes them.
struct ResumeStep {
  int64_t first_reduced = 0;
  void* states = nullptr;
  bool load = false, finalize = false;
};
template <class T>
void run_cpu_resumable(const jit::CpuKernel& kernel, const ReductionArrays<T>& arrays,
                       const ResumeStep& step, int threads);

}  // namespace keops::runtime
