// Reductions as four IR emitters (init, combine, merge, finalize): ARCHITECTURE.md rule 4.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "compiler/codegen/formula_emitter.h"
#include "compiler/codegen/kernel_spec.h"
#include "compiler/ir/reduction.h"

namespace keops::codegen {

// A state that splits by output column, for merges done a few columns at a time (the GPU's
// merge kernels, whose code then stays short and compiles quickly): `header` cells that
// every column shares, then one cell per column. The emitter of the same reduction for W
// columns (the spec with F, or G where of_g, cut to W columns) merges and finalizes the
// state {header cells, the cells of any W columns} into those W output columns, with the
// bits that the whole state gives them.
struct ColumnCells {
  int header = 0;
  int columns = 0;
  bool of_g = false;
};

// Where a kernel keeps a state in memory between its runs (a GPU partial kernel's state for
// its merge kernel, a CPU resumable kernel's): 8-byte cells from `first` (a pointer, or one
// per lane: <W x ptr>), cell k at first + 8 k; CPU lanes are read and written under `mask`
// (null on the GPU, whose cells are a thread's own).
struct StateCellsAt {
  llvm::Value* first;
  llvm::Value* mask = nullptr;
  llvm::Align align = llvm::Align(8);
};

// Every kernel builder (CPU now, GPU later; 1-D, block, split) drives a reduction only
// through these four functions, so the schemes cannot disagree. The state is a list of
// values, each of a type from state_types(): lanes of output rows side by side.
class ReductionEmitter {
 public:
  virtual ~ReductionEmitter() = default;
  // `lanes` is the type of one lane group of values: T or <W x T>.
  virtual std::vector<llvm::Type*> state_types(llvm::Type* lanes) const = 0;
  virtual Vals init(llvm::IRBuilderBase& b, llvm::Type* lanes) const = 0;
  // Folds one term: f holds F's components then G's (formula2, for the weighted forms);
  // scalars among them are broadcast. index is the reduced index as i64 lanes.
  virtual Vals combine(llvm::IRBuilderBase& b, const Vals& state, const Vals& f,
                       llvm::Value* index) const = 0;
  // The lanes (i1 or <W x i1>) where combining f could change the state (a superset of
  // them will do), or null when any term may. Where it is given, kernels skip combine for
  // terms no lane would keep.
  virtual llvm::Value* may_change(llvm::IRBuilderBase&, const Vals& /*state*/,
                                  const Vals& /*f*/) const {
    return nullptr;
  }
  // The state a block of terms starts from, given the running total before it (of the
  // lower indices): the block's final state, merged into that total, must stand for the
  // same terms as one grown from init (up to rounding). By default init.
  virtual Vals block_init(llvm::IRBuilderBase& b, llvm::Type* lanes, const Vals& /*total*/) const {
    return init(b, lanes);
  }
  // An optional fast path: the lanes (i1 or <W x i1>) where fast_combine may differ from
  // combine, or null when there is no fast path. Where it is given, kernels call
  // fast_combine when no lane needs the full combine.
  virtual llvm::Value* needs_full_combine(llvm::IRBuilderBase&, const Vals& /*state*/,
                                          const Vals& /*f*/) const {
    return nullptr;
  }
  // combine's result wherever needs_full_combine is false (only called then).
  virtual Vals fast_combine(llvm::IRBuilderBase& b, const Vals& state, const Vals& f,
                            llvm::Value* index) const {
    return combine(b, state, f, index);
  }
  // combine's result where needs_full_combine is true (only called then, on one lane: with
  // several, the lanes that take the full path together need not all need it).
  virtual Vals full_combine(llvm::IRBuilderBase& b, const Vals& state, const Vals& f,
                            llvm::Value* index) const {
    return combine(b, state, f, index);
  }
  // True when the state is exact (selections): summing in blocks then gains nothing.
  virtual bool exact() const { return false; }
  // Combines two states over disjoint index ranges, `first` the lower one.
  virtual Vals merge(llvm::IRBuilderBase& b, const Vals& first, const Vals& second) const = 0;
  // merge's result where `second` started from block_init(first) (a block folded into the
  // running total before it).
  virtual Vals merge_block(llvm::IRBuilderBase& b, const Vals& total, const Vals& block) const {
    return merge(b, total, block);
  }
  // The output row: value_cols values (lane type) and index_cols indices (i64 lanes).
  virtual void finalize(llvm::IRBuilderBase& b, const Vals& state, Vals& values,
                        Vals& indices) const = 0;
  // Where the state keeps the finalized output in memory (a selection of many slots,
  // make_in_memory_select): output column c (an i64 at run time) of its values or indices,
  // so that kernels store a long output in a loop. Null otherwise: kernels store finalize's.
  virtual llvm::Value* value_column(llvm::IRBuilderBase&, const Vals& /*state*/,
                                    llvm::Value* /*c*/) const {
    return nullptr;
  }
  virtual llvm::Value* index_column(llvm::IRBuilderBase&, const Vals& /*state*/,
                                    llvm::Value* /*c*/) const {
    return nullptr;
  }
  virtual bool output_in_memory() const { return false; }
  // A state kept in memory (StateCellsAt): state_cells() cells of 8 bytes, a state value
  // each by default; a selection whose slots are in memory keeps their values and indices.
  virtual int64_t state_cells(llvm::Type* lanes) const {
    return int64_t(state_types(lanes).size());
  }
  virtual void store_cells(llvm::IRBuilderBase& b, const Vals& state,
                           const StateCellsAt& cells) const;
  virtual Vals load_cells(llvm::IRBuilderBase& b, llvm::Type* lanes,
                          const StateCellsAt& cells) const;
  // How the state splits by output column, where it does (see ColumnCells).
  virtual std::optional<ColumnCells> column_cells() const { return std::nullopt; }

  // Folds f into `state` at b's position, as every kernel does: around the combine when
  // may_change says no lane keeps f, through fast_combine when no lane needs the full one
  // (under may_change too only with fast_when_rare: a GPU thread's rare combine is better
  // whole, its two paths only growing the pair loop: knn_D3 at 1e6 on an H100 went from
  // 448 to 537 ms with both). `store` receives the new state on each path taken; b is left
  // after them. Branches are weighted as rare (a term kept, a full combine).
  void emit_fold(llvm::IRBuilderBase& b, const Vals& state, const Vals& f, llvm::Value* index,
                 const std::function<void(const Vals&)>& store, bool fast_when_rare = true) const;
};

// A state held in allocas (promoted to registers by SROA), one per value of `types`, made
// at b's position; its values loaded and stored, in order.
using StateSlots = std::vector<llvm::AllocaInst*>;
StateSlots make_state_slots(llvm::IRBuilderBase& b, const std::vector<llvm::Type*>& types);
Vals load_state(llvm::IRBuilderBase& b, const std::vector<llvm::Type*>& types,
                const StateSlots& slots);
void store_state(llvm::IRBuilderBase& b, const Vals& state, const StateSlots& slots);

// The largest K, and K x dim(F), of a CPU kernel's selection kept unrolled in registers;
// larger ones are kept in memory (make_in_memory_select), whose loops compile in constant
// time and ran faster from K = 16 on (ArgKMin, 2e4 points of dimension 3, AVX-512: K = 16
// 33 ms against 43, 64 162 against 438; K = 10 21 against 22, within noise, stays unrolled).
// Max and Min of long vectors (K = 1, in column groups) stay unrolled. A GPU kernel unrolls
// Max and Min of any length (a register per column), and KMin's forms up to
// kGpuUnrolledSelectSlots slots K x dim(F), in registers (ArgKMin K = 32: 175 registers, no
// spill; 48 spills to local memory anyway); the unrolled PTX and ptxas grow as the square
// (K = 256: 6.4 s, 1024: 86 s and 3.4 GB). Past it, the slots are in the thread's local
// memory, at most kGpuMaxSelectBytes of them (the driver reserves a thread's local memory for
// every thread the GPU can hold: 16 KB a thread are 4.4 GB on an H100).
inline constexpr int kUnrolledSelectK = 12;
inline constexpr int kUnrolledSelectSlots = 1024;
inline constexpr int kGpuUnrolledSelectSlots = 32;
inline constexpr int64_t kGpuMaxSelectBytes = 16 << 10;
bool select_in_memory(const KernelSpec& spec, int k, int dim);

// Max, Min, KMin and their Arg forms (as SelectEmitter) with their slots in memory and each
// insertion a loop over them.
std::unique_ptr<ReductionEmitter> make_in_memory_select(int dim, int k, bool is_max,
                                                        bool values_out, bool indices_out);

// A state value stored to, or loaded from, cell k (an i64) of `cells`.
void store_cell(llvm::IRBuilderBase& b, const StateCellsAt& cells, llvm::Value* k, llvm::Value* v);
llvm::Value* load_cell(llvm::IRBuilderBase& b, const StateCellsAt& cells, llvm::Value* k,
                       llvm::Type* type);

// The emitter of spec.reduction for spec.formula (and spec.reduction.formula2), with the
// sum scheme and accumulator of the spec. keops::Error when the reduction does not fit F
// (ir::ReductionSpec::check).
std::unique_ptr<ReductionEmitter> make_reduction_emitter(const KernelSpec& spec);

}  // namespace keops::codegen
