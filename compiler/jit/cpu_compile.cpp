// From a KernelSpec to CPU code (see cpu_compile.h).
#include "compiler/jit/cpu_compile.h"

#include <cstdio>

#include <llvm/Support/raw_ostream.h>

#include "compiler/jit/orc.h"
#include "compiler/lower/kernel_plan.h"

namespace keops::jit {
namespace {

// Members die in reverse order: the module before its context.
struct OwnedModule {
  std::unique_ptr<llvm::LLVMContext> context;
  std::unique_ptr<llvm::Module> module;
};

OwnedModule build_optimized(const lower::KernelPlan& plan) {
  OwnedModule m;
  m.context = std::make_unique<llvm::LLVMContext>();
  m.module = std::make_unique<llvm::Module>("keops", *m.context);
  codegen::build_cpu_kernel(*m.module, plan, cpu_kernel_symbol(plan.key_hash()));
  optimize_module(*m.module, plan.spec.cpu());
  return m;
}

}  // namespace

std::string cpu_kernel_symbol(uint64_t key_hash) {
  char name[32];
  std::snprintf(name, sizeof name, "keops_cpu_%016llx", static_cast<unsigned long long>(key_hash));
  return name;
}

std::string cpu_kernel_symbol(const codegen::KernelSpec& spec) {
  return cpu_kernel_symbol(spec.key_hash());
}

CpuKernel compile_cpu_kernel(const codegen::KernelSpec& spec) {
  const lower::KernelPlan plan = lower::lower(spec);
  OwnedModule m = build_optimized(plan);
  CpuKernel k;
  k.tiling = plan.cpu.tiling;
  // The module must die before its context: load() takes both and orders that.
  k.entry =
      CpuJit::instance().load(std::move(m.context), std::move(m.module), cpu_kernel_symbol(spec));
  return k;
}

std::string cpu_kernel_object(const lower::KernelPlan& plan) {
  OwnedModule m = build_optimized(plan);
  return emit_object(*m.module, plan.spec.cpu());
}

std::string cpu_kernel_object(const codegen::KernelSpec& spec) {
  return cpu_kernel_object(lower::lower(spec));
}

CpuKernel load_cpu_kernel_object(const lower::KernelPlan& plan, std::string_view object) {
  CpuKernel k;
  k.tiling = plan.cpu.tiling;
  k.entry = CpuJit::instance().load_object(object, cpu_kernel_symbol(plan.key_hash()));
  return k;
}

CpuKernel load_cpu_kernel_object(const codegen::KernelSpec& spec, std::string_view object) {
  return load_cpu_kernel_object(lower::lower(spec), object);
}

std::string cpu_kernel_llvm_ir(const codegen::KernelSpec& spec) {
  OwnedModule m = build_optimized(lower::lower(spec));
  std::string text;
  llvm::raw_string_ostream os(text);
  m.module->print(os, nullptr);
  return text;
}

std::string cpu_kernel_assembly(const codegen::KernelSpec& spec) {
  OwnedModule m = build_optimized(lower::lower(spec));
  std::string text = emit_assembly(*m.module, spec.cpu());
  return text;
}

}  // namespace keops::jit
