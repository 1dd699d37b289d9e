// The CPU kernel builder: lanes over output rows, a register tile of several vectors,
// the reduced index streamed (its data broadcast), blocks of it merged into a total.
#include "compiler/codegen/cpu_kernel.h"

#include <algorithm>
#include <memory>

#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>

#include "compiler/codegen/blocked_state.h"
#include "compiler/codegen/formula_emitter.h"
#include "compiler/codegen/reductions.h"
#include "compiler/ir/context.h"
#include "compiler/lower/kernel_plan.h"
#include "compiler/passes/dim_tiles.h"
#include "compiler/support/check.h"

namespace keops::codegen {

using llvm::BasicBlock;
using llvm::Value;

CpuTiling choose_cpu_tiling(const KernelSpec& spec) {
  const int scalar_bits = spec.dtype == ir::DType::F32 ? 32 : 64;
  const int lanes = std::max(1, spec.cpu().vector_bits / scalar_bits);
  // Vector registers a copy keeps live across the reduced loop: its outer-row data and
  // its reduction state (int64 indices and float64 accumulators take more than one).
  // Several copies share each broadcast of reduced-index data; more than the register
  // file holds would spill in the hot loop.
  llvm::LLVMContext ctx;
  llvm::Type* scalar =
      spec.dtype == ir::DType::F32 ? llvm::Type::getFloatTy(ctx) : llvm::Type::getDoubleTy(ctx);
  int live = 0;
  for (llvm::Type* t : make_reduction_emitter(spec)->state_types(
           llvm::FixedVectorType::get(scalar, unsigned(lanes)))) {
    // A state in memory (a selection of many slots): one copy, whose output alone is
    // K x dim stores of lanes.
    if (t->isPointerTy()) return {lanes, 1};
    live +=
        int((t->getPrimitiveSizeInBits().getFixedValue() + unsigned(spec.cpu().vector_bits) - 1) /
            unsigned(spec.cpu().vector_bits));
  }
  // Streamed outer rows (longer than kCpuStreamDim) live in a stack buffer.
  for (const ArgLayout& a : spec.args)
    if (a.cat == spec.outer_cat() && a.dim <= FormulaEmitter::kCpuStreamDim) live += a.dim;
  const int registers = spec.cpu().vector_bits == 512 ? 32 : 16;
  const int copies = std::clamp((registers - 8) / (live + 4), 1, 4);
  return {lanes, copies};
}

namespace {

// The terms per block of a blocked sum over `count` reduced indices: ceil(sqrt(count)), as
// KeOps's CPU block sums, which bounds the rounding of a sum by ~2 sqrt(count) ulp (blocks
// of b terms give b + count / b), but at least kMinSumBlock, where the merges would cost
// more than they save. A sum of 300 float32 terms: 1.5e-7 from the float64 sum, where fixed
// blocks of 256 gave 4.5e-7 (docs/KEOPS_PARITY.md).
constexpr int64_t kMinSumBlock = 16;

Value* sum_block_size(llvm::IRBuilderBase& b, Value* count) {
  // floor(sqrt) in double, plus 1 where its square falls short: no libm call.
  Value* root =
      b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, b.CreateSIToFP(count, b.getDoubleTy()));
  Value* floor = b.CreateFPToSI(root, b.getInt64Ty());
  Value* size = b.CreateAdd(
      floor, b.CreateZExt(b.CreateICmpSLT(b.CreateMul(floor, floor), count), b.getInt64Ty()));
  return b.CreateSelect(b.CreateICmpSLT(size, b.getInt64(kMinSumBlock)), b.getInt64(kMinSumBlock),
                        size);
}

// The builder state of one function of a CPU kernel under construction (the plan's
// CpuFunction: with a width, the internal function of one group of output columns,
// [c0, c0 + width), c0 its last parameter).
class CpuKernelBuilder {
 public:
  CpuKernelBuilder(llvm::Module& m, const KernelSpec& spec, const lower::CpuFunction& function,
                   const std::string& name)
      : spec_(spec),
        ctx_(m.getContext()),
        group_width_(function.width),
        group_spec_(function.spec),
        tiling_(function.tiling) {
    T_ =
        spec.dtype == ir::DType::F32 ? llvm::Type::getFloatTy(ctx_) : llvm::Type::getDoubleTy(ctx_);
    elements_ = std::make_unique<StoredElements>(T_, spec.storage);
    i64_ = llvm::Type::getInt64Ty(ctx_);
    ptr_ = llvm::PointerType::get(ctx_, 0);
    VT_ = llvm::FixedVectorType::get(T_, unsigned(tiling_.lanes));
    IVT_ = llvm::FixedVectorType::get(i64_, unsigned(tiling_.lanes));
    std::vector<llvm::Type*> params{i64_, i64_, ptr_, i64_, ptr_, ptr_, ptr_};
    resumable_ = spec.cpu().resumable;
    KEOPS_CHECK(!resumable_ || group_width_ == 0, "a resumable kernel computes its output whole");
    if (resumable_) params.insert(params.end(), {ptr_, i64_, i64_});
    if (group_width_ > 0) params.push_back(i64_);
    auto* fty = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx_), params, false);
    fn_ = llvm::Function::Create(
        fty, group_width_ > 0 ? llvm::Function::InternalLinkage : llvm::Function::ExternalLinkage,
        name, m);
    set_attributes();
  }

  llvm::Function* build();

 private:
  void set_attributes();
  void create_blocks();
  void enter();
  void open_tile();
  void make_outer_emitters();
  void enter_range_loop();
  void enter_block_loop();
  void pair_loop();
  void close_block();
  void finish_tile();
  Vals scalar_row(llvm::IRBuilderBase& ib, ir::Expr var, Value* row) const;
  StateCellsAt cells_of(llvm::IRBuilderBase& b, Value* rows, Value* mask);
  FormulaEmitter::Row row_start(llvm::IRBuilderBase& ib, ir::Expr var, Value* row) const;
  Value* splat(Value* v) {
    return llvm::ConstantVector::getSplat(llvm::ElementCount::getFixed(unsigned(tiling_.lanes)),
                                          llvm::cast<llvm::Constant>(v));
  }
  Value* element_ptrs(llvm::IRBuilderBase& b, llvm::Type* elem, Value* base, Value* rows,
                      int64_t row_size, Value* col);
  // The argument elements at lane pointers `ptrs`, as a vector of T.
  Value* gather(llvm::IRBuilderBase& b, Value* ptrs, Value* all_lanes) const {
    auto* stored = llvm::FixedVectorType::get(elements_->stored(), unsigned(tiling_.lanes));
    return elements_->widen(b, b.CreateMaskedGather(stored, ptrs, elements_->align(), all_lanes));
  }

  const KernelSpec& spec_;
  llvm::LLVMContext& ctx_;
  int group_width_;
  const KernelSpec& group_spec_;  // what the reduction emitter sees
  CpuTiling tiling_;
  llvm::Type* T_;
  std::unique_ptr<StoredElements> elements_;  // how the arrays hold T
  llvm::IntegerType* i64_;
  llvm::PointerType* ptr_;
  llvm::FixedVectorType* VT_;
  llvm::FixedVectorType* IVT_;
  llvm::Function* fn_;

  // Built by the phases, in this order.
  llvm::IRBuilder<> b_{ctx_};
  BasicBlock *entry_, *tile_header_, *tile_body_, *range_header_, *range_body_, *block_header_,
      *block_pre_, *inner_header_, *inner_load_, *inner_pair_, *block_post_, *range_next_,
      *tile_fin_, *exit_;
  Value *out_begin_, *out_end_, *ranges_, *n_ranges_, *args_, *values_, *indices_;
  Value* first_column_ = nullptr;  // the first output column this kernel computes
  bool resumable_ = false;
  Value *states_ptr_ = nullptr, *load_ = nullptr, *finalize_ = nullptr;  // (i1 flags)
  std::unique_ptr<ReductionEmitter> reduction_;
  bool blocked_ = false;
  std::vector<BlockedState> states_;  // per copy
  std::vector<Value*> arg_ptrs_;
  std::unique_ptr<llvm::IRBuilder<>> param_b_;  // before the entry's branch
  std::unique_ptr<FormulaEmitter> param_scope_;
  llvm::PHINode* ob_ = nullptr;
  std::vector<Value*> rows_, clamped_, live_;   // each copy's lanes' rows
  std::unique_ptr<llvm::IRBuilder<>> outer_b_;  // before the tile body's branch
  std::vector<std::unique_ptr<FormulaEmitter>> outer_scopes_;
  llvm::PHINode* range_ = nullptr;
  Value *range_start_ = nullptr, *range_end_ = nullptr, *block_size_ = nullptr;
  llvm::PHINode* jb_ = nullptr;
  Value *jb_next_ = nullptr, *j_end_ = nullptr;
};

void CpuKernelBuilder::set_attributes() {
  fn_->addFnAttr("target-cpu", spec_.cpu().cpu);
  fn_->addFnAttr("target-features", spec_.cpu().features);
  // Keep the explicit vectors whole: without these, LLVM may split 512-bit vectors on
  // CPUs whose default preference is 256 bits.
  const std::string width = std::to_string(spec_.cpu().vector_bits);
  fn_->addFnAttr("prefer-vector-width", width);
  fn_->addFnAttr("min-legal-vector-width", width);
  fn_->addFnAttr(llvm::Attribute::NoUnwind);
  for (unsigned k : {2u, 4u, 5u, 6u}) fn_->addParamAttr(k, llvm::Attribute::NoAlias);
  if (resumable_) fn_->addParamAttr(7, llvm::Attribute::NoAlias);
  fn_->addParamAttr(2, llvm::Attribute::ReadOnly);
}

// Vector of pointers base + rows * row_size + col.
Value* CpuKernelBuilder::element_ptrs(llvm::IRBuilderBase& b, llvm::Type* elem, Value* base,
                                      Value* rows, int64_t row_size, Value* col) {
  Value* offsets = b.CreateAdd(b.CreateMul(rows, splat(llvm::ConstantInt::get(i64_, row_size))),
                               b.CreateVectorSplat(unsigned(tiling_.lanes), col));
  return b.CreateGEP(elem, base, offsets);
}

llvm::Function* CpuKernelBuilder::build() {
  create_blocks();
  enter();
  open_tile();
  make_outer_emitters();
  enter_range_loop();
  enter_block_loop();
  pair_loop();
  close_block();
  finish_tile();
  free_heap_buffers(*fn_);
  return fn_;
}

void CpuKernelBuilder::create_blocks() {
  auto block = [&](const char* name) { return BasicBlock::Create(ctx_, name, fn_); };
  entry_ = block("entry");
  tile_header_ = block("tile.header");
  tile_body_ = block("tile.body");
  range_header_ = block("range.header");
  range_body_ = block("range.body");
  block_header_ = block("block.header");
  block_pre_ = block("block.pre");
  inner_header_ = block("inner.header");
  inner_load_ = block("inner.load");
  inner_pair_ = block("inner.pair");
  block_post_ = block("block.post");
  range_next_ = block("range.next");
  tile_fin_ = block("tile.fin");
  exit_ = block("exit");
}

// entry: state slots (promoted to registers by SROA), argument pointers, the parameters'
// emitter.
void CpuKernelBuilder::enter() {
  out_begin_ = fn_->getArg(0);
  out_end_ = fn_->getArg(1);
  ranges_ = fn_->getArg(2);
  n_ranges_ = fn_->getArg(3);
  args_ = fn_->getArg(4);
  values_ = fn_->getArg(5);
  indices_ = fn_->getArg(6);
  first_column_ =
      group_width_ > 0 ? static_cast<Value*>(fn_->getArg(7)) : llvm::ConstantInt::get(i64_, 0);
  reduction_ = make_reduction_emitter(group_spec_);
  b_.SetInsertPoint(entry_);
  if (resumable_) {
    states_ptr_ = fn_->getArg(7);
    load_ = b_.CreateICmpNE(fn_->getArg(8), b_.getInt64(0), "load");
    finalize_ = b_.CreateICmpNE(fn_->getArg(9), b_.getInt64(0), "finalize");
  }
  // Without blocks, terms fold into the total directly, across all the reduced ranges.
  blocked_ = keeps_blocks(spec_, *reduction_);
  for (int r = 0; r < tiling_.copies; ++r) states_.emplace_back(b_, *reduction_, VT_, blocked_);
  for (size_t k = 0; k < spec_.args.size(); ++k)
    arg_ptrs_.push_back(
        b_.CreateLoad(ptr_, b_.CreateConstGEP1_64(ptr_, args_, k), "arg" + std::to_string(k)));
  b_.CreateBr(tile_header_);
  param_b_ = std::make_unique<llvm::IRBuilder<>>(entry_->getTerminator());
  param_scope_ = std::make_unique<FormulaEmitter>(
      *param_b_, ir::kDepP,
      [this](llvm::IRBuilderBase& ib, ir::Expr var) -> Vals {
        return scalar_row(ib, var, ib.getInt64(0));
      },
      [this](llvm::IRBuilderBase& ib, ir::Expr var) { return row_start(ib, var, ib.getInt64(0)); });
}

// tile.header: for (ob = out_begin; ob < out_end; ob += lanes * copies); tile.body: lane
// indices, clamped for loads and masked for stores, and the copies' states started.
void CpuKernelBuilder::open_tile() {
  llvm::IRBuilder<>& b = b_;
  const int lanes = tiling_.lanes, copies = tiling_.copies;
  b.SetInsertPoint(tile_header_);
  ob_ = b.CreatePHI(i64_, 2, "ob");
  ob_->addIncoming(out_begin_, entry_);
  b.CreateCondBr(b.CreateICmpSLT(ob_, out_end_), tile_body_, exit_);

  b.SetInsertPoint(tile_body_);
  rows_.resize(size_t(copies));
  clamped_.resize(size_t(copies));
  live_.resize(size_t(copies));
  std::vector<llvm::Constant*> iota;
  for (int l = 0; l < lanes; ++l) iota.push_back(llvm::ConstantInt::get(i64_, uint64_t(l)));
  Value* iota_v = llvm::ConstantVector::get(iota);
  Value* last = b.CreateVectorSplat(unsigned(lanes), b.CreateSub(out_end_, b.getInt64(1)));
  Value* end_v = b.CreateVectorSplat(unsigned(lanes), out_end_);
  for (int r = 0; r < copies; ++r) {
    Value* first = b.CreateAdd(ob_, b.getInt64(int64_t(r) * lanes));
    rows_[size_t(r)] = b.CreateAdd(b.CreateVectorSplat(unsigned(lanes), first), iota_v);
    live_[size_t(r)] = b.CreateICmpSLT(rows_[size_t(r)], end_v);
    clamped_[size_t(r)] = b.CreateSelect(live_[size_t(r)], rows_[size_t(r)], last);
  }
  Value* all =
      llvm::ConstantInt::getTrue(llvm::FixedVectorType::get(b.getInt1Ty(), unsigned(lanes)));
  for (int r = 0; r < copies; ++r) {
    const BlockedState& state = states_[size_t(r)];
    state.start(b);
    // A selection continues from the saved slots, which keeps its rejections fast.
    if (resumable_ && reduction_->exact())
      state.resume(b, load_, reduction_->load_cells(b, VT_, cells_of(b, clamped_[size_t(r)], all)));
  }
  b.CreateBr(range_header_);
}

// Each copy's emitter of output-row values, emitted once per tile.
void CpuKernelBuilder::make_outer_emitters() {
  const int lanes = tiling_.lanes;
  outer_b_ = std::make_unique<llvm::IRBuilder<>>(tile_body_->getTerminator());
  Value* all_lanes =
      llvm::ConstantInt::getTrue(llvm::FixedVectorType::get(b_.getInt1Ty(), unsigned(lanes)));
  for (int r = 0; r < tiling_.copies; ++r) {
    Value* clamped = clamped_[size_t(r)];
    auto gather_row = [this, clamped, all_lanes](llvm::IRBuilderBase& ib, ir::Expr var) {
      Vals out(static_cast<size_t>(var->dim));
      for (int c = 0; c < var->dim; ++c) {
        Value* ptrs = element_ptrs(ib, elements_->stored(), arg_ptrs_[size_t(var->var_index())],
                                   clamped, var->dim, ib.getInt64(c));
        out[size_t(c)] = gather(ib, ptrs, all_lanes);
      }
      return out;
    };
    // A streamed row is gathered once per tile into a buffer of lane vectors.
    auto gather_buffer = [this, clamped, all_lanes, lanes](llvm::IRBuilderBase& ib, ir::Expr var) {
      Value* buffer = entry_buffer(ib, llvm::ArrayType::get(VT_, uint64_t(var->dim)));
      Value* firsts = ib.CreateMul(clamped, splat(llvm::ConstantInt::get(i64_, var->dim)));
      emit_component_loop(ib, var->dim, 4, [&](Value* c0, int width) {
        for (int k = 0; k < width; ++k) {
          Value* c = ib.CreateAdd(c0, ib.getInt64(k));
          Value* ptrs =
              ib.CreateGEP(elements_->stored(), arg_ptrs_[size_t(var->var_index())],
                           ib.CreateAdd(firsts, ib.CreateVectorSplat(unsigned(lanes), c)));
          ib.CreateStore(gather(ib, ptrs, all_lanes), ib.CreateGEP(VT_, buffer, c));
        }
      });
      return FormulaEmitter::Row{buffer, VT_};
    };
    outer_scopes_.push_back(std::make_unique<FormulaEmitter>(
        *outer_b_, ir::DepSet(ir::dep_of(spec_.outer_cat()) | ir::kDepP), gather_row,
        gather_buffer));
    outer_scopes_.back()->delegate_to(param_scope_.get());
  }
}

// range.header: for (range = 0; range < n_ranges; ++range), its bounds and block size.
void CpuKernelBuilder::enter_range_loop() {
  llvm::IRBuilder<>& b = b_;
  b.SetInsertPoint(range_header_);
  range_ = b.CreatePHI(i64_, 2, "range");
  range_->addIncoming(b.getInt64(0), tile_body_);
  b.CreateCondBr(b.CreateICmpSLT(range_, n_ranges_), range_body_, tile_fin_);

  b.SetInsertPoint(range_body_);
  Value* range_at = b.CreateGEP(i64_, ranges_, b.CreateMul(range_, b.getInt64(2)));
  range_start_ = b.CreateAlignedLoad(i64_, range_at, llvm::Align(8), "range.start");
  range_end_ = b.CreateAlignedLoad(i64_, b.CreateConstGEP1_64(i64_, range_at, 1), llvm::Align(8),
                                   "range.end");
  block_size_ = !blocked_              ? nullptr
                : spec_.block_size > 0 ? b.getInt64(spec_.block_size)
                                       : sum_block_size(b, b.CreateSub(range_end_, range_start_));
  b.CreateBr(block_header_);
}

// block.header: for (jb = range_start; jb < range_end; jb += block); block.pre: the block's
// states started from the totals.
void CpuKernelBuilder::enter_block_loop() {
  llvm::IRBuilder<>& b = b_;
  b.SetInsertPoint(block_header_);
  jb_ = b.CreatePHI(i64_, 2, "jb");
  jb_->addIncoming(range_start_, range_body_);
  b.CreateCondBr(b.CreateICmpSLT(jb_, range_end_), block_pre_, range_next_);
  b.SetInsertPoint(range_next_);
  range_->addIncoming(b.CreateAdd(range_, b.getInt64(1)), range_next_);
  b.CreateBr(range_header_);

  b.SetInsertPoint(block_pre_);
  jb_next_ = range_end_;
  j_end_ = range_end_;
  if (blocked_) {
    jb_next_ = b.CreateAdd(jb_, block_size_);
    j_end_ = b.CreateSelect(b.CreateICmpSLT(jb_next_, range_end_), jb_next_, range_end_);
  }
  for (const BlockedState& state : states_) state.open_block(b);
  b.CreateBr(inner_header_);
}

// inner.header: for (j = jb; j < j_end; ++j); inner.load: the reduced row's values;
// inner.pair: F for each copy, folded into the block state.
void CpuKernelBuilder::pair_loop() {
  llvm::IRBuilder<>& b = b_;
  b.SetInsertPoint(inner_header_);
  llvm::PHINode* j = b.CreatePHI(i64_, 2, "j");
  j->addIncoming(jb_, block_pre_);
  b.CreateCondBr(b.CreateICmpSLT(j, j_end_), inner_load_, block_post_);

  b.SetInsertPoint(inner_load_);
  b.CreateBr(inner_pair_);
  llvm::IRBuilder<> inner_b(inner_load_->getTerminator());
  FormulaEmitter inner_scope(
      inner_b, ir::DepSet(ir::dep_of(spec_.inner_cat()) | ir::kDepP),
      [&](llvm::IRBuilderBase& ib, ir::Expr var) -> Vals { return scalar_row(ib, var, j); },
      [&](llvm::IRBuilderBase& ib, ir::Expr var) { return row_start(ib, var, j); });
  inner_scope.delegate_to(param_scope_.get());

  b.SetInsertPoint(inner_pair_);
  Value* j_lanes = b.CreateVectorSplat(unsigned(tiling_.lanes), j);
  const ir::Expr f = spec_.formula, g = spec_.reduction.formula2;
  for (int r = 0; r < tiling_.copies; ++r) {
    FormulaEmitter pair_scope(b, ir::kDepI | ir::kDepJ | ir::kDepP, nullptr);
    pair_scope.delegate_to(param_scope_.get());
    pair_scope.delegate_to(outer_scopes_[size_t(r)].get());
    pair_scope.delegate_to(&inner_scope);
    // The weighted reductions get G's components after F's.
    const bool group_g = group_width_ > 0 && g;
    Vals fv = group_width_ > 0 && !group_g ? pair_scope.emit_chunk(f, first_column_, group_width_)
                                           : pair_scope.emit(f);
    if (g) {
      const Vals gv =
          group_g ? pair_scope.emit_chunk(g, first_column_, group_width_) : pair_scope.emit(g);
      fv.insert(fv.end(), gv.begin(), gv.end());
    }
    states_[size_t(r)].fold(b, fv, j_lanes);
  }
  j->addIncoming(b.CreateAdd(j, b.getInt64(1)), b.GetInsertBlock());
  b.CreateBr(inner_header_);
}

// block.post: total = merge(total, block)
void CpuKernelBuilder::close_block() {
  llvm::IRBuilder<>& b = b_;
  b.SetInsertPoint(block_post_);
  for (const BlockedState& state : states_) state.close_block(b);
  jb_->addIncoming(jb_next_, block_post_);
  b.CreateBr(block_header_);
}

// tile.fin: finalize and store the live lanes; exit.
void CpuKernelBuilder::finish_tile() {
  llvm::IRBuilder<>& b = b_;
  b.SetInsertPoint(tile_fin_);
  // A group's column c is the output's column first_column + c.
  const int value_cols = spec_.value_cols(), index_cols = spec_.index_cols();
  auto column = [&](Value* c) { return b.CreateAdd(first_column_, c); };
  for (int r = 0; r < tiling_.copies; ++r) {
    Value* rows = rows_[size_t(r)];
    Value* live = live_[size_t(r)];
    Vals total = states_[size_t(r)].total(b);
    if (resumable_) {
      // A sum's saved state (of lower reduced rows) merged with this call's (starting the
      // loop from it instead had the inner loop spill); then the state back to its cells,
      // or (finalize) the outputs.
      if (!reduction_->exact()) {
        const Vals saved = reduction_->load_cells(
            b, VT_, cells_of(b, clamped_[size_t(r)], llvm::ConstantInt::getTrue(live->getType())));
        const Vals merged = reduction_->merge(b, saved, total);
        for (size_t k = 0; k < total.size(); ++k)
          total[k] = b.CreateSelect(load_, merged[k], total[k]);
      }
      Value* to_outputs = b.CreateVectorSplat(unsigned(tiling_.lanes), finalize_);
      reduction_->store_cells(b, total,
                              cells_of(b, rows, b.CreateAnd(live, b.CreateNot(to_outputs))));
      live = b.CreateAnd(live, to_outputs);
    }
    auto store_value = [&](Value* v, Value* c) {
      b.CreateMaskedScatter(
          elements_->narrow(b, match_width(b, v, llvm::PoisonValue::get(VT_))),
          element_ptrs(b, elements_->stored(), values_, rows, value_cols, column(c)),
          elements_->align(), live);
    };
    auto store_index = [&](Value* i, Value* c) {
      b.CreateMaskedScatter(i, element_ptrs(b, i64_, indices_, rows, index_cols, column(c)),
                            llvm::Align(8), live);
    };
    if (reduction_->output_in_memory()) {
      // Many columns (a selection's slots in memory): stored in loops.
      const int group_values = group_spec_.value_cols(), group_indices = group_spec_.index_cols();
      emit_component_loop(b, group_values, 1, [&](Value* c, int) {
        store_value(reduction_->value_column(b, total, c), c);
      });
      emit_component_loop(b, group_indices, 1, [&](Value* c, int) {
        store_index(reduction_->index_column(b, total, c), c);
      });
      continue;
    }
    Vals out_values, out_indices;
    reduction_->finalize(b, total, out_values, out_indices);
    for (size_t c = 0; c < out_values.size(); ++c)
      store_value(out_values[c], b.getInt64(int64_t(c)));
    for (size_t c = 0; c < out_indices.size(); ++c)
      store_index(out_indices[c], b.getInt64(int64_t(c)));
  }
  ob_->addIncoming(b.CreateAdd(ob_, b.getInt64(int64_t(tiling_.lanes) * tiling_.copies)),
                   b.GetInsertBlock());
  b.CreateBr(tile_header_);
  b.SetInsertPoint(exit_);
  b.CreateRetVoid();
}

// The cells of rows' states (8 bytes a cell, as many a row as cpu_state_cells says), each
// lane's read and written where mask is.
StateCellsAt CpuKernelBuilder::cells_of(llvm::IRBuilderBase& b, Value* rows, Value* mask) {
  const int64_t cells = reduction_->state_cells(VT_);
  return {element_ptrs(b, i64_, states_ptr_, rows, cells, b.getInt64(0)), mask, llvm::Align(4)};
}

// Scalar loads of one row of an argument (parameters, and the reduced index's data).
Vals CpuKernelBuilder::scalar_row(llvm::IRBuilderBase& ib, ir::Expr var, Value* row) const {
  return load_argument_row(ib, *elements_, arg_ptrs_[size_t(var->var_index())], row, var->dim);
}

// Where a streamed row of an argument starts in memory.
FormulaEmitter::Row CpuKernelBuilder::row_start(llvm::IRBuilderBase& ib, ir::Expr var,
                                                Value* row) const {
  return argument_row(ib, *elements_, arg_ptrs_[size_t(var->var_index())], row, var->dim);
}

}  // namespace

int cpu_column_group(const KernelSpec& spec) {
  std::vector<ir::Expr> roots{spec.formula};
  if (spec.reduction.formula2) roots.push_back(spec.reduction.formula2);
  const passes::DimTiles products = passes::find_dim_tiles(
      roots, spec.outer_cat(), spec.inner_cat(), FormulaEmitter::kCpuStreamDim + 1);
  return products.dim > 0 ? 4 * kColumnGroup : kColumnGroup;
}

bool cpu_resumable(const KernelSpec& spec) { return !spec.on_gpu() && grouped_dim(spec) == 0; }

int cpu_state_cells(const KernelSpec& spec) {
  llvm::LLVMContext ctx;
  llvm::Type* T =
      spec.dtype == ir::DType::F32 ? llvm::Type::getFloatTy(ctx) : llvm::Type::getDoubleTy(ctx);
  return int(make_reduction_emitter(spec)->state_cells(T));
}

void build_cpu_kernel(llvm::Module& m, const lower::KernelPlan& plan, const std::string& name) {
  const KernelSpec& spec = plan.spec;
  const lower::CpuPlan& cpu = plan.cpu;
  if (cpu.grouped_dim == 0) {
    CpuKernelBuilder(m, spec, cpu.whole, name).build();
    return;
  }
  // The kernel runs the groups in turn: full groups, then the rest.
  const int width = cpu.groups ? cpu.groups->width : 0;
  const int64_t full = cpu.full;
  llvm::Function* groups =
      cpu.groups ? CpuKernelBuilder(m, spec, *cpu.groups, name + ".groups").build() : nullptr;
  llvm::Function* rest =
      cpu.rest ? CpuKernelBuilder(m, spec, *cpu.rest, name + ".rest").build() : nullptr;
  llvm::Function* any = groups ? groups : rest;
  std::vector<llvm::Type*> params(any->getFunctionType()->param_begin(),
                                  any->getFunctionType()->param_end() - 1);
  auto* fn = llvm::Function::Create(llvm::FunctionType::get(any->getReturnType(), params, false),
                                    llvm::Function::ExternalLinkage, name, m);
  fn->copyAttributesFrom(any);
  fn->setLinkage(llvm::Function::ExternalLinkage);
  llvm::LLVMContext& ctx = m.getContext();
  auto* entry = BasicBlock::Create(ctx, "entry", fn);
  llvm::IRBuilder<> b(entry);
  std::vector<Value*> call_args;
  for (llvm::Argument& a : fn->args()) call_args.push_back(&a);
  if (groups) {
    auto* loop = BasicBlock::Create(ctx, "groups", fn);
    auto* done = BasicBlock::Create(ctx, "groups.done", fn);
    b.CreateBr(loop);
    b.SetInsertPoint(loop);
    llvm::PHINode* c0 = b.CreatePHI(b.getInt64Ty(), 2, "c0");
    c0->addIncoming(b.getInt64(0), entry);
    call_args.push_back(c0);
    b.CreateCall(groups, call_args);
    call_args.pop_back();
    Value* next = b.CreateAdd(c0, b.getInt64(width));
    c0->addIncoming(next, loop);
    b.CreateCondBr(b.CreateICmpSLT(next, b.getInt64(full)), loop, done);
    b.SetInsertPoint(done);
  }
  if (rest) {
    call_args.push_back(b.getInt64(full));
    b.CreateCall(rest, call_args);
  }
  b.CreateRetVoid();
}

}  // namespace keops::codegen
