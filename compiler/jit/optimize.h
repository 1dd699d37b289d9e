// The module optimization pipeline shared by every target (CPU JIT, AOT objects, PTX).
#pragma once

#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

namespace keops::jit {

// Verifies m, then runs LLVM's O3 module pipeline with tm's cost model and passes.
void run_o3_pipeline(llvm::Module& m, llvm::TargetMachine& tm);

}  // namespace keops::jit
