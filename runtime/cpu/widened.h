// 16-bit arrays on the CPU: widened to float32 once, reduced by the float32 kernel, rounded back.
#pragma once

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

}  // namespace keops::runtime
