// The CPU JIT: optimizes LLVM modules for their target CPU and loads them with ORC LLJIT.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include "compiler/codegen/kernel_spec.h"

namespace keops::jit {

// Runs the O3 pipeline on m for the target (TargetTransformInfo of that CPU).
void optimize_module(llvm::Module& m, const codegen::CpuTarget& target);

// Machine code of m for the target, as assembly text (tests and `keopsc emit asm`).
std::string emit_assembly(llvm::Module& m, const codegen::CpuTarget& target);

// Machine code of m for the target, as the bytes of a relocatable ELF object (PIC).
std::string emit_object(llvm::Module& m, const codegen::CpuTarget& target);

// The process-wide JIT. Thread-safe: modules are added and looked up concurrently.
// Each module or object gets a JITDylib of its own, so loading one kernel twice (a test
// compiling directly what a cache also loads) is no duplicate definition.
class CpuJit {
 public:
  static CpuJit& instance();

  // Takes ownership of a module (and its context), compiles it, and returns the address
  // of `symbol`. The code lives as long as the process.
  void* load(std::unique_ptr<llvm::LLVMContext> context, std::unique_ptr<llvm::Module> module,
             const std::string& symbol);

  // Links a relocatable object (from emit_object, for this host) and returns the address of
  // `symbol`. The object is copied; the code lives as long as the process.
  void* load_object(std::string_view object, const std::string& symbol);

 private:
  CpuJit();
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace keops::jit
