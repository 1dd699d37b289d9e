// The CPU kernel builder: lanes over output rows, a register tile of several vectors,
// the reduced index streamed (its data broadcast), blocks of it merged into a total.
#include "compiler/codegen/cpu_kernel.h"

#include <algorithm>
#include <memory>

#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>

#include "compiler/codegen/formula_emitter.h"
#include "compiler/codegen/reductions.h"
#include "compiler/ir/context.h"
#include "compiler/passes/dim_tiles.h"

namespace keops::codegen {

using llvm::BasicBlock;
using llvm::Value;

CpuTiling choose_cpu_tiling(const KernelSpec& spec) {
  const int scalar_bits = spec.dtype == ir::DType::F32 ? 32 : 64;
  const int lanes = std::max(1, spec.target.vector_bits / scalar_bits);
  // Vector registers a copy keeps live across the reduced loop: its outer-row data and
  // its reduction state (int64 indices and float64 accumulators take more than one).
  // Several copies share each broadcast of reduced-index data; more than the register
  // file holds would spill in the hot loop.
  llvm::LLVMContext ctx;
  llvm::Type* scalar =
      spec.dtype == ir::DType::F32 ? llvm::Type::getFloatTy(ctx) : llvm::Type::getDoubleTy(ctx);
  int live = 0;
  for (llvm::Type* t : make_reduction_emitter(spec)->state_types(
           llvm::FixedVectorType::get(scalar, unsigned(lanes))))
    live +=
        int((t->getPrimitiveSizeInBits().getFixedValue() + unsigned(spec.target.vector_bits) - 1) /
            unsigned(spec.target.vector_bits));
  // Streamed outer rows (longer than kCpuStreamDim) live in a stack buffer.
  for (const ArgLayout& a : spec.args)
    if (a.cat == spec.outer_cat() && a.dim <= FormulaEmitter::kCpuStreamDim) live += a.dim;
  const int registers = spec.target.vector_bits == 512 ? 32 : 16;
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

// The builder state of one kernel under construction. With group_width > 0 it builds the
// internal kernel of one group of output columns, [c0, c0 + group_width), c0 its last
// parameter.
class CpuKernelBuilder {
 public:
  CpuKernelBuilder(llvm::Module& m, const KernelSpec& spec, const std::string& name,
                   int group_width = 0)
      : spec_(spec), ctx_(m.getContext()), group_width_(group_width), group_spec_(spec) {
    if (group_width_ > 0) {
      // The reduction and the tiling see F (or G) cut to one group.
      ir::Expr& grouped = spec.reduction.traits().independent_columns() == ir::ReductionColumns::OfG
                              ? group_spec_.reduction.formula2
                              : group_spec_.formula;
      grouped = group_ctx_.make(ir::Op::Extract, {grouped}, {0, group_width_});
    }
    tiling_ = choose_cpu_tiling(group_spec_);
    T_ =
        spec.dtype == ir::DType::F32 ? llvm::Type::getFloatTy(ctx_) : llvm::Type::getDoubleTy(ctx_);
    i64_ = llvm::Type::getInt64Ty(ctx_);
    ptr_ = llvm::PointerType::get(ctx_, 0);
    VT_ = llvm::FixedVectorType::get(T_, unsigned(tiling_.lanes));
    IVT_ = llvm::FixedVectorType::get(i64_, unsigned(tiling_.lanes));
    std::vector<llvm::Type*> params{i64_, i64_, ptr_, i64_, ptr_, ptr_, ptr_};
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
  Value* splat(Value* v) {
    return llvm::ConstantVector::getSplat(llvm::ElementCount::getFixed(unsigned(tiling_.lanes)),
                                          llvm::cast<llvm::Constant>(v));
  }
  Value* element_ptrs(llvm::IRBuilderBase& b, llvm::Type* elem, Value* base, Value* rows,
                      int64_t row_size, Value* col);

  const KernelSpec& spec_;
  llvm::LLVMContext& ctx_;
  int group_width_;
  ir::Context group_ctx_;  // owns the group's cut formula
  KernelSpec group_spec_;  // what the reduction emitter and the tiling see
  CpuTiling tiling_{};
  llvm::Type* T_;
  llvm::IntegerType* i64_;
  llvm::PointerType* ptr_;
  llvm::FixedVectorType* VT_;
  llvm::FixedVectorType* IVT_;
  llvm::Function* fn_;
};

void CpuKernelBuilder::set_attributes() {
  fn_->addFnAttr("target-cpu", spec_.target.cpu);
  fn_->addFnAttr("target-features", spec_.target.features);
  // Keep the explicit vectors whole: without these, LLVM may split 512-bit vectors on
  // CPUs whose default preference is 256 bits.
  const std::string width = std::to_string(spec_.target.vector_bits);
  fn_->addFnAttr("prefer-vector-width", width);
  fn_->addFnAttr("min-legal-vector-width", width);
  fn_->addFnAttr(llvm::Attribute::NoUnwind);
  for (unsigned k : {2u, 4u, 5u, 6u}) fn_->addParamAttr(k, llvm::Attribute::NoAlias);
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
  const int lanes = tiling_.lanes, copies = tiling_.copies;
  const llvm::Align align_t(T_->getPrimitiveSizeInBits() / 8);
  auto* entry = BasicBlock::Create(ctx_, "entry", fn_);
  auto* tile_header = BasicBlock::Create(ctx_, "tile.header", fn_);
  auto* tile_body = BasicBlock::Create(ctx_, "tile.body", fn_);
  auto* range_header = BasicBlock::Create(ctx_, "range.header", fn_);
  auto* range_body = BasicBlock::Create(ctx_, "range.body", fn_);
  auto* block_header = BasicBlock::Create(ctx_, "block.header", fn_);
  auto* block_pre = BasicBlock::Create(ctx_, "block.pre", fn_);
  auto* inner_header = BasicBlock::Create(ctx_, "inner.header", fn_);
  auto* inner_load = BasicBlock::Create(ctx_, "inner.load", fn_);
  auto* inner_pair = BasicBlock::Create(ctx_, "inner.pair", fn_);
  auto* block_post = BasicBlock::Create(ctx_, "block.post", fn_);
  auto* range_next = BasicBlock::Create(ctx_, "range.next", fn_);
  auto* tile_fin = BasicBlock::Create(ctx_, "tile.fin", fn_);
  auto* exit = BasicBlock::Create(ctx_, "exit", fn_);

  Value* out_begin = fn_->getArg(0);
  Value* out_end = fn_->getArg(1);
  Value* ranges = fn_->getArg(2);
  Value* n_ranges = fn_->getArg(3);
  Value* args = fn_->getArg(4);
  Value* values = fn_->getArg(5);
  Value* indices = fn_->getArg(6);

  const ir::Expr f = spec_.formula;
  // The first output column this kernel computes.
  Value* first_column =
      group_width_ > 0 ? static_cast<Value*>(fn_->getArg(7)) : llvm::ConstantInt::get(i64_, 0);
  auto reduction = make_reduction_emitter(group_spec_);
  const auto state_types = reduction->state_types(VT_);

  // entry: state slots (promoted to registers by SROA), argument pointers.
  llvm::IRBuilder<> b(entry);
  auto make_slots = [&] {
    std::vector<std::vector<llvm::AllocaInst*>> slots(static_cast<size_t>(copies));
    for (auto& copy : slots)
      for (llvm::Type* t : state_types) copy.push_back(b.CreateAlloca(t));
    return slots;
  };
  // Blocks bound the rounding of sums; a selection is exact and would only restart its
  // slots (and lose the fast rejection of may_change) at every block. Without blocks, terms
  // fold into the total directly, across all the reduced ranges.
  const bool blocked =
      spec_.sum_scheme == SumScheme::Block && (spec_.block_size > 0 || !reduction->exact());
  const auto total_slots = make_slots();
  const auto block_slots = blocked ? make_slots() : total_slots;
  std::vector<Value*> arg_ptrs;
  for (size_t k = 0; k < spec_.args.size(); ++k)
    arg_ptrs.push_back(
        b.CreateLoad(ptr_, b.CreateConstGEP1_64(ptr_, args, k), "arg" + std::to_string(k)));
  b.CreateBr(tile_header);

  // Scalar loads of one row of an argument (parameters, and the reduced index's data).
  auto scalar_row = [&](llvm::IRBuilderBase& ib, ir::Expr var, Value* row) {
    const int dim = int(var->dim);
    Vals out(static_cast<size_t>(dim));
    Value* base =
        ib.CreateGEP(T_, arg_ptrs[size_t(var->var_index())], ib.CreateMul(row, ib.getInt64(dim)));
    for (int c = 0; c < dim; ++c)
      out[size_t(c)] =
          ib.CreateAlignedLoad(T_, ib.CreateConstGEP1_64(T_, base, uint64_t(c)), align_t);
    return out;
  };

  // Where a streamed row of an argument starts in memory.
  auto row_start = [&](llvm::IRBuilderBase& ib, ir::Expr var, Value* row) {
    return FormulaEmitter::Row{ib.CreateGEP(T_, arg_ptrs[size_t(var->var_index())],
                                            ib.CreateMul(row, ib.getInt64(var->dim))),
                               T_};
  };

  llvm::IRBuilder<> param_b(entry->getTerminator());
  FormulaEmitter param_scope(
      param_b, ir::kDepP,
      [&](llvm::IRBuilderBase& ib, ir::Expr var) -> Vals {
        return scalar_row(ib, var, ib.getInt64(0));
      },
      [&](llvm::IRBuilderBase& ib, ir::Expr var) { return row_start(ib, var, ib.getInt64(0)); });

  // tile.header: for (ob = out_begin; ob < out_end; ob += lanes * copies)
  b.SetInsertPoint(tile_header);
  llvm::PHINode* ob = b.CreatePHI(i64_, 2, "ob");
  ob->addIncoming(out_begin, entry);
  b.CreateCondBr(b.CreateICmpSLT(ob, out_end), tile_body, exit);

  // tile.body: lane indices, clamped for loads and masked for stores.
  b.SetInsertPoint(tile_body);
  std::vector<Value*> rows(static_cast<size_t>(copies)), clamped(static_cast<size_t>(copies)),
      live(static_cast<size_t>(copies));
  {
    std::vector<llvm::Constant*> iota;
    for (int l = 0; l < lanes; ++l) iota.push_back(llvm::ConstantInt::get(i64_, uint64_t(l)));
    Value* iota_v = llvm::ConstantVector::get(iota);
    Value* last = b.CreateVectorSplat(unsigned(lanes), b.CreateSub(out_end, b.getInt64(1)));
    Value* end_v = b.CreateVectorSplat(unsigned(lanes), out_end);
    for (int r = 0; r < copies; ++r) {
      Value* first = b.CreateAdd(ob, b.getInt64(int64_t(r) * lanes));
      rows[size_t(r)] = b.CreateAdd(b.CreateVectorSplat(unsigned(lanes), first), iota_v);
      live[size_t(r)] = b.CreateICmpSLT(rows[size_t(r)], end_v);
      clamped[size_t(r)] = b.CreateSelect(live[size_t(r)], rows[size_t(r)], last);
    }
  }
  for (int r = 0; r < copies; ++r) {
    Vals init = reduction->init(b, VT_);
    for (size_t s = 0; s < init.size(); ++s) b.CreateStore(init[s], total_slots[size_t(r)][s]);
  }
  b.CreateBr(range_header);

  llvm::IRBuilder<> outer_b(tile_body->getTerminator());
  Value* all_lanes =
      llvm::ConstantInt::getTrue(llvm::FixedVectorType::get(b.getInt1Ty(), unsigned(lanes)));
  std::vector<std::unique_ptr<FormulaEmitter>> outer_scopes;
  for (int r = 0; r < copies; ++r) {
    auto gather_row = [&, r](llvm::IRBuilderBase& ib, ir::Expr var) {
      Vals out(static_cast<size_t>(var->dim));
      for (int c = 0; c < var->dim; ++c) {
        Value* ptrs = element_ptrs(ib, T_, arg_ptrs[size_t(var->var_index())], clamped[size_t(r)],
                                   var->dim, ib.getInt64(c));
        out[size_t(c)] = ib.CreateMaskedGather(VT_, ptrs, align_t, all_lanes);
      }
      return out;
    };
    // A streamed row is gathered once per tile into a buffer of lane vectors.
    auto gather_buffer = [&, r](llvm::IRBuilderBase& ib, ir::Expr var) {
      Value* buffer = entry_buffer(ib, llvm::ArrayType::get(VT_, uint64_t(var->dim)));
      Value* firsts =
          ib.CreateMul(clamped[size_t(r)], splat(llvm::ConstantInt::get(i64_, var->dim)));
      emit_component_loop(ib, var->dim, 4, [&](Value* c0, int width) {
        for (int k = 0; k < width; ++k) {
          Value* c = ib.CreateAdd(c0, ib.getInt64(k));
          Value* ptrs =
              ib.CreateGEP(T_, arg_ptrs[size_t(var->var_index())],
                           ib.CreateAdd(firsts, ib.CreateVectorSplat(unsigned(lanes), c)));
          ib.CreateStore(ib.CreateMaskedGather(VT_, ptrs, align_t, all_lanes),
                         ib.CreateGEP(VT_, buffer, c));
        }
      });
      return FormulaEmitter::Row{buffer, VT_};
    };
    outer_scopes.push_back(std::make_unique<FormulaEmitter>(
        outer_b, ir::DepSet(ir::dep_of(spec_.outer_cat()) | ir::kDepP), gather_row, gather_buffer));
    outer_scopes.back()->delegate_to(&param_scope);
  }

  // range.header: for (range = 0; range < n_ranges; ++range)
  b.SetInsertPoint(range_header);
  llvm::PHINode* range = b.CreatePHI(i64_, 2, "range");
  range->addIncoming(b.getInt64(0), tile_body);
  b.CreateCondBr(b.CreateICmpSLT(range, n_ranges), range_body, tile_fin);

  b.SetInsertPoint(range_body);
  Value* range_at = b.CreateGEP(i64_, ranges, b.CreateMul(range, b.getInt64(2)));
  Value* range_start = b.CreateAlignedLoad(i64_, range_at, llvm::Align(8), "range.start");
  Value* range_end = b.CreateAlignedLoad(i64_, b.CreateConstGEP1_64(i64_, range_at, 1),
                                         llvm::Align(8), "range.end");
  Value* block_size = !blocked ? nullptr
                      : spec_.block_size > 0
                          ? b.getInt64(spec_.block_size)
                          : sum_block_size(b, b.CreateSub(range_end, range_start));
  b.CreateBr(block_header);

  // block.header: for (jb = range_start; jb < range_end; jb += block)
  b.SetInsertPoint(block_header);
  llvm::PHINode* jb = b.CreatePHI(i64_, 2, "jb");
  jb->addIncoming(range_start, range_body);
  b.CreateCondBr(b.CreateICmpSLT(jb, range_end), block_pre, range_next);
  b.SetInsertPoint(range_next);
  range->addIncoming(b.CreateAdd(range, b.getInt64(1)), range_next);
  b.CreateBr(range_header);

  b.SetInsertPoint(block_pre);
  Value* jb_next = range_end;
  Value* j_end = range_end;
  if (blocked) {
    jb_next = b.CreateAdd(jb, block_size);
    j_end = b.CreateSelect(b.CreateICmpSLT(jb_next, range_end), jb_next, range_end);
  }
  for (int r = 0; r < copies && blocked; ++r) {
    Vals total;
    for (size_t s = 0; s < state_types.size(); ++s)
      total.push_back(b.CreateLoad(state_types[s], total_slots[size_t(r)][s]));
    Vals init = reduction->block_init(b, VT_, total);
    for (size_t s = 0; s < init.size(); ++s) b.CreateStore(init[s], block_slots[size_t(r)][s]);
  }
  b.CreateBr(inner_header);

  // inner.header: for (j = jb; j < j_end; ++j)
  b.SetInsertPoint(inner_header);
  llvm::PHINode* j = b.CreatePHI(i64_, 2, "j");
  j->addIncoming(jb, block_pre);
  b.CreateCondBr(b.CreateICmpSLT(j, j_end), inner_load, block_post);

  b.SetInsertPoint(inner_load);
  b.CreateBr(inner_pair);
  llvm::IRBuilder<> inner_b(inner_load->getTerminator());
  FormulaEmitter inner_scope(
      inner_b, ir::DepSet(ir::dep_of(spec_.inner_cat()) | ir::kDepP),
      [&](llvm::IRBuilderBase& ib, ir::Expr var) -> Vals { return scalar_row(ib, var, j); },
      [&](llvm::IRBuilderBase& ib, ir::Expr var) { return row_start(ib, var, j); });
  inner_scope.delegate_to(&param_scope);

  // inner.pair: F for each copy, folded into the block state.
  b.SetInsertPoint(inner_pair);
  Value* j_lanes = b.CreateVectorSplat(unsigned(lanes), j);
  for (int r = 0; r < copies; ++r) {
    FormulaEmitter pair_scope(b, ir::kDepI | ir::kDepJ | ir::kDepP, nullptr);
    pair_scope.delegate_to(&param_scope);
    pair_scope.delegate_to(outer_scopes[size_t(r)].get());
    pair_scope.delegate_to(&inner_scope);
    // The weighted reductions get G's components after F's.
    const bool group_g = group_width_ > 0 && spec_.reduction.formula2;
    Vals fv = group_width_ > 0 && !group_g ? pair_scope.emit_chunk(f, first_column, group_width_)
                                           : pair_scope.emit(f);
    if (spec_.reduction.formula2) {
      const Vals gv =
          group_g ? pair_scope.emit_chunk(spec_.reduction.formula2, first_column, group_width_)
                  : pair_scope.emit(spec_.reduction.formula2);
      fv.insert(fv.end(), gv.begin(), gv.end());
    }
    Vals state;
    for (size_t s = 0; s < state_types.size(); ++s)
      state.push_back(b.CreateLoad(state_types[s], block_slots[size_t(r)][s]));
    auto store = [&](const Vals& next) {
      for (size_t s = 0; s < next.size(); ++s) b.CreateStore(next[s], block_slots[size_t(r)][s]);
    };
    emit_combine(b, *reduction, state, fv, j_lanes, store);
  }
  j->addIncoming(b.CreateAdd(j, b.getInt64(1)), b.GetInsertBlock());
  b.CreateBr(inner_header);

  // block.post: total = merge(total, block)
  b.SetInsertPoint(block_post);
  for (int r = 0; r < copies && blocked; ++r) {
    Vals total, part;
    for (size_t s = 0; s < state_types.size(); ++s) {
      total.push_back(b.CreateLoad(state_types[s], total_slots[size_t(r)][s]));
      part.push_back(b.CreateLoad(state_types[s], block_slots[size_t(r)][s]));
    }
    Vals merged = reduction->merge_block(b, total, part);
    for (size_t s = 0; s < merged.size(); ++s) b.CreateStore(merged[s], total_slots[size_t(r)][s]);
  }
  jb->addIncoming(jb_next, block_post);
  b.CreateBr(block_header);

  // tile.fin: finalize and store the live lanes.
  b.SetInsertPoint(tile_fin);
  // A group's column c is the output's column first_column + c.
  const int value_cols = spec_.value_cols(), index_cols = spec_.index_cols();
  auto column = [&](int c) { return b.CreateAdd(first_column, b.getInt64(c)); };
  for (int r = 0; r < copies; ++r) {
    Vals total, out_values, out_indices;
    for (size_t s = 0; s < state_types.size(); ++s)
      total.push_back(b.CreateLoad(state_types[s], total_slots[size_t(r)][s]));
    reduction->finalize(b, total, out_values, out_indices);
    for (size_t c = 0; c < out_values.size(); ++c)
      b.CreateMaskedScatter(
          match_width(b, out_values[c], llvm::PoisonValue::get(VT_)),
          element_ptrs(b, T_, values, rows[size_t(r)], value_cols, column(int(c))), align_t,
          live[size_t(r)]);
    for (size_t c = 0; c < out_indices.size(); ++c)
      b.CreateMaskedScatter(
          out_indices[c],
          element_ptrs(b, i64_, indices, rows[size_t(r)], index_cols, column(int(c))),
          llvm::Align(8), live[size_t(r)]);
  }
  ob->addIncoming(b.CreateAdd(ob, b.getInt64(int64_t(lanes) * copies)), tile_fin);
  b.CreateBr(tile_header);

  b.SetInsertPoint(exit);
  b.CreateRetVoid();
  free_heap_buffers(*fn_);
  return fn_;
}

}  // namespace

int cpu_column_group(const KernelSpec& spec) {
  std::vector<ir::Expr> roots{spec.formula};
  if (spec.reduction.formula2) roots.push_back(spec.reduction.formula2);
  const passes::DimTiles products = passes::find_dim_tiles(
      roots, spec.outer_cat(), spec.inner_cat(), FormulaEmitter::kCpuStreamDim + 1);
  return products.dim > 0 ? 4 * kColumnGroup : kColumnGroup;
}

void build_cpu_kernel(llvm::Module& m, const KernelSpec& spec, const std::string& name) {
  check_depth(spec);
  const int64_t dim = grouped_dim(spec);
  if (dim == 0) {
    CpuKernelBuilder(m, spec, name).build();
    return;
  }
  // The kernel runs the groups in turn: full groups, then the rest.
  const int width = cpu_column_group(spec);
  const int64_t full = dim / width * width;
  llvm::Function* groups =
      full > 0 ? CpuKernelBuilder(m, spec, name + ".groups", width).build() : nullptr;
  llvm::Function* rest =
      dim > full ? CpuKernelBuilder(m, spec, name + ".rest", int(dim - full)).build() : nullptr;
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
