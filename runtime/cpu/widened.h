// 16-bit arrays on the CPU: widened to float32 once, reduced by the float32 kernel, rounded back.
#pragma once

#include <vector>

#include "compiler/codegen/kernel_spec.h"
#include "runtime/reduction_arrays.h"

namespace keops::runtime {

// Runs spec (whose storage is float16 or bfloat16, T's) over arrays on the CPU. A CPU kernel
// reads each reduced row once per tile of output rows, and widening it there cost more than
// the products (gauss_D64_E16 4.3 times slower): the arguments are widened here, once, the
// float32 kernel of the same formula runs, and its values are rounded once into arrays.values.
template <class T>
void run_cpu_widened(const codegen::KernelSpec& spec, const ReductionArrays<T>& arrays,
                     int threads);

// Float32 copies of host arrays of 16-bit floats (held by `copies`), as views of the same
// shapes; `threads` threads convert them (0: OpenMP's default).
template <class T>
std::vector<View<const float>> widened_views(const std::vector<View<const T>>& args,
                                             std::vector<std::vector<float>>& copies, int threads);

// to[q] = from[q] rounded to T (to nearest, ties to even), q < n.
template <class T>
void round_values(const float* from, T* to, int64_t n, int threads);

}  // namespace keops::runtime
