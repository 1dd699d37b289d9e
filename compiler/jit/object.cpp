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

codegen::KernelSpec aot_kernel_spec(const codegen::KernelSpec& spec) {
  codegen::KernelSpec kernel_spec = spec;
  if (!spec.on_gpu()) kernel_spec.storage = codegen::Storage::Native;
  return kernel_spec;
}

std::string compile_aot_object(const codegen::KernelSpec& spec, const std::string& symbol) {
  const codegen::KernelSpec kernel_spec = aot_kernel_spec(spec);
  const lower::KernelPlan plan = lower::lower(kernel_spec);
  const std::string ptx = spec.on_gpu() ? gpu_kernel_ptx(plan) : "";
  // The C entry of a GPU object is one call: any x86-64 runs it.
  const codegen::CpuTarget host = spec.on_gpu() ? codegen::CpuTarget::named("x86-64") : spec.cpu();
  llvm::LLVMContext context;
  std::string object;
  {
    // The module dies before its context.
    llvm::Module module(symbol, context);
    if (spec.on_gpu()) {
      module.setTargetTriple(host.triple);
      build_aot_gpu_entry(module, plan, ptx, symbol);  // one call: nothing to optimize
    } else {
      const std::string kernel_symbol = cpu_kernel_symbol(kernel_spec);
      codegen::build_cpu_kernel(module, plan, kernel_symbol);
      build_aot_entry(module, plan, kernel_symbol, symbol, spec.storage);
      optimize_module(module, host);
    }
    object = emit_object(module, host);
  }
  return object;
}

}  // namespace keops::jit
