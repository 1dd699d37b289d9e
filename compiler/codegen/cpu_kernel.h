// The CPU kernel builder: a SIMD, register-tiled reduction over a block of output rows.
#pragma once

#include <cstdint>
#include <string>

#include <llvm/IR/Module.h>

#include "compiler/codegen/kernel_spec.h"

namespace keops::codegen {

// Every CPU kernel has this C signature (T = float or double):
//   void kernel(int64_t out_begin, int64_t out_end, int64_t n_reduced,
//               const T* const* args, T* values, int64_t* indices);
// It computes output rows [out_begin, out_end) completely, reducing over n_reduced
// indices; args[k] is argument k (row-major), values and indices the whole outputs.
// A runtime splits the output rows across threads (runtime/cpu).
template <class T>
using CpuKernelFn = void (*)(int64_t, int64_t, int64_t, const T* const*, T*, int64_t*);

// How the kernel maps rows to registers: `lanes` output rows per vector, `copies`
// vectors evaluated per reduced index (a register tile of lanes * copies rows).
struct CpuTiling {
  int lanes;
  int copies;
  int rows_per_tile() const { return lanes * copies; }
};

CpuTiling choose_cpu_tiling(const KernelSpec& spec);

// Adds the kernel `name` to module m (whose context it uses).
void build_cpu_kernel(llvm::Module& m, const KernelSpec& spec, const std::string& name);

}  // namespace keops::codegen
