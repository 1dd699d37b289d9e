// The GPU kernel builder (see nvptx_kernel.h): per block, reduced rows are loaded a tile
// at a time, their reduced-only subexpressions computed once per row into shared memory;
// each thread then folds the tile's terms of its own output row into its state.
#include "compiler/codegen/nvptx_kernel.h"

#include <llvm/IR/IntrinsicsNVPTX.h>
#include <llvm/IR/MDBuilder.h>

#include "compiler/codegen/formula_emitter.h"
#include "compiler/codegen/reductions.h"
#include "compiler/passes/split.h"

namespace keops::codegen {

using llvm::BasicBlock;
using llvm::Value;

namespace {

constexpr int kBlockThreads = 256;
constexpr int kMinBlockThreads = 64;

// Dynamic shared memory a block may take: half of what sm_80 and later let a block opt into
// (so that two blocks share a multiprocessor), the default limit before them.
int64_t shared_budget(int sm) { return sm >= 80 ? 96 * 1024 : 48 * 1024; }

// The spec's formulas with their reduced-only parts cut out (see passes/split.h), and the
// block size their tile allows. Rows too long to stage (long vectors) are not cut out: the
// pair loop then reads reduced rows from global memory, where the threads of a block read
// the same row at the same time.
struct StagedSpec {
  ir::Context ctx;
  passes::StagedFormulas staged;
  int staged_values = 0;
  int block_threads = kBlockThreads;
  StagedSpec(const KernelSpec& spec) {
    std::vector<ir::Expr> roots{spec.formula};
    if (spec.reduction.formula2) roots.push_back(spec.reduction.formula2);
    staged = passes::stage_reduced_only(ctx, roots, spec.inner_cat(), int(spec.args.size()));
    for (ir::Expr e : staged.staged) staged_values += e->dim;
    const int64_t row_bytes = int64_t(staged_values) * (spec.dtype == ir::DType::F32 ? 4 : 8);
    const int64_t budget = shared_budget(spec.gpu_sm);
    while (block_threads > kMinBlockThreads && block_threads * row_bytes > budget)
      block_threads /= 2;
    if (block_threads * row_bytes > budget) {
      staged = {roots, {}};
      staged_values = 0;
      block_threads = kBlockThreads;
    }
  }
};

}  // namespace

int64_t GpuLayout::shared_bytes() const {
  return int64_t(block_threads) * staged_values * element_bytes;
}

GpuLayout gpu_layout(const KernelSpec& spec) {
  const StagedSpec s(spec);
  return {s.block_threads, s.staged_values, spec.dtype == ir::DType::F32 ? 4 : 8};
}

void build_nvptx_kernel(llvm::Module& m, const KernelSpec& spec, const std::string& name) {
  llvm::LLVMContext& ctx = m.getContext();
  StagedSpec s(spec);
  const ir::Expr f = s.staged.roots[0];
  const ir::Expr g = s.staged.roots.size() > 1 ? s.staged.roots[1] : nullptr;
  KernelSpec staged_spec = spec;  // the reduction sees the rebuilt formulas
  staged_spec.formula = f;
  staged_spec.reduction.formula2 = g;
  auto reduction = make_reduction_emitter(staged_spec);

  llvm::Type* T =
      spec.dtype == ir::DType::F32 ? llvm::Type::getFloatTy(ctx) : llvm::Type::getDoubleTy(ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  auto* i32 = llvm::Type::getInt32Ty(ctx);
  auto* ptr = llvm::PointerType::get(ctx, 0);
  const llvm::Align align_t(T->getPrimitiveSizeInBits() / 8);
  const bool sparse = spec.gpu_block_sparse;
  std::vector<llvm::Type*> params_types{i64, i64, ptr, ptr, ptr};
  if (sparse) params_types.insert(params_types.end(), {ptr, ptr});
  auto* fty = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), params_types, false);
  auto* fn = llvm::Function::Create(fty, llvm::Function::ExternalLinkage, name, m);
  fn->setCallingConv(llvm::CallingConv::PTX_Kernel);
  fn->addFnAttr(llvm::Attribute::NoUnwind);
  m.getOrInsertNamedMetadata("nvvm.annotations")
      ->addOperand(llvm::MDNode::get(
          ctx, {llvm::ValueAsMetadata::get(fn), llvm::MDString::get(ctx, "kernel"),
                llvm::ConstantAsMetadata::get(llvm::ConstantInt::get(i32, 1))}));
  // The tile: dynamic shared memory, sized at launch.
  auto* tile = new llvm::GlobalVariable(m, llvm::ArrayType::get(T, 0), false,
                                        llvm::GlobalValue::ExternalLinkage, nullptr, "keops_tile",
                                        nullptr, llvm::GlobalValue::NotThreadLocal, 3);
  tile->setAlignment(llvm::Align(16));

  Value* out_rows = fn->getArg(0);
  Value* n_reduced = fn->getArg(1);
  Value* args = fn->getArg(2);
  Value* values = fn->getArg(3);
  Value* indices = fn->getArg(4);

  auto* entry = BasicBlock::Create(ctx, "entry", fn);
  auto* range_header = sparse ? BasicBlock::Create(ctx, "range.header", fn) : nullptr;
  auto* range_body = sparse ? BasicBlock::Create(ctx, "range.body", fn) : nullptr;
  auto* tile_header = BasicBlock::Create(ctx, "tile.header", fn);
  auto* stage = BasicBlock::Create(ctx, "tile.stage", fn);
  auto* staged = BasicBlock::Create(ctx, "tile.staged", fn);
  auto* inner_header = BasicBlock::Create(ctx, "inner.header", fn);
  auto* inner_body = BasicBlock::Create(ctx, "inner.body", fn);
  auto* tile_end = BasicBlock::Create(ctx, "tile.end", fn);
  auto* range_next = sparse ? BasicBlock::Create(ctx, "range.next", fn) : nullptr;
  auto* finish = BasicBlock::Create(ctx, "finish", fn);
  auto* store = BasicBlock::Create(ctx, "store", fn);
  auto* exit = BasicBlock::Create(ctx, "exit", fn);

  llvm::IRBuilder<> b(entry);
  auto sreg = [&](llvm::Intrinsic::ID id) {
    return b.CreateZExt(b.CreateIntrinsic(id, {}, {}), i64);
  };
  Value* thread = sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_tid_x);
  Value* block_threads = sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_ntid_x);
  Value* block = sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_x);
  // Dense: block b takes rows b * block_threads + [0, block_threads), every reduced row.
  Value* rows_begin = b.CreateMul(block, block_threads);
  Value* rows_end = out_rows;
  Value* first_range = nullptr;
  Value* last_range = nullptr;
  if (sparse) {  // block b takes the rows and ranges of work item b
    Value* item = b.CreateGEP(i64, fn->getArg(5), b.CreateMul(block, b.getInt64(4)));
    auto field = [&](uint64_t k, const char* what) {
      return b.CreateAlignedLoad(i64, b.CreateConstGEP1_64(i64, item, k), llvm::Align(8), what);
    };
    rows_begin = field(0, "rows.begin");
    rows_end = field(1, "rows.end");
    first_range = field(2, "ranges.first");
    last_range = field(3, "ranges.last");
  }
  Value* row = b.CreateAdd(rows_begin, thread);
  Value* live = b.CreateICmpSLT(row, rows_end);
  // Threads past the last row still load tiles for the others: they read the last row.
  Value* load_row = b.CreateSelect(live, row, b.CreateSub(rows_end, b.getInt64(1)));

  const auto state_types = reduction->state_types(T);
  auto make_slots = [&] {
    std::vector<llvm::AllocaInst*> slots;
    for (llvm::Type* t : state_types) slots.push_back(b.CreateAlloca(t));
    return slots;
  };
  auto load_state = [&](const std::vector<llvm::AllocaInst*>& from) {
    Vals state;
    for (size_t k = 0; k < state_types.size(); ++k)
      state.push_back(b.CreateLoad(state_types[k], from[k]));
    return state;
  };
  auto store_state = [&](const Vals& state, const std::vector<llvm::AllocaInst*>& to) {
    for (size_t k = 0; k < state.size(); ++k) b.CreateStore(state[k], to[k]);
  };
  // Sums fold each tile into a fresh state merged into the total (the Block scheme of the
  // CPU, with blocks of one tile): rounding grows with the tile, not with n_reduced.
  const bool blocked = spec.sum_scheme == SumScheme::Block && !reduction->exact();
  const auto total_slots = make_slots();
  const auto tile_slots = blocked ? make_slots() : total_slots;
  store_state(reduction->init(b, T), total_slots);
  std::vector<Value*> arg_ptrs;
  for (size_t k = 0; k < spec.args.size(); ++k)
    arg_ptrs.push_back(b.CreateLoad(ptr, b.CreateConstGEP1_64(ptr, args, k)));
  b.CreateBr(sparse ? range_header : tile_header);

  auto global_row = [&](llvm::IRBuilderBase& ib, ir::Expr var, Value* at) {
    Vals out(static_cast<size_t>(var->dim));
    Value* base = ib.CreateGEP(T, arg_ptrs[size_t(var->var_index())],
                               ib.CreateMul(at, ib.getInt64(var->dim)));
    for (int c = 0; c < var->dim; ++c)
      out[size_t(c)] =
          ib.CreateAlignedLoad(T, ib.CreateConstGEP1_64(T, base, uint64_t(c)), align_t);
    return out;
  };
  // Streamed vectors (longer than kGpuStreamDim) are read from their rows where they are.
  auto global_row_start = [&](llvm::IRBuilderBase& ib, ir::Expr var, Value* at) {
    return FormulaEmitter::Row{ib.CreateGEP(T, arg_ptrs[size_t(var->var_index())],
                                            ib.CreateMul(at, ib.getInt64(var->dim))),
                               T};
  };
  constexpr int64_t stream_dim = FormulaEmitter::kGpuStreamDim;
  llvm::IRBuilder<> entry_b(entry->getTerminator());
  FormulaEmitter params(
      entry_b, ir::kDepP,
      [&](llvm::IRBuilderBase& ib, ir::Expr v) -> Vals {
        return global_row(ib, v, ib.getInt64(0));
      },
      [&](llvm::IRBuilderBase& ib, ir::Expr v) { return global_row_start(ib, v, ib.getInt64(0)); },
      stream_dim);
  FormulaEmitter outer(
      entry_b, ir::DepSet(ir::dep_of(spec.outer_cat()) | ir::kDepP),
      [&](llvm::IRBuilderBase& ib, ir::Expr v) -> Vals { return global_row(ib, v, load_row); },
      // A thread's own long row is copied once into its local memory, which the hardware
      // interleaves across threads: later reads, once per reduced row, are coalesced.
      [&](llvm::IRBuilderBase& ib, ir::Expr v) {
        const FormulaEmitter::Row from = global_row_start(ib, v, load_row);
        llvm::AllocaInst* copy = entry_alloca(ib, llvm::ArrayType::get(T, uint64_t(v->dim)));
        emit_component_loop(ib, v->dim, 8, [&](Value* c0, int width) {
          for (int k = 0; k < width; ++k) {
            Value* c = ib.CreateAdd(c0, ib.getInt64(k));
            ib.CreateStore(ib.CreateLoad(T, ib.CreateGEP(T, from.base, c)),
                           ib.CreateGEP(T, copy, c));
          }
        });
        return FormulaEmitter::Row{copy, T};
      },
      stream_dim);
  outer.delegate_to(&params);

  // The reduced rows run as tiles over [0, n_reduced), or over each range of the block.
  BasicBlock* tiles_entry = entry;
  Value* tiles_begin = b.getInt64(0);
  Value* tiles_end = n_reduced;
  BasicBlock* tiles_exit = finish;
  if (sparse) {
    // range.header: for (r = first_range; r < last_range; ++r)
    b.SetInsertPoint(range_header);
    llvm::PHINode* r = b.CreatePHI(i64, 2, "r");
    r->addIncoming(first_range, entry);
    b.CreateCondBr(b.CreateICmpSLT(r, last_range), range_body, finish);
    b.SetInsertPoint(range_body);
    Value* at = b.CreateGEP(i64, fn->getArg(6), b.CreateMul(r, b.getInt64(2)));
    tiles_begin = b.CreateAlignedLoad(i64, at, llvm::Align(8), "range.start");
    tiles_end =
        b.CreateAlignedLoad(i64, b.CreateConstGEP1_64(i64, at, 1), llvm::Align(8), "range.end");
    b.CreateBr(tile_header);
    b.SetInsertPoint(range_next);
    r->addIncoming(b.CreateAdd(r, b.getInt64(1)), range_next);
    b.CreateBr(range_header);
    tiles_entry = range_body;
    tiles_exit = range_next;
  }

  // tile.header: for (t0 = tiles_begin; t0 < tiles_end; t0 += block_threads)
  b.SetInsertPoint(tile_header);
  llvm::PHINode* t0 = b.CreatePHI(i64, 2, "t0");
  t0->addIncoming(tiles_begin, tiles_entry);
  Value* stage_row = b.CreateAdd(t0, thread);
  b.CreateCondBr(b.CreateICmpSLT(t0, tiles_end), stage, tiles_exit);

  // tile.stage: this thread's reduced row of the tile, its staged values to shared memory.
  b.SetInsertPoint(stage);
  auto* stage_work = BasicBlock::Create(ctx, "tile.stage.work", fn, staged);
  b.CreateCondBr(b.CreateICmpSLT(stage_row, tiles_end), stage_work, staged);
  b.SetInsertPoint(stage_work);
  {
    FormulaEmitter stager(
        b, ir::DepSet(ir::dep_of(spec.inner_cat()) | ir::kDepP),
        [&](llvm::IRBuilderBase& ib, ir::Expr v) -> Vals { return global_row(ib, v, stage_row); },
        [&](llvm::IRBuilderBase& ib, ir::Expr v) { return global_row_start(ib, v, stage_row); },
        stream_dim);
    stager.delegate_to(&params);
    Value* slot = b.CreateMul(thread, b.getInt64(s.staged_values));
    int offset = 0;
    for (ir::Expr e : s.staged.staged) {
      stager.emit_to_memory(e, {b.CreateGEP(T, tile, b.CreateAdd(slot, b.getInt64(offset))), T});
      offset += e->dim;
    }
  }
  b.CreateBr(staged);

  b.SetInsertPoint(staged);
  b.CreateIntrinsic(llvm::Intrinsic::nvvm_barrier0, {}, {});
  if (blocked) store_state(reduction->init(b, T), tile_slots);
  Value* remaining = b.CreateSub(tiles_end, t0);
  Value* tile_len =
      b.CreateSelect(b.CreateICmpSLT(remaining, block_threads), remaining, block_threads);
  b.CreateBr(inner_header);

  // inner.header: for (t = 0; t < tile_len; ++t)
  b.SetInsertPoint(inner_header);
  llvm::PHINode* t = b.CreatePHI(i64, 2, "t");
  t->addIncoming(b.getInt64(0), staged);
  b.CreateCondBr(b.CreateICmpSLT(t, tile_len), inner_body, tile_end);

  b.SetInsertPoint(inner_body);
  {
    // Staged values are the Var leaves past the arguments: read from the tile.
    std::vector<int> offsets;
    int offset = 0;
    for (ir::Expr e : s.staged.staged) {
      offsets.push_back(offset);
      offset += e->dim;
    }
    Value* slot = b.CreateMul(t, b.getInt64(s.staged_values));
    Value* index = b.CreateAdd(t0, t);
    // Arguments of the reduced category that were not staged are read from global memory.
    auto staged_at = [&](ir::Expr v) {
      const size_t position = size_t(v->var_index());
      return position < spec.args.size() ? -1 : offsets[position - spec.args.size()];
    };
    FormulaEmitter from_tile(
        b, ir::DepSet(ir::dep_of(spec.inner_cat()) | ir::kDepP),
        [&](llvm::IRBuilderBase& ib, ir::Expr v) -> Vals {
          const int at = staged_at(v);
          if (at < 0) return global_row(ib, v, index);
          Vals out(static_cast<size_t>(v->dim));
          for (int c = 0; c < v->dim; ++c)
            out[size_t(c)] = ib.CreateAlignedLoad(
                T, ib.CreateGEP(T, tile, ib.CreateAdd(slot, ib.getInt64(at + c))), align_t);
          return out;
        },
        [&](llvm::IRBuilderBase& ib, ir::Expr v) {
          const int at = staged_at(v);
          if (at < 0) return global_row_start(ib, v, index);
          return FormulaEmitter::Row{ib.CreateGEP(T, tile, ib.CreateAdd(slot, ib.getInt64(at))), T};
        },
        stream_dim);
    from_tile.delegate_to(&params);
    FormulaEmitter pair(b, ir::kDepI | ir::kDepJ | ir::kDepP, nullptr, nullptr, stream_dim);
    pair.delegate_to(&params);
    pair.delegate_to(&outer);
    pair.delegate_to(&from_tile);
    Vals fv = pair.emit(f);
    if (g) {
      const Vals& gv = pair.emit(g);
      fv.insert(fv.end(), gv.begin(), gv.end());
    }
    const Vals state = load_state(tile_slots);
    auto combine = [&] { store_state(reduction->combine(b, state, fv, index), tile_slots); };
    if (Value* changes = reduction->may_change(b, state, fv)) {
      auto* update = BasicBlock::Create(ctx, "combine", fn, tile_end);
      auto* done = BasicBlock::Create(ctx, "combined", fn, tile_end);
      b.CreateCondBr(changes, update, done, llvm::MDBuilder(ctx).createBranchWeights(1, 16));
      b.SetInsertPoint(update);
      combine();
      b.CreateBr(done);
      b.SetInsertPoint(done);
    } else {
      combine();
    }
  }
  t->addIncoming(b.CreateAdd(t, b.getInt64(1)), b.GetInsertBlock());
  b.CreateBr(inner_header);

  // tile.end: nobody overwrites the tile before everyone has read it.
  b.SetInsertPoint(tile_end);
  if (blocked)
    store_state(reduction->merge(b, load_state(total_slots), load_state(tile_slots)), total_slots);
  b.CreateIntrinsic(llvm::Intrinsic::nvvm_barrier0, {}, {});
  t0->addIncoming(b.CreateAdd(t0, block_threads), tile_end);
  b.CreateBr(tile_header);

  b.SetInsertPoint(finish);
  b.CreateCondBr(live, store, exit);
  b.SetInsertPoint(store);
  {
    Vals out_values, out_indices;
    reduction->finalize(b, load_state(total_slots), out_values, out_indices);
    const int value_cols = spec.value_cols(), index_cols = spec.index_cols();
    for (int c = 0; c < value_cols; ++c)
      b.CreateAlignedStore(
          out_values[size_t(c)],
          b.CreateGEP(T, values,
                      b.CreateAdd(b.CreateMul(row, b.getInt64(value_cols)), b.getInt64(c))),
          align_t);
    for (int c = 0; c < index_cols; ++c)
      b.CreateAlignedStore(
          out_indices[size_t(c)],
          b.CreateGEP(i64, indices,
                      b.CreateAdd(b.CreateMul(row, b.getInt64(index_cols)), b.getInt64(c))),
          llvm::Align(8));
  }
  b.CreateBr(exit);
  b.SetInsertPoint(exit);
  b.CreateRetVoid();
}

}  // namespace keops::codegen
