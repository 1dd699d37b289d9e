// The lowering pipeline (see kernel_plan.h): exp_scale, split by dependency, dimension
// tiles, column groups, then the launch layout and the kernel's parameters.
#include <algorithm>

#include <llvm/IR/LLVMContext.h>

#include "compiler/codegen/formula_emitter.h"
#include "compiler/codegen/nvptx_dim_tiles.h"
#include "compiler/codegen/nvptx_kernel_parts.h"
#include "compiler/codegen/reductions.h"
#include "compiler/ir/verifier.h"
#include "compiler/lower/kernel_plan.h"
#include "compiler/passes/exp_scale.h"
#include "compiler/passes/simplify.h"

namespace keops::lower {
namespace {

using codegen::KernelSpec;

constexpr int kBlockThreads = 256;
constexpr int kMinBlockThreads = 64;
constexpr int kMaxBlockThreads = 1024;  // CUDA's limit

// Dynamic shared memory a block may take: half of what sm_80 and later let a block opt into
// (so that two blocks share a multiprocessor), the default limit before them.
int64_t shared_budget(int sm) { return sm >= 80 ? 96 * 1024 : 48 * 1024; }

// Products of rows longer than a GPU thread unrolls are dimension-tiled (nvptx_dim_tiles.h).
// Shorter rows are staged whole: on an H100, tiles took gauss_D128_E16 at 1e5 from 230 to
// 534 ms, gauss_D64_E16 from 79 to 212 ms; gauss_D1000 went from 13.2 s to 1.55 s.
constexpr int64_t kDimTiledFrom = codegen::FormulaEmitter::kGpuStreamDim + 1;

// Rows from which the matrix units take a product under MatrixUnits::Auto: those the CUDA
// cores' kernel dimension-tiles too, whose pair loop the matrix units then only shorten.
// Shorter rows are staged whole, and their pair loop reads the other reduced-row values
// (b, v) from shared memory, where the dimension-tiled loop reads them from global memory
// per pair: there the matrix units lose (bench/logs/2026-12-07-h100-matrix-units.jsonl).
constexpr int64_t kMatrixUnitsFrom = kDimTiledFrom;

// The one product the matrix units would take: float32 on sm_80 and later, one output row
// per thread, a single product of rows of at least kMatrixUnitsFrom (any length when forced).
passes::DimTiles matrix_unit_tiles(const KernelSpec& spec, const std::vector<ir::Expr>& roots) {
  const codegen::GpuTarget& gpu = spec.gpu();
  if (gpu.matrix_units == codegen::MatrixUnits::Off || spec.dtype != ir::DType::F32 ||
      gpu.sm < 80 || gpu.rows_per_thread != 1)
    return {};
  const int64_t from = gpu.matrix_units == codegen::MatrixUnits::On ? 1 : kMatrixUnitsFrom;
  passes::DimTiles tiles = passes::find_dim_tiles(roots, spec.outer_cat(), spec.inner_cat(), from);
  if (tiles.products.size() != 1) return {};
  return tiles;
}

int element_bytes(const KernelSpec& spec) { return spec.dtype == ir::DType::F32 ? 4 : 8; }

// The values of a reduction state of spec's (grouped) formula.
std::vector<llvm::Type*> state_types(llvm::LLVMContext& ctx, const KernelSpec& spec,
                                     const KernelSpec& element) {
  return codegen::make_reduction_emitter(spec)->state_types(codegen::element_type(ctx, element));
}

void verify_all(const std::vector<ir::Expr>& roots) {
  for (ir::Expr e : roots) ir::verify(e);
}

// The staged formulas of a GPU plan and the block size their tile allows.
void stage(KernelPlan& plan) {
  const KernelSpec& spec = plan.spec;
  std::vector<ir::Expr> roots{spec.formula};
  if (spec.reduction.formula2) roots.push_back(spec.reduction.formula2);
  plan.gpu.block_threads = kBlockThreads;
  plan.tiles = matrix_unit_tiles(spec, roots);
  plan.gpu.matrix_units = plan.dim_tiled();
  if (!plan.dim_tiled() && spec.gpu().rows_per_thread == 1)
    plan.tiles = passes::find_dim_tiles(roots, spec.outer_cat(), spec.inner_cat(), kDimTiledFrom);
  if (plan.dim_tiled()) {
    plan.staged = {roots, {}};
    return;
  }
  const std::vector<ir::Expr> scaled = spec.dtype == ir::DType::F32 && spec.gpu().fast_math
                                           ? passes::fold_exp_scale(*plan.ctx, roots)
                                           : roots;
  if (scaled != roots) verify_all(scaled);
  plan.staged =
      passes::stage_reduced_only(*plan.ctx, scaled, spec.inner_cat(), int(spec.args.size()));
  if (!plan.staged.staged.empty()) {
    verify_all(plan.staged.roots);
    verify_all(plan.staged.staged);
  }
  int staged_values = 0;
  for (ir::Expr e : plan.staged.staged) staged_values += e->dim;
  const int64_t row_bytes = int64_t(staged_values) * element_bytes(spec);
  const int64_t budget = shared_budget(spec.gpu().sm);
  int& block_threads = plan.gpu.block_threads;
  while (block_threads > kMinBlockThreads && block_threads * row_bytes > budget) block_threads /= 2;
  if (block_threads * row_bytes > budget) {
    plan.staged = {roots, {}};
    staged_values = 0;
    block_threads = kBlockThreads;
  }
  plan.gpu.staged_values = staged_values;
}

// The spec's formulas simplified (passes/simplify.h): written formulas are parsed as they are
// written; gradients were simplified as they were built, and a second pass finds nothing.
void simplify_formulas(KernelPlan& plan) {
  for (ir::Expr* e : {&plan.spec.formula, &plan.spec.reduction.formula2})
    if (*e && passes::simplify(*plan.ctx, *e)) ir::verify(*e);
}

void plan_gpu(KernelPlan& plan) {
  const KernelSpec& spec = plan.spec;
  stage(plan);
  KernelSpec staged_spec = spec;  // the reduction sees the rebuilt formulas, cut to a group
  staged_spec.formula = plan.f();
  staged_spec.reduction.formula2 = plan.g();
  plan.groups = std::make_shared<const ColumnGroups>(staged_spec, plan.dim_tiled());
  llvm::LLVMContext ctx;
  GpuLayout& layout = plan.gpu;
  const int64_t row_bytes = int64_t(layout.staged_values) * element_bytes(spec);
  layout.max_block_threads =
      layout.matrix_units ? codegen::kMatrixUnitThreads
                          : max_block_threads(row_bytes, spec.gpu().sm, layout.block_threads);
  layout.rows_per_thread = spec.gpu().rows_per_thread;
  layout.element_bytes = element_bytes(spec);
  layout.column_groups = plan.groups->groups;
  layout.state_values = int(codegen::make_reduction_emitter(plan.groups->spec)
                                ->state_cells(codegen::element_type(ctx, spec)));
  layout.wide_tiles_pay = !short_pair_body(spec) && !plan.dim_tiled() && layout.column_groups == 1;
  plan.abi = reduction_kernel_abi(spec.gpu().scheme);
}

// A CPU function of `width` columns of the grouped formula.
CpuFunction cpu_function(KernelPlan& plan, int width) {
  const bool of_g = plan.spec.reduction.traits().independent_columns() == ir::ReductionColumns::OfG;
  const KernelSpec cut = cut_columns(*plan.ctx, plan.spec, of_g, width);
  return {width, cut, codegen::choose_cpu_tiling(cut)};
}

void plan_cpu(KernelPlan& plan) {
  CpuPlan& cpu = plan.cpu;
  cpu.tiling = codegen::choose_cpu_tiling(plan.spec);
  cpu.whole = {0, plan.spec, cpu.tiling};
  cpu.grouped_dim = codegen::grouped_dim(plan.spec);
  if (cpu.grouped_dim == 0) return;
  const int width = codegen::cpu_column_group(plan.spec);
  cpu.full = cpu.grouped_dim / width * width;
  if (cpu.full > 0) cpu.groups = cpu_function(plan, width);
  if (cpu.grouped_dim > cpu.full) cpu.rest = cpu_function(plan, int(cpu.grouped_dim - cpu.full));
}

}  // namespace

codegen::KernelSpec cut_columns(ir::Context& ctx, const KernelSpec& spec, bool of_g, int columns) {
  KernelSpec cut = spec;
  ir::Expr& formula = of_g ? cut.reduction.formula2 : cut.formula;
  formula = ctx.make(ir::Op::Extract, {formula}, {0, columns});
  return cut;
}

ColumnGroups::ColumnGroups(const KernelSpec& full, bool products_tiled)
    : spec(full), dim(codegen::grouped_dim(full)) {
  if (dim == 0) return;
  of_g = full.reduction.traits().independent_columns() == ir::ReductionColumns::OfG;
  auto cut_to = [&](int columns) { spec = cut_columns(ctx, full, of_g, columns); };
  cut_to(codegen::kColumnGroup);
  llvm::LLVMContext llvm_ctx;
  unsigned bits = 0;
  for (llvm::Type* t : state_types(llvm_ctx, spec, full)) bits += t->getPrimitiveSizeInBits();
  width = bits > 3 * 32 * codegen::kColumnGroup ? codegen::kColumnGroup / 2 : codegen::kColumnGroup;
  // Each group computes the dimension-tiled products again: with one register of state per
  // column, twice as many columns (the gradient of gauss_D1000 w.r.t. x at 2e4 on an H100:
  // 2.28 s with groups of 32 columns, 1.26 s with 64 (254 registers), 1.10 s with 96, which
  // spill 644 bytes).
  if (products_tiled && bits <= 32 * codegen::kColumnGroup) width = 2 * codegen::kColumnGroup;
  if (width != codegen::kColumnGroup) cut_to(width);
  groups = int((dim + width - 1) / width);
}

int64_t GpuLayout::shared_bytes(int threads) const {
  return int64_t(threads > 0 ? threads : block_threads) * staged_values * element_bytes;
}

bool short_pair_body(const KernelSpec& spec) {
  int arg_values = 0;
  for (const codegen::ArgLayout& a : spec.args) arg_values += a.dim;
  return arg_values <= 32;
}

bool several_rows_per_thread_pay(const KernelSpec& spec) {
  return spec.reduction.traits().family == ir::ReductionFamily::Sum && short_pair_body(spec) &&
         codegen::grouped_dim(spec) == 0;
}

int max_block_threads(int64_t shared_bytes_per_thread, int sm, int block_threads) {
  const int64_t fitting =
      shared_bytes_per_thread ? shared_budget(sm) / shared_bytes_per_thread : kMaxBlockThreads;
  return std::max(block_threads, int(std::min<int64_t>(fitting, kMaxBlockThreads) / 32 * 32));
}

KernelPlan lower(const KernelSpec& spec) {
  codegen::check_depth(spec);
  KernelPlan plan;
  plan.spec = spec;
  plan.key = spec.key();
  // The plan owns its formulas: it may outlive the caller's (process caches keep plans).
  plan.ctx = std::make_shared<ir::Context>();
  const std::vector<ir::Expr> owned = plan.ctx->adopt({spec.formula, spec.reduction.formula2});
  plan.spec.formula = owned[0];
  plan.spec.reduction.formula2 = owned[1];
  simplify_formulas(plan);
  if (spec.on_gpu())
    plan_gpu(plan);
  else
    plan_cpu(plan);
  return plan;
}

}  // namespace keops::lower
