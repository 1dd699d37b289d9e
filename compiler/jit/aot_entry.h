// The C entry of an ahead-of-time object: argument checks and OpenMP threads over a CPU kernel.
#pragma once

#include <string>

#include <llvm/IR/Module.h>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/lower/kernel_plan.h"

namespace keops::jit {

// What the entry returns (API.md, keopsc): 0 on success, else the first bad argument found.
enum AotStatus : int {
  kAotOk = 0,
  kAotNegativeSize = 1,  // nx or ny < 0
  kAotNullArgument = 2,  // args, or args[k] with rows > 0, is NULL
  kAotNullValues = 3,    // values is NULL, the reduction yields values and rows > 0
  kAotNullIndices = 4,   // indices is NULL, the reduction yields indices and rows > 0
  kAotOutOfMemory = 5,   // a 16-bit object's float32 copies of its arrays could not be allocated
};

// Adds to m, which holds the kernel `kernel_symbol` of spec (made internal here), the entry
//   int symbol(int64_t nx, int64_t ny, const T* const* args, T* values, int64_t* indices);
// It checks the arguments, then runs tile-aligned chunks of output rows on the OpenMP team
// through the GOMP ABI that libgomp and LLVM's libomp both provide: GOMP_parallel starts
// the team, omp_get_num_threads sizes the chunks, an atomic counter hands them out. Every
// output row is computed by one kernel call, so results do not depend on the thread count.
// The only external symbols are GOMP_parallel and omp_get_num_threads, and for 16-bit arrays
// (`storage`, the kernel of plan being float32) malloc and free: such an entry widens the
// arguments once into float32 copies, runs the kernel on them and rounds its values once,
// as Genred does (the same bits).
void build_aot_entry(llvm::Module& m, const lower::KernelPlan& plan,
                     const std::string& kernel_symbol, const std::string& symbol,
                     codegen::Storage storage);

}  // namespace keops::jit
