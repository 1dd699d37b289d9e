// KernelSpec: everything that determines a kernel's code; its key is the cache key.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "compiler/ir/node.h"
#include "compiler/ir/reduction.h"

namespace keops::codegen {

// One argument position as the kernel sees it.
struct ArgLayout {
  int dim;
  ir::Cat cat;
};

// The x86-64 CPU a kernel is compiled for (the host unless a test or keopsc names one).
struct CpuTarget {
  std::string triple;
  std::string cpu;        // LLVM CPU name: znver5, skylake-avx512, haswell, x86-64, ...
  std::string features;   // LLVM feature string, "+avx2,+fma,..."
  int vector_bits = 128;  // widest vector register the kernel uses
  // A kernel that resumes reductions from saved states and can save them instead of
  // finalizing (cpu_kernel.h): a reduction over the reduced rows a part at a time.
  bool resumable = false;

  static CpuTarget host();
  // A named LLVM CPU with its default features; keops::Error for an unknown name.
  static CpuTarget named(const std::string& cpu);
};

// How a GPU kernel covers the output rows and the reduced axis (nvptx_kernel.h).
enum class GpuScheme {
  Dense,        // each block: rows_per_thread rows a thread, over the whole reduced axis
  BlockSparse,  // each block: a work item, rows of a cluster over that cluster's ranges
  Partial,      // each block: a slice of the reduced axis into partial states (the 2-D
                // scheme), with a merge kernel in the same module
};

// Whether float32 products of an output row and a reduced row (SqDist, Scalprod) run on
// the matrix units (tensor cores, sm_80 and later; nvptx_dim_tiles.h): Auto where the rows
// are long enough for them to pay, On wherever the kernel has one such product, Off never.
enum class MatrixUnits { Off, Auto, On };
// How the matrix units multiply float32 values: Split3 takes each as a high and a low TF32
// part (three products: float32's accuracy), TF32 rounds each to TF32 once (one product,
// 10 mantissa bits).
enum class MatmulPrecision { Split3, TF32 };

// The NVIDIA GPU a kernel is compiled for, as PTX.
struct GpuTarget {
  int sm = 90;            // sm_<sm>: 90 for an H100
  bool fast_math = true;  // float32 math on the hardware approximations (math.h)
  GpuScheme scheme = GpuScheme::Dense;
  // Output rows per thread of a Dense kernel: reduced rows read from shared memory, and the
  // loop's own instructions, then serve that many pairs. 1 for the other schemes.
  int rows_per_thread = 1;
  MatrixUnits matrix_units = MatrixUnits::Off;
  MatmulPrecision matmul_precision = MatmulPrecision::Split3;
};

// What a kernel is compiled for: a CPU (its block-sparse ranges are always among the
// kernel's parameters) or a GPU.
using KernelTarget = std::variant<CpuTarget, GpuTarget>;

// How a kernel's arrays (its arguments and its output values) hold their values: in its
// dtype, or as 16-bit floats (IEEE float16 or bfloat16, float32 kernels only) that it widens
// to float32 as it loads them, and to which it rounds its outputs. States, partial states
// included, stay in float32.
enum class Storage : uint8_t { Native, F16, BF16 };
std::string_view storage_name(Storage s);  // "native", "float16", "bfloat16"

// How Sum-like reductions accumulate: Direct (one running sum), Block (sums of
// block_size terms merged into the total), Kahan (compensated running sum).
enum class SumScheme { Direct, Block, Kahan };

struct KernelSpec {
  ir::Expr formula = nullptr;  // F, after passes
  ir::ReductionSpec reduction;
  int axis = 1;  // 1: one output row per i, reduce over j; 0: the other way
  ir::DType dtype = ir::DType::F32;
  Storage storage = Storage::Native;
  std::vector<ArgLayout> args;  // by position
  KernelTarget target;
  SumScheme sum_scheme = SumScheme::Block;
  // Reduced indices per block when sum_scheme == Block. 0: automatic (on the CPU, the
  // square root of each reduced range's length, at least 16, for sums; none for
  // selections, whose merge is exact); > 0 forces that size on every reduction.
  int64_t block_size = 0;
  bool float64_accumulator = false;  // float32 sums accumulated in float64

  bool on_gpu() const { return std::holds_alternative<GpuTarget>(target); }
  // The target, which must be of that kind (an internal error otherwise).
  const CpuTarget& cpu() const;
  const GpuTarget& gpu() const;
  GpuTarget& gpu();

  ir::Cat outer_cat() const { return axis == 1 ? ir::CatI : ir::CatJ; }
  ir::Cat inner_cat() const { return axis == 1 ? ir::CatJ : ir::CatI; }
  int value_cols() const { return reduction.value_cols(formula->dim); }
  int index_cols() const { return reduction.index_cols(formula->dim); }
  // A canonical text of every field that changes the generated code, the compiler
  // version included; equal keys mean interchangeable kernels.
  std::string key() const;
  // A 64-bit digest of key(), for symbol names.
  uint64_t key_hash() const;
};

// The 64-bit digest of a key (KernelSpec::key_hash).
uint64_t key_digest(const std::string& key);

// Long outputs of reductions whose output columns are independent (Sum, Max, Min and their
// Arg forms over F's components, SumSoftMaxWeight over G's) are computed a group of
// kColumnGroup columns at a time (more where every group would compute long products again:
// cpu_column_group, lower/kernel_plan.h's ColumnGroups), each group a pass over the reduced
// rows: the state stays in registers, and the code does not grow with the dim (each group's
// components are streamed from F's or G's arguments, formula_emitter.h).
inline constexpr int kColumnGroup = 32;

// The grouped formula's dim (F's, or G's for SumSoftMaxWeight) when it is longer than
// FormulaEmitter::kCpuStreamDim on the CPU, kGpuGroupedDim on the GPU; else 0: the output
// is computed whole. A GPU thread holds more in registers: on an H100, attention_D64
// (SumSoftMaxWeight, G of dim 64) took 4.4 ms unrolled and 5.1 ms in two groups, each
// computing F again.
inline constexpr int64_t kGpuGroupedDim = 64;
int64_t grouped_dim(const KernelSpec& spec);

// The deepest formula a kernel is built for: emission walks the formula recursively, about
// 300 bytes of stack a level, so 10,000 levels stay within 3 MB. keops::Error beyond (the
// parser caps written formulas at 2,000; derivatives are a few times deeper).
inline constexpr int64_t kMaxEmittedDepth = 10000;
void check_depth(const KernelSpec& spec);

}  // namespace keops::codegen
