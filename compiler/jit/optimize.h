// The module optimization pipeline shared by every target (CPU JIT, AOT objects, PTX).
#pragma once

#include <llvm/IR/Module.h>
#include <llvm/Passes/OptimizationLevel.h>
#include <llvm/Target/TargetMachine.h>

namespace keops::jit {

// Verifies m, then runs LLVM's module pipeline of `level` with tm's cost model and passes.
void run_module_pipeline(llvm::Module& m, llvm::TargetMachine& tm, llvm::OptimizationLevel level);

}  // namespace keops::jit
