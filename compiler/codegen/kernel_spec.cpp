// KernelSpec keys and CPU targets.
#include "compiler/codegen/kernel_spec.h"

#include <llvm/ADT/StringMap.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/Triple.h>
#include <llvm/TargetParser/X86TargetParser.h>

#include "compiler/codegen/formula_emitter.h"
#include "compiler/ir/printer.h"
#include "compiler/ir/traverse.h"
#include "compiler/support/check.h"
#include "keops/error.h"
#include "keops_source_digest.h"

namespace keops::codegen {
namespace {

// The version, and a digest of the sources that generate and launch kernels
// (cmake/source_digest.cmake): a cached kernel of another build is another key.
constexpr const char* kCompilerVersion = "keops-0.1.0+" KEOPS_SOURCE_DIGEST;

int vector_bits_of(const llvm::StringMap<bool>& features) {
  auto has = [&](const char* f) {
    auto it = features.find(f);
    return it != features.end() && it->second;
  };
  if (has("avx512f")) return 512;
  if (has("avx")) return 256;
  return 128;
}

std::string feature_string(const llvm::StringMap<bool>& features) {
  std::vector<std::string> list;
  for (const auto& f : features)
    list.push_back(std::string(1, f.second ? '+' : '-').append(f.first()));
  std::sort(list.begin(), list.end());
  std::string s;
  for (const auto& f : list) s += (s.empty() ? "" : ",") + f;
  return s;
}

}  // namespace

CpuTarget CpuTarget::host() {
  static const CpuTarget cached = [] {
    CpuTarget t;
    t.triple = llvm::sys::getProcessTriple();
    t.cpu = llvm::sys::getHostCPUName().str();
    llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
    t.features = feature_string(features);
    t.vector_bits = vector_bits_of(features);
    return t;
  }();
  return cached;
}

CpuTarget CpuTarget::named(const std::string& cpu) {
  llvm::SmallVector<llvm::StringRef, 64> names;
  llvm::X86::fillValidCPUArchList(names, /*Only64Bit=*/true);
  if (std::find(names.begin(), names.end(), cpu) == names.end())
    throw Error("choosing the CPU target: unknown x86-64 CPU '" + cpu + "'");
  llvm::SmallVector<llvm::StringRef, 128> enabled;
  llvm::X86::getFeaturesForCPU(cpu, enabled, /*NeedPlus=*/false);
  llvm::StringMap<bool> features;
  for (auto f : enabled) features[f] = true;
  CpuTarget t;
  t.triple = llvm::sys::getProcessTriple();
  t.cpu = cpu;
  t.features = feature_string(features);
  t.vector_bits = vector_bits_of(features);
  return t;
}

std::string_view storage_name(Storage s) {
  return s == Storage::F16 ? "float16" : s == Storage::BF16 ? "bfloat16" : "native";
}

const CpuTarget& KernelSpec::cpu() const {
  KEOPS_CHECK(!on_gpu(), "a CPU kernel's target asked of a GPU spec");
  return std::get<CpuTarget>(target);
}

const GpuTarget& KernelSpec::gpu() const {
  KEOPS_CHECK(on_gpu(), "a GPU kernel's target asked of a CPU spec");
  return std::get<GpuTarget>(target);
}

GpuTarget& KernelSpec::gpu() {
  KEOPS_CHECK(on_gpu(), "a GPU kernel's target asked of a CPU spec");
  return std::get<GpuTarget>(target);
}

std::string KernelSpec::key() const {
  std::string k = kCompilerVersion;
  k += "|F=" + ir::print_dag(formula);
  k += "|R=" + std::string(ir::reduction_name(reduction.kind)) + "," + std::to_string(reduction.k);
  if (reduction.formula2) k += "|G=" + ir::print_dag(reduction.formula2);
  k += "|axis=" + std::to_string(axis) + "|" + std::string(ir::dtype_name(dtype));
  if (storage != Storage::Native) k += "|stored=" + std::string(storage_name(storage));
  k += "|args=";
  for (const ArgLayout& a : args)
    k += std::to_string(a.dim) + ":" + std::to_string(int(a.cat)) + ",";
  if (on_gpu()) {
    const GpuTarget& g = gpu();
    k += "|nvptx|sm_" + std::to_string(g.sm) + (g.fast_math ? "|fast" : "|accurate");
    if (g.scheme == GpuScheme::BlockSparse) k += "|block-sparse";
    if (g.scheme == GpuScheme::Partial) k += "|partial";
    if (g.rows_per_thread != 1) k += "|rows=" + std::to_string(g.rows_per_thread);
    if (g.matrix_units != MatrixUnits::Off)
      k += std::string(g.matrix_units == MatrixUnits::On ? "|mma" : "|mma-auto") +
           (g.matmul_precision == MatmulPrecision::TF32 ? "-tf32" : "-split3");
  } else {
    const CpuTarget& c = cpu();
    k += "|" + c.triple + "|" + c.cpu + "|" + c.features;
    k += "|vb=" + std::to_string(c.vector_bits);
    if (c.resumable) k += "|resumable";
  }
  k += sum_scheme == SumScheme::Direct  ? "|direct"
       : sum_scheme == SumScheme::Kahan ? "|kahan"
                                        : "|block=" + std::to_string(block_size);
  if (float64_accumulator) k += "|acc64";
  return k;
}

int64_t grouped_dim(const KernelSpec& spec) {
  const int64_t longer_than = spec.on_gpu() ? kGpuGroupedDim : FormulaEmitter::kCpuStreamDim;
  switch (spec.reduction.traits().independent_columns()) {
    case ir::ReductionColumns::OfF:
      return spec.formula->dim > longer_than ? spec.formula->dim : 0;
    case ir::ReductionColumns::OfG:
      return spec.reduction.formula2->dim > longer_than ? spec.reduction.formula2->dim : 0;
    case ir::ReductionColumns::None:
      break;
  }
  return 0;
}

uint64_t key_digest(const std::string& key) {
  // FNV-1a: stable across processes, which symbol names and disk caches need.
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : key) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

uint64_t KernelSpec::key_hash() const { return key_digest(key()); }

void check_depth(const KernelSpec& spec) {
  for (ir::Expr root : {spec.formula, spec.reduction.formula2})
    if (root)
      if (const int64_t levels = ir::depth(root); levels > kMaxEmittedDepth)
        throw Error("the formula to compile is " + std::to_string(levels) +
                    " operations deep (a derivative of a deep formula?); at most " +
                    std::to_string(kMaxEmittedDepth) + " are supported");
}

}  // namespace keops::codegen
