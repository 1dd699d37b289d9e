// The GPU kernel builder (see nvptx_kernel.h): per block, reduced rows are loaded a tile
// at a time, their reduced-only subexpressions computed once per row into shared memory;
// each thread then folds the tile's terms of its own output row into its state.
#include "compiler/codegen/nvptx_kernel.h"

#include <algorithm>
#include <memory>

#include <llvm/IR/IntrinsicsNVPTX.h>

#include "compiler/codegen/formula_emitter.h"
#include "compiler/codegen/nvptx_dim_tiles.h"
#include "compiler/codegen/nvptx_kernel_parts.h"
#include "compiler/codegen/reductions.h"
#include "compiler/ir/traverse.h"
#include "compiler/lower/kernel_plan.h"
#include "compiler/support/check.h"

namespace keops::codegen {

using llvm::BasicBlock;
using llvm::Value;

namespace {

// Registers per thread of a kernel whose values held across the pair loop (states, the
// thread's rows) take at most kCappedLoopValues: two blocks of 256 threads then share an SM
// where ptxas, left free, takes up to 172 registers and one block (H100: knn_D64 783 ->
// 741 ms, gauss_D64_E16 82 -> 79 ms, gauss_D1000 614 -> 551 ms). Kernels holding more
// (attention_D64: 130 values) would spill in the pair loop (164 -> 360 ms), and stay free,
// as do long outputs' column groups (their chunks of F need more than the count says).
// Only kernels that may need more than 128 are capped: long pair bodies and float64 ones
// (gauss_sum_D3_f64 at 1e5: 26.4 -> 21.4 ms); short float32 kernels (32 to 60 registers)
// lost by it (gauss_sum_D3 at 1e6: 350 -> 376 ms, knn_D3: 444 -> 473 ms).
constexpr int kRegisterCap = 128;
constexpr int kCappedLoopValues = 96;

// The reduced rows that the staged values read (each argument once).
std::vector<ir::Expr> reduced_leaves(const lower::KernelPlan& plan) {
  std::vector<ir::Expr> leaves;
  const KernelSpec& spec = plan.spec;
  for (ir::Expr e : ir::reachable_nodes(plan.staged.staged))
    if (e->op == ir::Op::Var && e->var_cat() == spec.inner_cat()) leaves.push_back(e);
  std::sort(leaves.begin(), leaves.end(),
            [](ir::Expr a, ir::Expr c) { return a->var_index() < c->var_index(); });
  return leaves;
}

// Caps fn's registers per thread (ptxas's .maxnreg).
void cap_registers(llvm::Module& m, llvm::Function* fn, int registers) {
  llvm::LLVMContext& ctx = m.getContext();
  m.getOrInsertNamedMetadata("nvvm.annotations")
      ->addOperand(llvm::MDNode::get(
          ctx, {llvm::ValueAsMetadata::get(fn), llvm::MDString::get(ctx, "maxnreg"),
                llvm::ConstantAsMetadata::get(
                    llvm::ConstantInt::get(llvm::Type::getInt32Ty(ctx), registers))}));
}

// One of a thread's output rows: where it is, whether it exists, its state, and the
// emitter of its output-only values.
struct ThreadRow {
  Value* row = nullptr;
  Value* live = nullptr;      // row < the block's end of rows
  Value* load_row = nullptr;  // row, or the last row when not live
  std::vector<llvm::AllocaInst*> total_slots, tile_slots;
  std::unique_ptr<FormulaEmitter> outer;
};

}  // namespace

void build_nvptx_kernel(llvm::Module& m, const lower::KernelPlan& plan, const std::string& name) {
  const KernelSpec& spec = plan.spec;
  llvm::LLVMContext& ctx = m.getContext();
  const ir::Expr f = plan.f();
  const ir::Expr g = plan.g();
  const lower::ColumnGroups& groups = *plan.groups;
  const bool grouped = groups.dim > 0;
  auto reduction = make_reduction_emitter(groups.spec);

  llvm::Type* T = element_type(ctx, spec);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  auto* i32 = llvm::Type::getInt32Ty(ctx);
  auto* ptr = llvm::PointerType::get(ctx, 0);
  const llvm::Align align_t(T->getPrimitiveSizeInBits() / 8);
  const bool sparse = spec.gpu_block_sparse;
  const bool partial = spec.gpu_partial;
  llvm::Function* fn = kernel_function(m, name, plan.abi);
  auto param = [&](lower::Param p) { return fn->getArg(plan.abi.index(p)); };
  // The tile: dynamic shared memory, sized at launch.
  auto* tile = new llvm::GlobalVariable(m, llvm::ArrayType::get(T, 0), false,
                                        llvm::GlobalValue::ExternalLinkage, nullptr, "keops_tile",
                                        nullptr, llvm::GlobalValue::NotThreadLocal, 3);
  tile->setAlignment(llvm::Align(16));

  Value* out_rows = param(lower::Param::OutRows);
  Value* n_reduced = param(lower::Param::NReduced);
  Value* args = param(lower::Param::ArgTable);
  Value* values = partial ? nullptr : param(lower::Param::Values);
  Value* indices = partial ? nullptr : param(lower::Param::Indices);

  auto* entry = BasicBlock::Create(ctx, "entry", fn);
  auto* group_header = grouped ? BasicBlock::Create(ctx, "group.header", fn) : nullptr;
  auto* group_body = grouped ? BasicBlock::Create(ctx, "group.body", fn) : nullptr;
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
  auto* group_next = grouped ? BasicBlock::Create(ctx, "group.next", fn) : nullptr;
  auto* exit = BasicBlock::Create(ctx, "exit", fn);

  llvm::IRBuilder<> b(entry);
  auto sreg = [&](llvm::Intrinsic::ID id) { return special_register(b, id); };
  Value* thread = sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_tid_x);
  Value* block_threads = sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_ntid_x);
  Value* block = sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_x);
  // Dense: block b takes rows b * rows_per_block + [0, rows_per_block), every reduced row;
  // thread t takes rows t, t + block_threads, ... of them.
  const int rows_per_thread = spec.gpu_rows_per_thread;
  KEOPS_CHECK(rows_per_thread >= 1 && (rows_per_thread == 1 || !(sparse || partial)),
              "several rows per thread need a dense, whole (not partial) GPU kernel");
  Value* rows_begin = b.CreateMul(block, b.CreateMul(block_threads, b.getInt64(rows_per_thread)));
  Value* rows_end = out_rows;
  Value* first_range = nullptr;
  Value* last_range = nullptr;
  if (sparse) {  // block b takes the rows and ranges of work item b
    Value* item = b.CreateGEP(i64, param(lower::Param::Items), b.CreateMul(block, b.getInt64(4)));
    auto field = [&](uint64_t k, const char* what) {
      return b.CreateAlignedLoad(i64, b.CreateConstGEP1_64(i64, item, k), llvm::Align(8), what);
    };
    rows_begin = field(0, "rows.begin");
    rows_end = field(1, "rows.end");
    first_range = field(2, "ranges.first");
    last_range = field(3, "ranges.last");
  }
  // Threads past the last row still load tiles for the others: they read the last row.
  std::vector<ThreadRow> thread_rows(static_cast<size_t>(rows_per_thread));
  for (int r = 0; r < rows_per_thread; ++r) {
    ThreadRow& tr = thread_rows[size_t(r)];
    tr.row =
        b.CreateAdd(rows_begin, b.CreateAdd(thread, b.CreateMul(block_threads, b.getInt64(r))));
    tr.live = b.CreateICmpSLT(tr.row, rows_end);
    tr.load_row = b.CreateSelect(tr.live, tr.row, b.CreateSub(rows_end, b.getInt64(1)));
  }

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
  // Sums fold each tile into a state of its own merged into the total (the Block scheme of
  // the CPU, with blocks of one tile): rounding grows with the tile, not with n_reduced. The
  // tile starts from block_init: LogSumExp's tiles then keep the running max, and their
  // terms below it take the fast path (logsumexp_D3 at 1e6 on an H100: 610 -> 541 ms).
  const bool blocked = spec.sum_scheme == SumScheme::Block && !reduction->exact();
  for (ThreadRow& tr : thread_rows) {
    tr.total_slots = make_slots();
    tr.tile_slots = blocked ? make_slots() : tr.total_slots;
  }
  // The reduced rows of this block: all of them, a split's (partial), or its ranges (sparse).
  Value* tiles_begin = b.getInt64(0);
  Value* tiles_end = n_reduced;
  Value* split = nullptr;
  if (partial) {
    split = sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_y);
    auto min = [&](Value* x, Value* y) { return b.CreateSelect(b.CreateICmpSLT(x, y), x, y); };
    Value* split_len = param(lower::Param::SplitLen);
    tiles_begin = min(b.CreateMul(split, split_len), n_reduced);
    tiles_end = min(b.CreateAdd(tiles_begin, split_len), n_reduced);
  }
  std::vector<Value*> arg_ptrs;
  for (size_t k = 0; k < spec.args.size(); ++k)
    arg_ptrs.push_back(b.CreateLoad(ptr, b.CreateConstGEP1_64(ptr, args, k)));

  // Long outputs: for (group = ctaid.z; group < groups; group += nctaid.z), its first column
  // c0; everything from the state's init on runs per group.
  BasicBlock* begin = entry;
  llvm::PHINode* group = nullptr;
  Value* c0 = nullptr;
  if (grouped) {
    Value* first_group = sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_z);
    Value* group_step = sreg(llvm::Intrinsic::nvvm_read_ptx_sreg_nctaid_z);
    b.CreateBr(group_header);
    b.SetInsertPoint(group_header);
    group = b.CreatePHI(i64, 2, "group");
    group->addIncoming(first_group, entry);
    b.CreateCondBr(b.CreateICmpSLT(group, b.getInt64(groups.groups)), group_body, exit);
    b.SetInsertPoint(group_next);
    group->addIncoming(b.CreateAdd(group, group_step), group_next);
    b.CreateBr(group_header);
    b.SetInsertPoint(group_body);
    c0 = group_first_column(b, group, groups);
    begin = group_body;
  }
  for (const ThreadRow& tr : thread_rows) store_state(reduction->init(b, T), tr.total_slots);
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
  // Streamed vectors (longer than stream_dim) are read from their rows where they are.
  auto global_row_start = [&](llvm::IRBuilderBase& ib, ir::Expr var, Value* at) {
    return FormulaEmitter::Row{ib.CreateGEP(T, arg_ptrs[size_t(var->var_index())],
                                            ib.CreateMul(at, ib.getInt64(var->dim))),
                               T};
  };
  // A grouped kernel streams its long formula to take one group's columns of it; shorter
  // vectors stay unrolled as in other kernels.
  const int64_t stream_dim = grouped ? std::min(FormulaEmitter::kGpuStreamDim, groups.dim - 1)
                                     : FormulaEmitter::kGpuStreamDim;
  llvm::IRBuilder<> entry_b(begin->getTerminator());
  FormulaEmitter params(
      entry_b, ir::kDepP,
      [&](llvm::IRBuilderBase& ib, ir::Expr v) -> Vals {
        return global_row(ib, v, ib.getInt64(0));
      },
      [&](llvm::IRBuilderBase& ib, ir::Expr v) { return global_row_start(ib, v, ib.getInt64(0)); },
      stream_dim);
  for (ThreadRow& tr : thread_rows) {
    Value* load_row = tr.load_row;
    tr.outer = std::make_unique<FormulaEmitter>(
        entry_b, ir::DepSet(ir::dep_of(spec.outer_cat()) | ir::kDepP),
        [&, load_row](llvm::IRBuilderBase& ib, ir::Expr v) -> Vals {
          return global_row(ib, v, load_row);
        },
        // A thread's own long row is copied once into its local memory, which the hardware
        // interleaves across threads: later reads, once per reduced row, are coalesced.
        [&, load_row](llvm::IRBuilderBase& ib, ir::Expr v) {
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
    tr.outer->delegate_to(&params);
  }

  // The reduced rows run as tiles over [tiles_begin, tiles_end), or over each range of the block.
  BasicBlock* tiles_entry = begin;
  BasicBlock* tiles_exit = finish;
  if (sparse) {
    // range.header: for (r = first_range; r < last_range; ++r)
    b.SetInsertPoint(range_header);
    llvm::PHINode* r = b.CreatePHI(i64, 2, "r");
    r->addIncoming(first_range, begin);
    b.CreateCondBr(b.CreateICmpSLT(r, last_range), range_body, finish);
    b.SetInsertPoint(range_body);
    Value* at = b.CreateGEP(i64, param(lower::Param::Ranges), b.CreateMul(r, b.getInt64(2)));
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

  // Short reduced rows are prefetched: a thread loads its row of the next tile before the
  // pair loop of this one, so that the warps of a block do not all wait for global memory
  // together at the barrier (gauss_sum_D3 at 1e5: 3.89 -> 3.63 ms, knn_D3 at 1e6: 444 ->
  // 436 ms; logsumexp_D3 at 1e6 lost 1.5%, 601 -> 610 ms). Several rows per thread amortize
  // that wait over four times the pairs, and the registers the next rows take cost their
  // pair loop more (gauss_sum_D3 at 1e6: 301 -> 308 ms). A row past the end loads the last
  // one instead.
  const bool prefetch = !grouped && rows_per_thread == 1 && lower::short_pair_body(spec);
  const std::vector<ir::Expr> prefetched =
      prefetch ? reduced_leaves(plan) : std::vector<ir::Expr>{};
  auto load_rows = [&](Value* row) {
    row =
        b.CreateSelect(b.CreateICmpSLT(row, tiles_end), row, b.CreateSub(tiles_end, b.getInt64(1)));
    std::vector<Vals> rows;
    for (ir::Expr v : prefetched) rows.push_back(global_row(b, v, row));
    return rows;
  };
  BasicBlock* tiles_start = tiles_entry;
  std::vector<Vals> first_rows;
  if (!prefetched.empty()) {
    // The first tile's rows, where there is a tile (an empty input has no rows to read).
    auto* check = BasicBlock::Create(ctx, "tile.prefetch", fn, tile_header);
    auto* first = BasicBlock::Create(ctx, "tile.prefetch.first", fn, tile_header);
    KEOPS_CHECK(tiles_entry->getTerminator()->getSuccessor(0) == tile_header,
                "the tiles are entered from one block");
    tiles_entry->getTerminator()->setSuccessor(0, check);
    b.SetInsertPoint(check);
    b.CreateCondBr(b.CreateICmpSLT(tiles_begin, tiles_end), first, tile_header);
    b.SetInsertPoint(first);
    first_rows = load_rows(b.CreateAdd(tiles_begin, thread));
    b.CreateBr(tile_header);
    tiles_entry = check;
    tiles_start = first;
  }

  // tile.header: for (t0 = tiles_begin; t0 < tiles_end; t0 += block_threads)
  b.SetInsertPoint(tile_header);
  llvm::PHINode* t0 = b.CreatePHI(i64, 2, "t0");
  t0->addIncoming(tiles_begin, tiles_entry);
  if (tiles_start != tiles_entry) t0->addIncoming(tiles_begin, tiles_start);
  // This tile's prefetched rows (poison where there is no tile).
  std::vector<std::vector<llvm::PHINode*>> tile_rows;
  for (size_t k = 0; k < prefetched.size(); ++k) {
    tile_rows.emplace_back();
    for (Value* first : first_rows[k]) {
      llvm::PHINode* phi = b.CreatePHI(T, 3);
      phi->addIncoming(llvm::PoisonValue::get(T), tiles_entry);
      phi->addIncoming(first, tiles_start);
      tile_rows.back().push_back(phi);
    }
  }
  Value* stage_row = b.CreateAdd(t0, thread);
  const bool tiled = plan.dim_tiled();
  auto* tiled_tile = tiled ? BasicBlock::Create(ctx, "tile.dims", fn, tile_end) : nullptr;
  b.CreateCondBr(b.CreateICmpSLT(t0, tiles_end), tiled ? tiled_tile : stage, tiles_exit);

  // Folds the pair of each of the thread's rows and the reduced row `index` into the row's tile
  // state; reduced-only values come from `reduced` (loaded or computed once for every row),
  // the products of dimension tiles are the values `given`.
  auto fold_pairs = [&](FormulaEmitter& reduced, Value* index, const Vals& given) {
    // The reduced index of a partial kernel's row: its arrays may start at index_base.
    Value* reduced_index = partial ? b.CreateAdd(index, param(lower::Param::IndexBase)) : index;
    for (const ThreadRow& tr : thread_rows) {
      FormulaEmitter pair(b, ir::kDepI | ir::kDepJ | ir::kDepP, nullptr, nullptr, stream_dim);
      pair.delegate_to(&params);
      pair.delegate_to(tr.outer.get());
      pair.delegate_to(&reduced);
      for (size_t k = 0; k < given.size(); ++k)
        pair.provide(plan.tiles.products[k].node, {given[k]});
      // A group takes its columns of F (or of G).
      Vals fv = grouped && !groups.of_g ? pair.emit_chunk(f, c0, groups.width) : pair.emit(f);
      if (g) {
        const Vals gv =
            grouped && groups.of_g ? pair.emit_chunk(g, c0, groups.width) : pair.emit(g);
        fv.insert(fv.end(), gv.begin(), gv.end());
      }
      emit_combine(
          b, *reduction, load_state(tr.tile_slots), fv, reduced_index,
          [&](const Vals& next) { store_state(next, tr.tile_slots); },
          /*fast_when_rare=*/false);
    }
  };

  // Each row's tile state, from the total before the tile.
  auto start_tile_states = [&] {
    if (blocked)
      for (const ThreadRow& tr : thread_rows)
        store_state(reduction->block_init(b, T, load_state(tr.total_slots)), tr.tile_slots);
  };
  std::vector<Vals> next_rows;  // prefetched: the next tile's rows
  if (tiled) {
    // tile.dims: kTileRows reduced rows, their products with the thread's row by chunks of
    // dimensions (nvptx_dim_tiles.h), then each pair's formula in turn.
    b.SetInsertPoint(tiled_tile);
    start_tile_states();
    auto* dim_tile_type = llvm::ArrayType::get(T, uint64_t(dim_tile_shared_values(plan.tiles)));
    auto* dim_tile =
        new llvm::GlobalVariable(m, dim_tile_type, false, llvm::GlobalValue::InternalLinkage,
                                 llvm::UndefValue::get(dim_tile_type), "keops_dim_tile", nullptr,
                                 llvm::GlobalValue::NotThreadLocal, 3);
    dim_tile->setAlignment(llvm::Align(16));
    Value* own_row = thread_rows[0].load_row;
    const DimTileLoop loop{
        plan.tiles,
        spec.gpu_sm,
        T,
        dim_tile,
        thread,
        block_threads,
        t0,
        tiles_end,
        [&](llvm::IRBuilderBase& ib, ir::Expr v) { return global_row_start(ib, v, own_row).base; },
        [&](llvm::IRBuilderBase& ib, ir::Expr v, Value* row) {
          return global_row_start(ib, v, row).base;
        }};
    emit_dim_tiled_products(b, loop, [&](Value* index, const Vals& products) {
      FormulaEmitter reduced(
          b, ir::DepSet(ir::dep_of(spec.inner_cat()) | ir::kDepP),
          [&](llvm::IRBuilderBase& ib, ir::Expr v) -> Vals { return global_row(ib, v, index); },
          [&](llvm::IRBuilderBase& ib, ir::Expr v) { return global_row_start(ib, v, index); },
          stream_dim);
      reduced.delegate_to(&params);
      fold_pairs(reduced, index, products);
    });
    b.CreateBr(tile_end);
    for (BasicBlock* unused : {stage, staged, inner_header, inner_body}) unused->eraseFromParent();
  } else {
    // tile.stage: this thread's reduced row of the tile, its staged values to shared memory.
    b.SetInsertPoint(stage);
    auto* stage_work = BasicBlock::Create(ctx, "tile.stage.work", fn, staged);
    b.CreateCondBr(b.CreateICmpSLT(stage_row, tiles_end), stage_work, staged);
    b.SetInsertPoint(stage_work);
    {
      FormulaEmitter stager(
          b, ir::DepSet(ir::dep_of(spec.inner_cat()) | ir::kDepP),
          [&](llvm::IRBuilderBase& ib, ir::Expr v) -> Vals {
            for (size_t k = 0; k < prefetched.size(); ++k)
              if (prefetched[k]->var_index() == v->var_index())
                return Vals(tile_rows[k].begin(), tile_rows[k].end());
            return global_row(ib, v, stage_row);
          },
          [&](llvm::IRBuilderBase& ib, ir::Expr v) { return global_row_start(ib, v, stage_row); },
          stream_dim);
      stager.delegate_to(&params);
      Value* slot = b.CreateMul(thread, b.getInt64(plan.gpu.staged_values));
      int offset = 0;
      for (ir::Expr e : plan.staged.staged) {
        stager.emit_to_memory(e, {b.CreateGEP(T, tile, b.CreateAdd(slot, b.getInt64(offset))), T});
        offset += e->dim;
      }
    }
    b.CreateBr(staged);

    b.SetInsertPoint(staged);
    b.CreateIntrinsic(llvm::Intrinsic::nvvm_barrier0, {}, {});
    next_rows = load_rows(b.CreateAdd(stage_row, block_threads));
    start_tile_states();
    Value* remaining = b.CreateSub(tiles_end, t0);
    Value* tile_len =
        b.CreateSelect(b.CreateICmpSLT(remaining, block_threads), remaining, block_threads);
    // The pair loop counts in 32 bits: a tile has at most block_threads rows, and 64-bit
    // counters cost two instructions each on the GPU.
    Value* tile_len32 = b.CreateTrunc(tile_len, i32);
    b.CreateBr(inner_header);

    // inner.header: for (t = 0; t < tile_len; ++t)
    b.SetInsertPoint(inner_header);
    llvm::PHINode* t32 = b.CreatePHI(i32, 2, "t");
    t32->addIncoming(b.getInt32(0), staged);
    b.CreateCondBr(b.CreateICmpSLT(t32, tile_len32), inner_body, tile_end);

    b.SetInsertPoint(inner_body);
    {
      // Staged values are the Var leaves past the arguments: read from the tile.
      std::vector<int> offsets;
      int offset = 0;
      for (ir::Expr e : plan.staged.staged) {
        offsets.push_back(offset);
        offset += e->dim;
      }
      Value* t = b.CreateZExt(t32, i64);
      Value* slot = b.CreateMul(t, b.getInt64(plan.gpu.staged_values));
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
            return FormulaEmitter::Row{ib.CreateGEP(T, tile, ib.CreateAdd(slot, ib.getInt64(at))),
                                       T};
          },
          stream_dim);
      from_tile.delegate_to(&params);
      fold_pairs(from_tile, index, {});
    }
    t32->addIncoming(b.CreateAdd(t32, b.getInt32(1), "", /*HasNUW=*/true, /*HasNSW=*/true),
                     b.GetInsertBlock());
    llvm::Instruction* latch = b.CreateBr(inner_header);
    if (!grouped && lower::short_pair_body(spec)) {
      // Several pairs per iteration where a pair is short (low dims): the loop's own
      // instructions are then a small share of a pair's. Long pair bodies gain nothing and grow
      // the code. Eight for float32 kernels of a row per thread (H100, 1e6: logsumexp_D3 540 ->
      // 497 ms, knn_D3 436 -> 395; sixteen: 489, 489); four where a thread has several rows
      // (gauss_sum_D3 301 ms, eight: 308) and in float64 (eight: 80 -> 92 registers,
      // gauss_sum_D3_f64 at 1e5 22 -> 34 ms).
      const int pairs_per_iteration = rows_per_thread == 1 && spec.dtype == ir::DType::F32 ? 8 : 4;
      llvm::Metadata* unroll[] = {llvm::MDString::get(ctx, "llvm.loop.unroll.count"),
                                  llvm::ConstantAsMetadata::get(b.getInt32(pairs_per_iteration))};
      llvm::MDNode* loop_id =
          llvm::MDNode::getDistinct(ctx, {nullptr, llvm::MDNode::get(ctx, unroll)});
      loop_id->replaceOperandWith(0, loop_id);
      latch->setMetadata(llvm::LLVMContext::MD_loop, loop_id);
    }
  }

  // tile.end: nobody overwrites the tile before everyone has read it.
  b.SetInsertPoint(tile_end);
  if (blocked)
    for (const ThreadRow& tr : thread_rows)
      store_state(reduction->merge_block(b, load_state(tr.total_slots), load_state(tr.tile_slots)),
                  tr.total_slots);
  b.CreateIntrinsic(llvm::Intrinsic::nvvm_barrier0, {}, {});
  t0->addIncoming(b.CreateAdd(t0, tiled ? b.getInt64(kTileRows) : block_threads), tile_end);
  for (size_t k = 0; k < prefetched.size(); ++k)
    for (size_t c = 0; c < tile_rows[k].size(); ++c)
      tile_rows[k][c]->addIncoming(next_rows[k][c], tile_end);
  b.CreateBr(tile_header);

  // finish: each live row's result (or a partial kernel's state), then the next group.
  BasicBlock* after_rows = grouped ? group_next : exit;
  b.SetInsertPoint(finish);
  for (size_t r = 0; r < thread_rows.size(); ++r) {
    const ThreadRow& tr = thread_rows[r];
    auto* store = BasicBlock::Create(ctx, "store", fn, after_rows);
    auto* next = r + 1 < thread_rows.size() ? BasicBlock::Create(ctx, "finish.next", fn, after_rows)
                                            : after_rows;
    b.CreateCondBr(tr.live, store, next);
    b.SetInsertPoint(store);
    if (partial) {
      // The state, not finalized, to slot first_slot + split.
      const StateCells cells{param(lower::Param::States), out_rows, groups.groups,
                             int64_t(state_types.size())};
      Value* state_slot = b.CreateAdd(param(lower::Param::FirstSlot), split);
      const Vals state = load_state(tr.total_slots);
      for (size_t k = 0; k < state.size(); ++k)
        b.CreateAlignedStore(state[k],
                             cells.at(b, grouped ? static_cast<Value*>(group) : b.getInt64(0), k,
                                      state_slot, tr.row),
                             llvm::Align(8));
    } else {
      store_output(b, *reduction, load_state(tr.total_slots), spec, T, values, indices, tr.row, c0);
    }
    b.CreateBr(next);
    if (next != after_rows) b.SetInsertPoint(next);
  }
  b.SetInsertPoint(exit);
  b.CreateRetVoid();
  // The 32-bit registers the pair loop keeps live: each row's state and output-only values
  // (unrolled rows; streamed ones live in local memory).
  int64_t loop_values = 0;
  for (llvm::Type* t : state_types) loop_values += (t->getPrimitiveSizeInBits() + 31) / 32;
  for (const ArgLayout& a : spec.args)
    if (a.cat == spec.outer_cat() && a.dim <= stream_dim)
      loop_values += a.dim * (T->getPrimitiveSizeInBits() / 32);
  const bool many_registers = !lower::short_pair_body(spec) || spec.dtype == ir::DType::F64;
  if (many_registers && !grouped && loop_values * rows_per_thread <= kCappedLoopValues)
    cap_registers(m, fn, kRegisterCap);
}

}  // namespace keops::codegen
