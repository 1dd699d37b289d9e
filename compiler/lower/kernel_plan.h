// KernelPlan: a KernelSpec lowered once, with everything the builders and launchers read.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "compiler/codegen/cpu_kernel.h"
#include "compiler/codegen/kernel_spec.h"
#include "compiler/ir/context.h"
#include "compiler/lower/kernel_abi.h"
#include "compiler/passes/dim_tiles.h"
#include "compiler/passes/split.h"

namespace keops::lower {

// spec with F (or G, of_g) cut to its first `columns` columns, the cut made in ctx: what a
// reduction emitter of that many columns is built from.
codegen::KernelSpec cut_columns(ir::Context& ctx, const codegen::KernelSpec& spec, bool of_g,
                                int columns);

// A long output's column groups (kernel_spec.h): the spec the reduction sees, F (or G) cut
// to one group; the spec itself when the output is computed whole. Groups are kColumnGroup
// columns wide, half that when each column's state takes more than three registers
// (float64 with indices, float64 Kahan sums): 32 of those would spill; twice that in a
// kernel whose products are dimension-tiled (products_tiled) when each column's state takes
// one register.
struct ColumnGroups {
  ir::Context ctx;  // owns the cut formula
  codegen::KernelSpec spec;
  int64_t dim;        // the grouped formula's dim; 0: not grouped
  int width = 0;      // columns per group
  int groups = 1;     // ceil(dim / width)
  bool of_g = false;  // the groups cut G (SumSoftMaxWeight), not F
  ColumnGroups(const codegen::KernelSpec& full, bool products_tiled);
};

// How a GPU kernel is launched (nvptx_kernel.h gives the launch shape).
struct GpuLayout {
  int block_threads;      // threads per block, and reduced rows per shared-memory tile
  int max_block_threads;  // the most threads whose tile fits the shared memory budget
  int rows_per_thread;    // output rows per thread (GpuTarget::rows_per_thread)
  int staged_values;      // T values each reduced row leaves in shared memory
  int element_bytes;
  int column_groups = 1;  // column groups of a long output (grid.z); 1 when computed whole
  int state_values = 0;   // 8-byte cells in the state of one row and column group
  // Larger blocks, whose tiles of reduced rows take fewer barriers and stagings a pair, pay
  // more than more resident warps: pair bodies of more than 32 argument values, staged whole
  // (dimension tiles are kTileRows rows whatever the block: gauss_D1000 at 1e5 on an H100
  // took 1.65 s with 384 threads, 1.55 with 256), outputs computed whole (column groups:
  // not measured).
  bool wide_tiles_pay = false;
  // The dimension-tiled product runs on the matrix units (tiles.products has one product):
  // blocks of at most kMatrixUnitThreads threads, whose warps' tiles of products pass through
  // static shared memory.
  bool matrix_units = false;
  // Dynamic shared memory of a block of `threads` threads (block_threads by default).
  int64_t shared_bytes(int threads = 0) const;
  // Bytes of the partial states of one row in one slot (every column group).
  int64_t state_bytes() const { return int64_t(column_groups) * state_values * 8; }
};

// A pair body short enough (the arguments' values, summed, at most 32) that the loop's own
// instructions and the shared-memory loads weigh in it.
bool short_pair_body(const codegen::KernelSpec& spec);

// Whether several rows per thread (GpuTarget::rows_per_thread) may pay: sums of short pair
// bodies, whose loop and shared-memory loads weigh in each pair. Selections diverge on
// their per-row branches instead (knn_D3 at 1e6 on an H100: 448 ms with one row per
// thread, 534 with two, 1055 with four).
bool several_rows_per_thread_pay(const codegen::KernelSpec& spec);

// The most threads per block (a multiple of 32, at least block_threads) whose tiles of
// shared_bytes_per_thread each fit the shared memory budget of a block on sm_<sm>.
int max_block_threads(int64_t shared_bytes_per_thread, int sm, int block_threads);

// One function of a CPU kernel: the whole output (width 0), or a long output's columns
// [c0, c0 + width), c0 its last parameter (kernel_spec.h's column groups); the spec its
// reduction sees (F, or G, cut to its columns), and its register tiling.
struct CpuFunction {
  int width = 0;
  codegen::KernelSpec spec;
  codegen::CpuTiling tiling{1, 1};
};

// A CPU kernel: one function for the whole output, or, for a long output, a function for
// the full groups of width columns, run in a loop, and one for the rest.
struct CpuPlan {
  codegen::CpuTiling tiling{1, 1};  // the kernel's: output rows per register tile
  CpuFunction whole;                // when the output is computed whole (grouped_dim 0)
  int64_t grouped_dim = 0;
  int64_t full = 0;  // columns in full groups
  std::optional<CpuFunction> groups, rest;
};

struct KernelPlan {
  // As requested, its formulas copied into ctx and simplified (passes/simplify.h).
  codegen::KernelSpec spec;
  std::shared_ptr<ir::Context> ctx;  // owns every formula of the plan
  // The requested spec's key(): kernels are named and cached after what was asked for, not
  // after what the passes made of it.
  std::string key;

  // GPU kernels (spec.on_gpu()). The spec's formulas with their reduced-only parts cut out
  // (passes/split.h), after float32 fast math moved the scale of Gaussian exponents into the
  // points (passes/exp_scale.h): staged.roots are F (and G) as the pair loop computes them,
  // staged.staged what each reduced row leaves in shared memory. Rows too long to stage are
  // neither cut out nor scaled (that would cost multiplies per pair), and products of rows
  // longer than a thread unrolls are dimension-tiled (tiles.dim > 0, nvptx_dim_tiles.h).
  passes::StagedFormulas staged;
  passes::DimTiles tiles;
  std::shared_ptr<const ColumnGroups> groups;  // of the staged formulas
  GpuLayout gpu{};
  KernelAbi abi;  // the reduction kernel's parameters

  CpuPlan cpu;  // CPU kernels

  uint64_t key_hash() const { return codegen::key_digest(key); }  // the spec's key_hash()
  ir::Expr f() const { return staged.roots[0]; }
  ir::Expr g() const { return staged.roots.size() > 1 ? staged.roots[1] : nullptr; }
  bool dim_tiled() const { return tiles.dim > 0; }
};

// Runs the lowering pipeline on spec once (keops::Error for a formula too deep to build):
// simplify, then for the GPU exp_scale, the split by dependency, dimension tiles and column
// groups, for the CPU the tiling and column groups; verifying the IR after each pass that
// changed it.
KernelPlan lower(const codegen::KernelSpec& spec);

}  // namespace keops::lower
