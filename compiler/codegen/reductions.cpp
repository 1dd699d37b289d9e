// The reduction emitters of every kind of FORMULA_LANGUAGE.md, in three families.
#include "compiler/codegen/reductions.h"

#include <limits>

#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/MDBuilder.h>

#include "compiler/codegen/math.h"
#include "compiler/codegen/select_rules.h"
#include "compiler/support/check.h"
#include "keops/error.h"

namespace keops::codegen {
namespace {

using llvm::Value;

constexpr double kInf = std::numeric_limits<double>::infinity();

// The type shaped like `lanes` (a scalar or <W x _>) with elements of type `elem`.
llvm::Type* lanes_of(llvm::Type* lanes, llvm::Type* elem) {
  if (auto* vt = llvm::dyn_cast<llvm::FixedVectorType>(lanes))
    return llvm::FixedVectorType::get(elem, vt->getNumElements());
  return elem;
}

// Sum: per component of F, a running sum, or with Kahan a compensated pair (s, c) worth
// s - c. Direct and Block share the plain sum (the kernel merges Block's partial sums).
// NaN and inf propagate as IEEE addition does: Kahan resets c to 0 once s is not finite,
// else an infinite term would give c = inf - inf = NaN and poison every later sum. With
// float64_accumulator, float32 terms are widened and the state is kept in double lanes.
class SumEmitter final : public ReductionEmitter {
 public:
  SumEmitter(int dim, bool kahan, bool widen) : dim_(size_t(dim)), kahan_(kahan), widen_(widen) {}

  std::vector<llvm::Type*> state_types(llvm::Type* lanes) const override {
    llvm::Type* acc =
        widen_ ? lanes_of(lanes, llvm::Type::getDoubleTy(lanes->getContext())) : lanes;
    return std::vector<llvm::Type*>(kahan_ ? 2 * dim_ : dim_, acc);
  }
  Vals init(llvm::IRBuilderBase&, llvm::Type* lanes) const override {
    Vals zeros;
    for (llvm::Type* t : state_types(lanes)) zeros.push_back(llvm::ConstantFP::get(t, 0.0));
    return zeros;
  }
  Vals combine(llvm::IRBuilderBase& b, const Vals& state, const Vals& f,
               llvm::Value*) const override {
    Vals out = state;
    for (size_t c = 0; c < dim_; ++c) {
      Value* term = b.CreateFPExt(match_width(b, f[c], state[c]), state[c]->getType());
      add(b, out, c, term);
    }
    return out;
  }
  Vals merge(llvm::IRBuilderBase& b, const Vals& first, const Vals& second) const override {
    Vals out = first;
    for (size_t c = 0; c < dim_; ++c) add(b, out, c, value(b, second, c));
    return out;
  }
  void finalize(llvm::IRBuilderBase& b, const Vals& state, Vals& values, Vals&) const override {
    values.clear();
    for (size_t c = 0; c < dim_; ++c) {
      Value* v = value(b, state, c);
      values.push_back(widen_ ? b.CreateFPTrunc(v, lanes_of(v->getType(), b.getFloatTy())) : v);
    }
  }
  // Kahan's compensations sit after the sums: two cells per column.
  std::optional<ColumnCells> column_cells() const override {
    if (kahan_) return std::nullopt;
    return ColumnCells{0, int(dim_), false};
  }

 private:
  // The sum component c stands for.
  Value* value(llvm::IRBuilderBase& b, const Vals& state, size_t c) const {
    return kahan_ ? b.CreateFSub(state[c], state[dim_ + c]) : state[c];
  }
  // state[c] += x, compensated with state[dim + c] under Kahan.
  void add(llvm::IRBuilderBase& b, Vals& state, size_t c, Value* x) const {
    if (!kahan_) {
      state[c] = b.CreateFAdd(state[c], x);
      return;
    }
    Value* s = state[c];
    Value* y = b.CreateFSub(x, state[dim_ + c]);
    Value* t = b.CreateFAdd(s, y);
    Value* lost = b.CreateFSub(b.CreateFSub(t, s), y);
    Value* finite = b.CreateFCmpOLT(b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, t),
                                    llvm::ConstantFP::get(t->getType(), kInf));
    state[c] = t;
    state[dim_ + c] = b.CreateSelect(finite, lost, llvm::ConstantFP::get(t->getType(), 0.0));
  }

  size_t dim_;
  bool kahan_, widen_;
};

// Max, Min, KMin and their Arg forms: per component of F, the K best values sorted best
// first (K = 1 but for the KMin forms), with their indices when the output has any.
// As in the reference (evaluator_reduce.cpp), x beats a slot when x < slot (x > slot for
// Max) or when the slot is still empty (index -1) and x is not NaN. The comparison is
// strict and terms arrive in index order (merge's second state holds the higher
// indices), so ties keep the lowest index; NaN compares false, so it is never selected;
// an infinite value still takes an empty slot with its index. Without indices the
// empty-slot rule cannot change a value (the empty slot holds that same infinity), so
// the value-only forms skip it. State: K*dim values rank-major (the output layout),
// then, when indices are kept, K*dim i64 indices in the same layout.
class SelectEmitter final : public ReductionEmitter {
 public:
  SelectEmitter(int dim, int k, bool is_max, bool values_out, bool indices_out)
      : dim_(size_t(dim)),
        k_(size_t(k)),
        rules_{is_max},
        values_out_(values_out),
        indices_out_(indices_out) {}

  std::vector<llvm::Type*> state_types(llvm::Type* lanes) const override {
    std::vector<llvm::Type*> types(k_ * dim_, lanes);
    if (indices_out_) types.resize(2 * k_ * dim_, index_lanes_of(lanes));
    return types;
  }
  Vals init(llvm::IRBuilderBase&, llvm::Type* lanes) const override {
    Vals state;
    for (llvm::Type* t : state_types(lanes))
      state.push_back(t->isFPOrFPVectorTy() ? rules_.empty_value(t) : empty_index(t));
    return state;
  }
  Vals combine(llvm::IRBuilderBase& b, const Vals& state, const Vals& f,
               llvm::Value* index) const override {
    Vals out = state;
    for (size_t c = 0; c < dim_; ++c)
      insert(b, out, c, {match_width(b, f[c], state[c]), indices_out_ ? index : nullptr});
    return out;
  }
  // Only a term that beats the last slot of some component is kept: once the slots are
  // full that is rare (K/j for random data), so kernels branch around the insertion.
  Value* may_change(llvm::IRBuilderBase& b, const Vals& state, const Vals& f) const override {
    Value* any = nullptr;
    for (size_t c = 0; c < dim_; ++c) {
      const Entry last = slot(state, k_ - 1, c);
      Value* wins = rules_.may_beat(b, match_width(b, f[c], last.value), last.value);
      any = any ? b.CreateOr(any, wins) : wins;
    }
    return any;
  }
  // With indices, the empty-slot rule costs an index test per slot. Empty slots are the
  // last ones (an entry never moves behind an empty slot), so once the last slot of every
  // component is full in every lane, a plain strict comparison decides the same.
  Value* needs_full_combine(llvm::IRBuilderBase& b, const Vals& state, const Vals&) const override {
    if (!indices_out_) return nullptr;
    Value* any = nullptr;
    for (size_t c = 0; c < dim_; ++c) {
      Value* empty = is_empty(b, slot(state, k_ - 1, c).index);
      any = any ? b.CreateOr(any, empty) : empty;
    }
    return any;
  }
  Vals fast_combine(llvm::IRBuilderBase& b, const Vals& state, const Vals& f,
                    llvm::Value* index) const override {
    Vals out = state;
    for (size_t c = 0; c < dim_; ++c)
      insert(b, out, c, {match_width(b, f[c], state[c]), index}, /*full=*/true);
    return out;
  }
  bool exact() const override { return true; }
  // Inserting the second state's entries in rank order keeps its ties after the first's.
  Vals merge(llvm::IRBuilderBase& b, const Vals& first, const Vals& second) const override {
    Vals out = first;
    for (size_t c = 0; c < dim_; ++c)
      for (size_t r = 0; r < k_; ++r)
        insert(b, out, c,
               {second[r * dim_ + c], indices_out_ ? second[index_slot(r, c)] : nullptr});
    return out;
  }
  void finalize(llvm::IRBuilderBase&, const Vals& state, Vals& values,
                Vals& indices) const override {
    const auto values_end = state.begin() + long(k_ * dim_);
    if (values_out_) values.assign(state.begin(), values_end);
    if (indices_out_) indices.assign(values_end, state.end());
  }

 private:
  // A candidate or a slot: a value and its index (null when indices are not kept).
  struct Entry {
    Value* value;
    Value* index;
  };

  size_t index_slot(size_t rank, size_t c) const { return k_ * dim_ + rank * dim_ + c; }
  Entry slot(const Vals& state, size_t rank, size_t c) const {
    return {state[rank * dim_ + c], indices_out_ ? state[index_slot(rank, c)] : nullptr};
  }

  // A branch-free insertion into component c's sorted slots: slot r takes slot r-1's entry
  // where x beats both, x where it beats slot r only, and keeps its own entry elsewhere.
  // full: no slot of component c is empty.
  void insert(llvm::IRBuilderBase& b, Vals& state, size_t c, const Entry& x,
              bool full = false) const {
    std::vector<Entry> old(k_);
    std::vector<Value*> wins(k_);
    for (size_t r = 0; r < k_; ++r) {
      old[r] = slot(state, r, c);
      wins[r] = rules_.beats(b, x.value, x.index, old[r].value, old[r].index, full);
    }
    for (size_t r = 0; r < k_; ++r) {
      Entry incoming = x;
      if (r > 0)
        incoming = {b.CreateSelect(wins[r - 1], old[r - 1].value, x.value),
                    x.index ? b.CreateSelect(wins[r - 1], old[r - 1].index, x.index) : nullptr};
      state[r * dim_ + c] = b.CreateSelect(wins[r], incoming.value, old[r].value);
      if (x.index) state[index_slot(r, c)] = b.CreateSelect(wins[r], incoming.index, old[r].index);
    }
  }

  size_t dim_, k_;
  SelectRules rules_;
  bool values_out_, indices_out_;
};

// The shifted-exponential forms, F scalar. State (m, s_1..s_n): m = max_j F_j and
// s_w = sum_j exp(F_j - m) W_wj, with weights W of 1 (LogSumExp, Max_SumShiftExp, the
// normalizer of SumSoftMaxWeight) or G's components. A term is the one-term state
// (F_j, W_j), so combine is a merge, and a merge costs one exp:
//   e = exp(-|m1 - m2|),  s = m2 > m1 ? s1 e + s2 : s1 + s2 e,  m = max(m1, m2),
// where e = 1 exactly when m1 == m2 (the reference counts F_j == m as 1, and an infinite
// m gives no inf - inf), and m is NaN once either is (then e, hence s, is NaN too).
class ShiftedExpEmitter final : public ReductionEmitter {
 public:
  // With G (g_dim > 0) its components weigh the sums; unweighted sums, and the normalizer of
  // Normalized outputs, weigh 1.
  ShiftedExpEmitter(ir::ReductionYield yields, int g_dim) : yields_(yields), weighted_(g_dim > 0) {
    if (!weighted_ || yields_ == ir::ReductionYield::Normalized) weights_.push_back(kUnitWeight);
    for (int c = 0; c < g_dim; ++c) weights_.push_back(c);
  }

  std::vector<llvm::Type*> state_types(llvm::Type* lanes) const override {
    return std::vector<llvm::Type*>(1 + weights_.size(), lanes);
  }
  Vals init(llvm::IRBuilderBase&, llvm::Type* lanes) const override {
    Vals state(1 + weights_.size(), llvm::ConstantFP::get(lanes, 0.0));
    state[0] = llvm::ConstantFP::get(lanes, -kInf);
    return state;
  }
  Vals combine(llvm::IRBuilderBase& b, const Vals& state, const Vals& f,
               llvm::Value*) const override {
    return merge(b, state, term(b, state, f));
  }
  // A block starts from (m, 0) with the total's m, the state of no terms shifted by m:
  // the merge of equal m's adds the sums, and the block's terms take the fast path below
  // as soon as they stay under the running max (a NaN m stays NaN through the merge).
  Vals block_init(llvm::IRBuilderBase& b, llvm::Type* lanes, const Vals& total) const override {
    Vals state = init(b, lanes);
    state[0] = total[0];
    return state;
  }
  // Once m is set, a term F < m is the common case: it leaves m as it is and adds
  // exp(F - m) W to each s, the very bits merge gives there (F - m = -|m - F| exactly, as
  // rounding is symmetric, and W * e is e for W = 1). Every other term (F >= m, NaN, or
  // m still -inf) takes the full merge.
  Value* needs_full_combine(llvm::IRBuilderBase& b, const Vals& state,
                            const Vals& f) const override {
    return b.CreateNot(b.CreateFCmpOLT(match_width(b, f[0], state[0]), state[0]));
  }
  Vals fast_combine(llvm::IRBuilderBase& b, const Vals& state, const Vals& f,
                    llvm::Value*) const override {
    Value* m = state[0];
    Value* e = emit_exp(b, b.CreateFSub(match_width(b, f[0], m), m));
    Vals out{m};
    for (size_t w = 0; w < weights_.size(); ++w) {
      Value* term = weights_[w] == kUnitWeight
                        ? e
                        : b.CreateFMul(match_width(b, f[size_t(1 + weights_[w])], m), e);
      out.push_back(b.CreateFAdd(state[1 + w], term));
    }
    return out;
  }
  // The full path's terms are not below m (or NaN), the case merge_rising covers.
  Vals full_combine(llvm::IRBuilderBase& b, const Vals& state, const Vals& f,
                    llvm::Value*) const override {
    return merge_rising(b, state, term(b, state, f));
  }
  Vals merge(llvm::IRBuilderBase& b, const Vals& first, const Vals& second) const override {
    Value *m1 = first[0], *m2 = second[0];
    Value* second_higher = b.CreateFCmpOGT(m2, m1);
    Value* e = shift_factor(b, m1, m2);
    Vals out{max_shift(b, m1, m2)};
    // s1 e + s2 or s2 e + s1 (the same bits as s1 + s2 e): the operands are chosen, not
    // the results, so that one product per component is computed and kept live.
    for (size_t w = 1; w < first.size(); ++w) {
      Value* scaled = b.CreateSelect(second_higher, first[w], second[w]);
      Value* kept = b.CreateSelect(second_higher, second[w], first[w]);
      out.push_back(b.CreateFAdd(b.CreateFMul(scaled, e), kept));
    }
    return out;
  }
  // A block's m starts at the total's and never falls.
  Vals merge_block(llvm::IRBuilderBase& b, const Vals& total, const Vals& block) const override {
    return merge_rising(b, total, block);
  }
  void finalize(llvm::IRBuilderBase& b, const Vals& state, Vals& values, Vals&) const override {
    llvm::Type* t = state[0]->getType();
    Value* zero = llvm::ConstantFP::get(t, 0.0);
    values.clear();
    switch (yields_) {
      case ir::ReductionYield::LogOfSum:
        // m + log(s), where s = 0 (an empty range, or weights summing to 0) gives -inf.
        for (size_t w = 1; w < state.size(); ++w)
          values.push_back(b.CreateSelect(b.CreateFCmpOEQ(state[w], zero),
                                          llvm::ConstantFP::get(t, -kInf),
                                          b.CreateFAdd(state[0], emit_log(b, state[w]))));
        break;
      case ir::ReductionYield::Normalized:
        // The normalizer s_1 is >= 1 (or NaN) unless the range is empty: then 0, and the
        // output is the empty sum 0.
        for (Value* q : emit_divide_all(b, Vals(state.begin() + 2, state.end()), state[1]))
          values.push_back(b.CreateSelect(b.CreateFCmpOEQ(state[1], zero), zero, q));
        break;
      default:  // MaxAndSum: the raw (m, s) state.
        values = state;
    }
  }
  // The columns of G, after m (and SumSoftMaxWeight's normalizer, which every output
  // divides by). Max_SumShiftExpWeight outputs m itself, LogSumExp has one column.
  std::optional<ColumnCells> column_cells() const override {
    if (yields_ == ir::ReductionYield::Normalized)
      return ColumnCells{2, int(weights_.size()) - 1, true};
    if (yields_ == ir::ReductionYield::LogOfSum && weighted_)
      return ColumnCells{1, int(weights_.size()), true};
    return std::nullopt;
  }

 private:
  static constexpr int kUnitWeight = -1;  // in weights_: a weight of 1, else G's component

  // The one-term state (F, W) of f.
  Vals term(llvm::IRBuilderBase& b, const Vals& state, const Vals& f) const {
    Vals one{match_width(b, f[0], state[0])};
    for (int w : weights_)
      one.push_back(w == kUnitWeight ? llvm::ConstantFP::get(state[0]->getType(), 1.0)
                                     : match_width(b, f[size_t(1 + w)], state[0]));
    return one;
  }
  // exp(-|m1 - m2|), exactly 1 where m1 == m2.
  static Value* shift_factor(llvm::IRBuilderBase& b, Value* m1, Value* m2) {
    Value* gap = b.CreateFNeg(b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, b.CreateFSub(m1, m2)));
    return b.CreateSelect(b.CreateFCmpOEQ(m1, m2), llvm::ConstantFP::get(m1->getType(), 1.0),
                          emit_exp(b, gap));
  }
  // max(m1, m2), NaN where either is; m1 where they are equal (-0 and +0).
  static Value* max_shift(llvm::IRBuilderBase& b, Value* m1, Value* m2) {
    return b.CreateSelect(b.CreateOr(b.CreateFCmpOGT(m2, m1), b.CreateFCmpUNO(m2, m2)), m2, m1);
  }
  // merge's bits where m2 is not below m1 (m2 >= m1, or either NaN): m is m2 unless m1 is
  // NaN, and s1 e + s2 is merge's sum in every such case (with m1 == m2, e = 1 and s1 + s2
  // is either order's sum; with a NaN, e and so s are NaN either way). No selects per
  // component: the GPU's rare paths of SumSoftMaxWeight_D64 shrink by a third.
  static Vals merge_rising(llvm::IRBuilderBase& b, const Vals& first, const Vals& second) {
    Value *m1 = first[0], *m2 = second[0];
    Value* e = shift_factor(b, m1, m2);
    Vals out{max_shift(b, m1, m2)};
    for (size_t w = 1; w < first.size(); ++w)
      out.push_back(b.CreateFAdd(b.CreateFMul(first[w], e), second[w]));
    return out;
  }

  ir::ReductionYield yields_;
  bool weighted_;
  std::vector<int> weights_;
};

}  // namespace

StateSlots make_state_slots(llvm::IRBuilderBase& b, const std::vector<llvm::Type*>& types) {
  StateSlots slots;
  for (llvm::Type* t : types) slots.push_back(b.CreateAlloca(t));
  return slots;
}

Vals load_state(llvm::IRBuilderBase& b, const std::vector<llvm::Type*>& types,
                const StateSlots& slots) {
  Vals state;
  for (size_t k = 0; k < types.size(); ++k) state.push_back(b.CreateLoad(types[k], slots[k]));
  return state;
}

void store_state(llvm::IRBuilderBase& b, const Vals& state, const StateSlots& slots) {
  for (size_t k = 0; k < state.size(); ++k) b.CreateStore(state[k], slots[k]);
}

namespace {

// The address of cell k of `cells` (or each lane's).
llvm::Value* cell_address(llvm::IRBuilderBase& b, const StateCellsAt& cells, llvm::Value* k) {
  return b.CreateGEP(b.getInt64Ty(), cells.first, k);
}

}  // namespace

void store_cell(llvm::IRBuilderBase& b, const StateCellsAt& cells, llvm::Value* k, llvm::Value* v) {
  llvm::Value* at = cell_address(b, cells, k);
  if (cells.mask)
    b.CreateMaskedScatter(v, at, cells.align, cells.mask);
  else
    b.CreateAlignedStore(v, at, cells.align);
}

llvm::Value* load_cell(llvm::IRBuilderBase& b, const StateCellsAt& cells, llvm::Value* k,
                       llvm::Type* type) {
  llvm::Value* at = cell_address(b, cells, k);
  if (cells.mask) return b.CreateMaskedGather(type, at, cells.align, cells.mask);
  return b.CreateAlignedLoad(type, at, cells.align);
}

void ReductionEmitter::store_cells(llvm::IRBuilderBase& b, const Vals& state,
                                   const StateCellsAt& cells) const {
  for (size_t k = 0; k < state.size(); ++k) store_cell(b, cells, b.getInt64(int64_t(k)), state[k]);
}

Vals ReductionEmitter::load_cells(llvm::IRBuilderBase& b, llvm::Type* lanes,
                                  const StateCellsAt& cells) const {
  Vals state;
  const std::vector<llvm::Type*> types = state_types(lanes);
  for (size_t k = 0; k < types.size(); ++k)
    state.push_back(load_cell(b, cells, b.getInt64(int64_t(k)), types[k]));
  return state;
}

void ReductionEmitter::emit_fold(llvm::IRBuilderBase& b, const Vals& state, const Vals& f,
                                 llvm::Value* index, const std::function<void(const Vals&)>& store,
                                 bool fast_when_rare) const {
  const ReductionEmitter& reduction = *this;
  llvm::LLVMContext& ctx = b.getContext();
  llvm::Function* fn = b.GetInsertBlock()->getParent();
  auto any_lane = [&](Value* lanes) {
    return lanes->getType()->isVectorTy() ? b.CreateOrReduce(lanes) : lanes;
  };
  auto combine = [&](bool fast_path) {
    Value* lanes_full = fast_path ? reduction.needs_full_combine(b, state, f) : nullptr;
    if (!lanes_full) {
      store(reduction.combine(b, state, f, index));
      return;
    }
    auto* full = llvm::BasicBlock::Create(ctx, "combine.full", fn);
    auto* fast = llvm::BasicBlock::Create(ctx, "combine.fast", fn);
    auto* done = llvm::BasicBlock::Create(ctx, "combine.done", fn);
    b.CreateCondBr(any_lane(lanes_full), full, fast,
                   llvm::MDBuilder(ctx).createBranchWeights(1, 64));
    b.SetInsertPoint(full);
    store(lanes_full->getType()->isVectorTy() ? reduction.combine(b, state, f, index)
                                              : reduction.full_combine(b, state, f, index));
    b.CreateBr(done);
    b.SetInsertPoint(fast);
    store(reduction.fast_combine(b, state, f, index));
    b.CreateBr(done);
    b.SetInsertPoint(done);
  };
  Value* lanes_changed = reduction.may_change(b, state, f);
  if (!lanes_changed) {
    combine(true);
    return;
  }
  auto* update = llvm::BasicBlock::Create(ctx, "combine", fn);
  auto* done = llvm::BasicBlock::Create(ctx, "combined", fn);
  b.CreateCondBr(any_lane(lanes_changed), update, done,
                 llvm::MDBuilder(ctx).createBranchWeights(1, 16));
  b.SetInsertPoint(update);
  combine(fast_when_rare);
  b.CreateBr(done);
  b.SetInsertPoint(done);
}

bool select_in_memory(const KernelSpec& spec, int k, int dim) {
  const int64_t slots = int64_t(k) * dim;
  if (spec.on_gpu()) return k > 1 && slots > kGpuUnrolledSelectSlots;
  return k > kUnrolledSelectK || slots > kUnrolledSelectSlots;
}

namespace {

// keops::Error where a GPU thread could not keep a selection's slots in its local memory.
void check_gpu_slots(const KernelSpec& spec, int k, int dim, bool indices) {
  if (!select_in_memory(spec, k, dim) || !spec.on_gpu()) return;
  const int64_t bytes =
      int64_t(k) * dim * ((spec.dtype == ir::DType::F32 ? 4 : 8) + (indices ? 8 : 0));
  if (bytes <= kGpuMaxSelectBytes) return;
  throw Error("the reduction " + std::string(ir::reduction_name(spec.reduction.kind)) +
              " keeps K x dim(F) = " + std::to_string(k) + " x " + std::to_string(dim) +
              " values per row, " + std::to_string(bytes / 1024) +
              " KB; on the GPU, where a thread keeps them in its local memory, at most " +
              std::to_string(kGpuMaxSelectBytes / 1024) +
              " KB are supported: run it on the CPU (Options::backend = Backend::CPU)");
}

}  // namespace

std::unique_ptr<ReductionEmitter> make_reduction_emitter(const KernelSpec& spec) {
  const int dim = spec.formula->dim;
  spec.reduction.check(dim);
  const ir::ReductionTraits& t = spec.reduction.traits();
  switch (t.family) {
    case ir::ReductionFamily::Sum:
      return std::make_unique<SumEmitter>(dim, spec.sum_scheme == SumScheme::Kahan,
                                          spec.float64_accumulator && spec.dtype == ir::DType::F32);
    case ir::ReductionFamily::Select: {
      const int k = t.slots == ir::ReductionSlots::K ? spec.reduction.k : 1;
      const bool is_max = t.best == ir::ReductionBest::Highest;
      check_gpu_slots(spec, k, dim, t.yields_indices());
      if (select_in_memory(spec, k, dim))
        return make_in_memory_select(dim, k, is_max, t.yields_values(), t.yields_indices());
      return std::make_unique<SelectEmitter>(dim, k, is_max, t.yields_values(), t.yields_indices());
    }
    case ir::ReductionFamily::ShiftedExp:
      return std::make_unique<ShiftedExpEmitter>(
          t.yields, spec.reduction.formula2 ? spec.reduction.formula2->dim : 0);
  }
  KEOPS_CHECK(false, "a reduction family without an emitter");
  return nullptr;
}

}  // namespace keops::codegen
