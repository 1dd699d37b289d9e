// Ahead-of-time objects for keopsc (see object.h).
#include "compiler/jit/object.h"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include "compiler/codegen/cpu_kernel.h"
#include "compiler/jit/aot_entry.h"
#include "compiler/jit/aot_gpu_entry.h"
#include "compiler/jit/cpu_compile.h"
#include "compiler/jit/orc.h"
#include "compiler/jit/ptx.h"

namespace keops::jit {

std::string compile_aot_object(const codegen::KernelSpec& spec, const std::string& symbol) {
  const lower::KernelPlan plan = lower::lower(spec);
  const std::string ptx = spec.gpu_sm > 0 ? gpu_kernel_ptx(plan) : "";
  llvm::LLVMContext context;
  std::string object;
  {
    // The module dies before its context.
    llvm::Module module(symbol, context);
    if (spec.gpu_sm > 0) {
      module.setTargetTriple(spec.target.triple);
      build_aot_gpu_entry(module, plan, ptx, symbol);  // one call: nothing to optimize
    } else {
      const std::string kernel_symbol = cpu_kernel_symbol(spec);
      codegen::build_cpu_kernel(module, plan, kernel_symbol);
      build_aot_entry(module, plan, kernel_symbol, symbol);
      optimize_module(module, spec.target);
    }
    object = emit_object(module, spec.target);
  }
  return object;
}

}  // namespace keops::jit
