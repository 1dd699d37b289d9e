// PTX emission (see ptx.h).
#include "compiler/jit/ptx.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>

#include <llvm/IR/LegacyPassManager.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include "compiler/codegen/math.h"
#include "compiler/codegen/nvptx_kernel.h"
#include "compiler/codegen/nvptx_slice_sum.h"
#include "compiler/jit/optimize.h"
#include "compiler/support/check.h"
#include "keops/error.h"

extern "C" {
void LLVMInitializeNVPTXTargetInfo();
void LLVMInitializeNVPTXTarget();
void LLVMInitializeNVPTXTargetMC();
void LLVMInitializeNVPTXAsmPrinter();
}

namespace keops::jit {
namespace {

constexpr const char* kTriple = "nvptx64-nvidia-cuda";

// The oldest PTX ISA that has every instruction of the architecture: what its drivers take.
const char* ptx_version_for(int sm) {
  if (sm >= 90) return "+ptx80";
  if (sm >= 89) return "+ptx78";
  if (sm >= 80) return "+ptx70";
  return "+ptx64";
}

// The newest architecture LLVM 19's NVPTX backend knows: newer GPUs (sm_100, ...) run its
// PTX, which their driver compiles.
constexpr int kNewestKnownSm = 90;

std::unique_ptr<llvm::TargetMachine> nvptx_machine(int device_sm) {
  const int sm = std::min(device_sm, kNewestKnownSm);
  static std::once_flag once;
  std::call_once(once, [] {
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
    // 32-bit shared, local and constant pointers: the pair loop's tile address then steps
    // in one 32-bit add instead of a 64-bit pair (an option of LLVM's NVPTX backend).
    auto& options = llvm::cl::getRegisteredOptions();
    if (auto it = options.find("nvptx-short-ptr"); it != options.end())
      static_cast<llvm::cl::opt<bool>*>(it->second)->setValue(true);
  });
  std::string err;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(kTriple, err);
  if (!target) throw Error("creating the NVPTX target: " + err);
  const std::string cpu = "sm_" + std::to_string(sm);
  // Multiplies and adds fuse into FMAs, as nvcc's default --fmad=true does for KeOps: one
  // instruction and one rounding fewer (the kernel accumulating F * b saves one per pair).
  llvm::TargetOptions options;
  options.AllowFPOpFusion = llvm::FPOpFusion::Fast;
  // The default code generation level: ptxas optimizes the PTX again, and Aggressive gave
  // the same machine code (the same PTX for attention_D64 and knn_D64) in 1.5 times the time.
  std::unique_ptr<llvm::TargetMachine> tm(
      target->createTargetMachine(kTriple, cpu, ptx_version_for(sm), options, std::nullopt,
                                  std::nullopt, llvm::CodeGenOptLevel::Default));
  if (!tm) throw Error("creating the NVPTX target for " + cpu);
  return tm;
}

// The PTX of a module that `build` fills with spec's kernel, optimized at `level`.
std::string module_ptx(const codegen::KernelSpec& spec,
                       const std::function<void(llvm::Module&)>& build,
                       llvm::OptimizationLevel level) {
  KEOPS_CHECK(spec.on_gpu(), "a GPU kernel needs an sm_XX target");
  auto tm = nvptx_machine(spec.gpu().sm);
  llvm::LLVMContext context;
  auto m = std::make_unique<llvm::Module>("keops", context);
  m->setTargetTriple(kTriple);
  m->setDataLayout(tm->createDataLayout());
  if (spec.gpu().fast_math) codegen::request_gpu_fast_math(*m);
  build(*m);
  run_module_pipeline(*m, *tm, level);
  llvm::SmallString<0> ptx;
  llvm::raw_svector_ostream os(ptx);
  llvm::legacy::PassManager pm;
  KEOPS_CHECK(!tm->addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::AssemblyFile),
              "the NVPTX target cannot emit PTX");
  pm.run(*m);
  return std::string(ptx.str());
}

}  // namespace

std::string gpu_kernel_symbol(uint64_t key_hash) {
  char name[32];
  std::snprintf(name, sizeof name, "keops_gpu_%016llx", static_cast<unsigned long long>(key_hash));
  return name;
}

std::string gpu_kernel_symbol(const codegen::KernelSpec& spec) {
  return gpu_kernel_symbol(spec.key_hash());
}

// LLVM's O1 pipeline: ptxas optimizes the PTX again, and O1 gave the same machine code as O3
// (instruction for instruction, but for register numbers) for every kernel compared: 1-D,
// partial and four-rows kernels of 23 formulas in float32 and float64 (attention_D64,
// knn_D64, long outputs, streamed rows, special functions, ...), and merges that no longer
// unroll their slot loop, in less time (keopsc emit, medians of 15: attention_D64 64 -> 51
// ms, knn_D64 44 -> 33, gauss_D64_E16 46 -> 39; the short kernels' 19 ms are mostly setup).
// Dimension-tiled kernels keep O3: at O1 their tile loops took 7% more instructions.
std::string gpu_kernel_ptx(const lower::KernelPlan& plan) {
  return module_ptx(
      plan.spec,
      [&](llvm::Module& m) {
        codegen::build_nvptx_kernel(m, plan, gpu_kernel_symbol(plan.key_hash()));
      },
      plan.dim_tiled() ? llvm::OptimizationLevel::O3 : llvm::OptimizationLevel::O1);
}

std::string gpu_kernel_ptx(const codegen::KernelSpec& spec) {
  return gpu_kernel_ptx(lower::lower(spec));
}

std::string gpu_slice_sum_symbol(ir::DType dtype) {
  return dtype == ir::DType::F32 ? "keops_slice_sum_f32" : "keops_slice_sum_f64";
}

std::string gpu_slice_sum_ptx(ir::DType dtype, int sm) {
  codegen::KernelSpec spec;  // what module_ptx reads: the target and its math
  spec.dtype = dtype;
  spec.target = codegen::GpuTarget{sm, /*fast_math=*/false};
  return module_ptx(
      spec,
      [&](llvm::Module& m) {
        codegen::build_nvptx_slice_sum_kernel(m, dtype, gpu_slice_sum_symbol(dtype));
      },
      llvm::OptimizationLevel::O1);
}

std::string gpu_merge_kernel_ptx(const lower::KernelPlan& plan) {
  return module_ptx(
      plan.spec,
      [&](llvm::Module& m) {
        codegen::build_nvptx_merge_kernel(
            m, plan, lower::merge_kernel_name(gpu_kernel_symbol(plan.key_hash())));
      },
      llvm::OptimizationLevel::O1);
}

std::string gpu_merge_kernel_ptx(const codegen::KernelSpec& spec) {
  return gpu_merge_kernel_ptx(lower::lower(spec));
}

}  // namespace keops::jit
