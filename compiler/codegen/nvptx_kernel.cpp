// The GPU kernel builder (see nvptx_kernel.h): per block, reduced rows are loaded a tile
// at a time, their reduced-only subexpressions computed once per row into shared memory;
// each thread then folds the tile's terms of its own output row into its state.
#include "compiler/codegen/nvptx_kernel.h"

#include <algorithm>
#include <memory>

#include <llvm/IR/IntrinsicsNVPTX.h>

#include "compiler/codegen/blocked_state.h"
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
  Value* live = nullptr;                // row < the block's end of rows
  Value* load_row = nullptr;            // row, or the last row when not live
  std::unique_ptr<BlockedState> state;  // blocks of one tile
  std::unique_ptr<FormulaEmitter> outer;
};

// The builder state of one GPU kernel under construction, a method per phase: the entry
// (rows, states), the column groups' loop, the emitters of parameters and output rows, the
// ranges' loop (block-sparse), the tiles' loop (each tile staged, or dimension-tiled, then
// its pairs folded), the results.
class NvptxKernelBuilder {
 public:
  NvptxKernelBuilder(llvm::Module& m, const lower::KernelPlan& plan, const std::string& name);
  void build();

 private:
  Value* param(lower::Param p) const { return fn_->getArg(plan_.abi.index(p)); }
  void create_blocks();
  void enter();
  void enter_group_loop();
  void make_row_emitters();
  void enter_range_loop();
  void prefetch_first_rows();
  void open_tile();
  void dim_tiled_tile();
  void stage_tile();
  void pair_loop();
  void close_tile();
  void finish_rows();
  void cap_loop_registers();

  Vals global_row(llvm::IRBuilderBase& ib, ir::Expr var, Value* at) const;
  FormulaEmitter::Row global_row_start(llvm::IRBuilderBase& ib, ir::Expr var, Value* at) const;
  std::vector<Vals> load_rows(Value* row);
  void start_tile_states();
  void fold_pairs(FormulaEmitter& reduced, Value* index, const Vals& given);
  std::unique_ptr<FormulaEmitter> reduced_emitter(
      const std::function<Vals(llvm::IRBuilderBase&, ir::Expr)>& row,
      const std::function<FormulaEmitter::Row(llvm::IRBuilderBase&, ir::Expr)>& row_start);

  llvm::Module& m_;
  const lower::KernelPlan& plan_;
  const KernelSpec& spec_;
  llvm::LLVMContext& ctx_;
  const lower::ColumnGroups& groups_;
  const bool grouped_, sparse_, partial_, tiled_;
  const int rows_per_thread_;
  std::unique_ptr<ReductionEmitter> reduction_;
  llvm::Type* T_;
  StoredElements elements_;  // how the arrays hold T
  llvm::IntegerType* i64_;
  llvm::IntegerType* i32_;
  llvm::PointerType* ptr_;
  llvm::Align align_t_;
  llvm::Function* fn_;
  llvm::GlobalVariable* tile_;
  Value *out_rows_, *n_reduced_, *args_, *values_, *indices_;
  BasicBlock *entry_, *group_header_, *group_body_, *range_header_, *range_body_, *tile_header_,
      *stage_, *staged_, *inner_header_, *inner_body_, *tile_end_, *range_next_, *finish_,
      *group_next_, *exit_;
  llvm::IRBuilder<> b_;
  Value *thread_ = nullptr, *block_threads_ = nullptr, *block_ = nullptr;
  Value *rows_begin_ = nullptr, *rows_end_ = nullptr;
  Value *first_range_ = nullptr, *last_range_ = nullptr;
  std::vector<ThreadRow> thread_rows_;
  std::vector<llvm::Type*> state_types_;
  Value *tiles_begin_ = nullptr, *tiles_end_ = nullptr, *split_ = nullptr;
  std::vector<Value*> arg_ptrs_;
  BasicBlock* begin_ = nullptr;  // where the states start: the entry, or each group's body
  llvm::PHINode* group_ = nullptr;
  Value* c0_ = nullptr;
  int64_t stream_dim_ = 0;
  std::unique_ptr<llvm::IRBuilder<>> entry_b_;  // before begin_'s branch: loop-invariant values
  std::unique_ptr<FormulaEmitter> params_;
  BasicBlock *tiles_entry_ = nullptr, *tiles_exit_ = nullptr, *tiles_start_ = nullptr;
  std::vector<ir::Expr> prefetched_;
  std::vector<Vals> first_rows_, next_rows_;
  llvm::PHINode* t0_ = nullptr;
  std::vector<std::vector<llvm::PHINode*>> tile_rows_;  // this tile's prefetched rows
  Value* stage_row_ = nullptr;
  BasicBlock* tiled_tile_ = nullptr;
};

NvptxKernelBuilder::NvptxKernelBuilder(llvm::Module& m, const lower::KernelPlan& plan,
                                       const std::string& name)
    : m_(m),
      plan_(plan),
      spec_(plan.spec),
      ctx_(m.getContext()),
      groups_(*plan.groups),
      grouped_(plan.groups->dim > 0),
      sparse_(plan.spec.gpu().scheme == GpuScheme::BlockSparse),
      partial_(plan.spec.gpu().scheme == GpuScheme::Partial),
      tiled_(plan.dim_tiled()),
      rows_per_thread_(plan.spec.gpu().rows_per_thread),
      reduction_(make_reduction_emitter(plan.groups->spec)),
      T_(element_type(ctx_, spec_)),
      elements_(T_, spec_.storage),
      i64_(llvm::Type::getInt64Ty(ctx_)),
      i32_(llvm::Type::getInt32Ty(ctx_)),
      ptr_(llvm::PointerType::get(ctx_, 0)),
      align_t_(T_->getPrimitiveSizeInBits() / 8),
      fn_(kernel_function(m, name, plan.abi)),
      b_(ctx_) {
  // The tile: dynamic shared memory, sized at launch.
  tile_ = new llvm::GlobalVariable(m, llvm::ArrayType::get(T_, 0), false,
                                   llvm::GlobalValue::ExternalLinkage, nullptr, "keops_tile",
                                   nullptr, llvm::GlobalValue::NotThreadLocal, 3);
  tile_->setAlignment(llvm::Align(16));
  out_rows_ = param(lower::Param::OutRows);
  n_reduced_ = param(lower::Param::NReduced);
  args_ = param(lower::Param::ArgTable);
  values_ = partial_ ? nullptr : param(lower::Param::Values);
  indices_ = partial_ ? nullptr : param(lower::Param::Indices);
  // A grouped kernel streams its long formula to take one group's columns of it; shorter
  // vectors stay unrolled as in other kernels.
  stream_dim_ = grouped_ ? std::min(FormulaEmitter::kGpuStreamDim, groups_.dim - 1)
                         : FormulaEmitter::kGpuStreamDim;
}

void NvptxKernelBuilder::build() {
  create_blocks();
  enter();
  enter_group_loop();
  make_row_emitters();
  enter_range_loop();
  prefetch_first_rows();
  open_tile();
  if (tiled_) {
    dim_tiled_tile();
  } else {
    stage_tile();
    pair_loop();
  }
  close_tile();
  finish_rows();
  cap_loop_registers();
}

void NvptxKernelBuilder::create_blocks() {
  auto block = [&](const char* name, bool wanted = true) {
    return wanted ? BasicBlock::Create(ctx_, name, fn_) : nullptr;
  };
  entry_ = block("entry");
  group_header_ = block("group.header", grouped_);
  group_body_ = block("group.body", grouped_);
  range_header_ = block("range.header", sparse_);
  range_body_ = block("range.body", sparse_);
  tile_header_ = block("tile.header");
  stage_ = block("tile.stage");
  staged_ = block("tile.staged");
  inner_header_ = block("inner.header");
  inner_body_ = block("inner.body");
  tile_end_ = block("tile.end");
  range_next_ = block("range.next", sparse_);
  finish_ = block("finish");
  group_next_ = block("group.next", grouped_);
  exit_ = block("exit");
}

// entry: this thread's rows and their states, the block's reduced rows, the arguments.
void NvptxKernelBuilder::enter() {
  llvm::IRBuilder<>& b = b_;
  b.SetInsertPoint(entry_);
  thread_ = special_register(b, llvm::Intrinsic::nvvm_read_ptx_sreg_tid_x);
  block_threads_ = special_register(b, llvm::Intrinsic::nvvm_read_ptx_sreg_ntid_x);
  block_ = special_register(b, llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_x);
  // Dense: block b takes rows b * rows_per_block + [0, rows_per_block), every reduced row;
  // thread t takes rows t, t + block_threads, ... of them.
  KEOPS_CHECK(rows_per_thread_ >= 1 && (rows_per_thread_ == 1 || !(sparse_ || partial_)),
              "several rows per thread need a dense, whole (not partial) GPU kernel");
  rows_begin_ = b.CreateMul(block_, b.CreateMul(block_threads_, b.getInt64(rows_per_thread_)));
  rows_end_ = out_rows_;
  if (sparse_) {  // block b takes the rows and ranges of work item b
    Value* item = b.CreateGEP(i64_, param(lower::Param::Items), b.CreateMul(block_, b.getInt64(4)));
    auto field = [&](uint64_t k, const char* what) {
      return b.CreateAlignedLoad(i64_, b.CreateConstGEP1_64(i64_, item, k), llvm::Align(8), what);
    };
    rows_begin_ = field(0, "rows.begin");
    rows_end_ = field(1, "rows.end");
    first_range_ = field(2, "ranges.first");
    last_range_ = field(3, "ranges.last");
  }
  // Threads past the last row still load tiles for the others: they read the last row.
  thread_rows_.resize(static_cast<size_t>(rows_per_thread_));
  for (int r = 0; r < rows_per_thread_; ++r) {
    ThreadRow& tr = thread_rows_[size_t(r)];
    tr.row =
        b.CreateAdd(rows_begin_, b.CreateAdd(thread_, b.CreateMul(block_threads_, b.getInt64(r))));
    tr.live = b.CreateICmpSLT(tr.row, rows_end_);
    tr.load_row = b.CreateSelect(tr.live, tr.row, b.CreateSub(rows_end_, b.getInt64(1)));
  }
  state_types_ = reduction_->state_types(T_);
  // Sums fold each tile into a state of its own merged into the total (the Block scheme of
  // the CPU, with blocks of one tile): rounding grows with the tile, not with n_reduced. The
  // tile starts from block_init: LogSumExp's tiles then keep the running max, and their
  // terms below it take the fast path (logsumexp_D3 at 1e6 on an H100: 610 -> 541 ms).
  const bool blocked = keeps_blocks(spec_, *reduction_);
  for (ThreadRow& tr : thread_rows_)
    tr.state = std::make_unique<BlockedState>(b, *reduction_, T_, blocked);
  // The reduced rows of this block: all of them, a split's (partial), or its ranges (sparse).
  tiles_begin_ = b.getInt64(0);
  tiles_end_ = n_reduced_;
  if (partial_) {
    split_ = special_register(b, llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_y);
    auto min = [&](Value* x, Value* y) { return b.CreateSelect(b.CreateICmpSLT(x, y), x, y); };
    Value* split_len = param(lower::Param::SplitLen);
    tiles_begin_ = min(b.CreateMul(split_, split_len), n_reduced_);
    tiles_end_ = min(b.CreateAdd(tiles_begin_, split_len), n_reduced_);
  }
  for (size_t k = 0; k < spec_.args.size(); ++k)
    arg_ptrs_.push_back(b.CreateLoad(ptr_, b.CreateConstGEP1_64(ptr_, args_, k)));
}

// Long outputs: for (group = ctaid.z; group < groups; group += nctaid.z), its first column
// c0; everything from the state's init on runs per group.
void NvptxKernelBuilder::enter_group_loop() {
  llvm::IRBuilder<>& b = b_;
  begin_ = entry_;
  if (!grouped_) return;
  Value* first_group = special_register(b, llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_z);
  Value* group_step = special_register(b, llvm::Intrinsic::nvvm_read_ptx_sreg_nctaid_z);
  b.CreateBr(group_header_);
  b.SetInsertPoint(group_header_);
  group_ = b.CreatePHI(i64_, 2, "group");
  group_->addIncoming(first_group, entry_);
  b.CreateCondBr(b.CreateICmpSLT(group_, b.getInt64(groups_.groups)), group_body_, exit_);
  b.SetInsertPoint(group_next_);
  group_->addIncoming(b.CreateAdd(group_, group_step), group_next_);
  b.CreateBr(group_header_);
  b.SetInsertPoint(group_body_);
  c0_ = group_first_column(b, group_, groups_);
  begin_ = group_body_;
}

// The states' init, and the emitters of parameters and of each output row's values, which
// emit before the reduced rows' loops.
void NvptxKernelBuilder::make_row_emitters() {
  llvm::IRBuilder<>& b = b_;
  for (const ThreadRow& tr : thread_rows_) tr.state->start(b);
  b.CreateBr(sparse_ ? range_header_ : tile_header_);
  entry_b_ = std::make_unique<llvm::IRBuilder<>>(begin_->getTerminator());
  params_ = std::make_unique<FormulaEmitter>(
      *entry_b_, ir::kDepP,
      [&](llvm::IRBuilderBase& ib, ir::Expr v) -> Vals {
        return global_row(ib, v, ib.getInt64(0));
      },
      [&](llvm::IRBuilderBase& ib, ir::Expr v) { return global_row_start(ib, v, ib.getInt64(0)); },
      stream_dim_);
  for (ThreadRow& tr : thread_rows_) {
    Value* load_row = tr.load_row;
    tr.outer = std::make_unique<FormulaEmitter>(
        *entry_b_, ir::DepSet(ir::dep_of(spec_.outer_cat()) | ir::kDepP),
        [this, load_row](llvm::IRBuilderBase& ib, ir::Expr v) -> Vals {
          return global_row(ib, v, load_row);
        },
        // A thread's own long row is copied once into its local memory, which the hardware
        // interleaves across threads: later reads, once per reduced row, are coalesced.
        [this, load_row](llvm::IRBuilderBase& ib, ir::Expr v) {
          const FormulaEmitter::Row from = global_row_start(ib, v, load_row);
          llvm::AllocaInst* copy = entry_alloca(ib, llvm::ArrayType::get(T_, uint64_t(v->dim)));
          emit_component_loop(ib, v->dim, 8, [&](Value* c0, int width) {
            for (int k = 0; k < width; ++k) {
              Value* c = ib.CreateAdd(c0, ib.getInt64(k));
              ib.CreateStore(from.load(ib, c), ib.CreateGEP(T_, copy, c));
            }
          });
          return FormulaEmitter::Row{copy, T_};
        },
        stream_dim_);
    tr.outer->delegate_to(params_.get());
  }
}

// The reduced rows run as tiles over [tiles_begin, tiles_end), or over each range of the
// block: range.header: for (r = first_range; r < last_range; ++r).
void NvptxKernelBuilder::enter_range_loop() {
  llvm::IRBuilder<>& b = b_;
  tiles_entry_ = begin_;
  tiles_exit_ = finish_;
  if (!sparse_) return;
  b.SetInsertPoint(range_header_);
  llvm::PHINode* r = b.CreatePHI(i64_, 2, "r");
  r->addIncoming(first_range_, begin_);
  b.CreateCondBr(b.CreateICmpSLT(r, last_range_), range_body_, finish_);
  b.SetInsertPoint(range_body_);
  Value* at = b.CreateGEP(i64_, param(lower::Param::Ranges), b.CreateMul(r, b.getInt64(2)));
  tiles_begin_ = b.CreateAlignedLoad(i64_, at, llvm::Align(8), "range.start");
  tiles_end_ =
      b.CreateAlignedLoad(i64_, b.CreateConstGEP1_64(i64_, at, 1), llvm::Align(8), "range.end");
  b.CreateBr(tile_header_);
  b.SetInsertPoint(range_next_);
  r->addIncoming(b.CreateAdd(r, b.getInt64(1)), range_next_);
  b.CreateBr(range_header_);
  tiles_entry_ = range_body_;
  tiles_exit_ = range_next_;
}

// Short reduced rows are prefetched: a thread loads its row of the next tile before the
// pair loop of this one, so that the warps of a block do not all wait for global memory
// together at the barrier (gauss_sum_D3 at 1e5: 3.89 -> 3.63 ms, knn_D3 at 1e6: 444 ->
// 436 ms; logsumexp_D3 at 1e6 lost 1.5%, 601 -> 610 ms). Several rows per thread amortize
// that wait over four times the pairs, and the registers the next rows take cost their
// pair loop more (gauss_sum_D3 at 1e6: 301 -> 308 ms). A row past the end loads the last
// one instead.
void NvptxKernelBuilder::prefetch_first_rows() {
  llvm::IRBuilder<>& b = b_;
  const bool prefetch = !grouped_ && rows_per_thread_ == 1 && lower::short_pair_body(spec_);
  if (prefetch) prefetched_ = reduced_leaves(plan_);
  tiles_start_ = tiles_entry_;
  if (prefetched_.empty()) return;
  // The first tile's rows, where there is a tile (an empty input has no rows to read).
  auto* check = BasicBlock::Create(ctx_, "tile.prefetch", fn_, tile_header_);
  auto* first = BasicBlock::Create(ctx_, "tile.prefetch.first", fn_, tile_header_);
  KEOPS_CHECK(tiles_entry_->getTerminator()->getSuccessor(0) == tile_header_,
              "the tiles are entered from one block");
  tiles_entry_->getTerminator()->setSuccessor(0, check);
  b.SetInsertPoint(check);
  b.CreateCondBr(b.CreateICmpSLT(tiles_begin_, tiles_end_), first, tile_header_);
  b.SetInsertPoint(first);
  first_rows_ = load_rows(b.CreateAdd(tiles_begin_, thread_));
  b.CreateBr(tile_header_);
  tiles_entry_ = check;
  tiles_start_ = first;
}

// tile.header: for (t0 = tiles_begin; t0 < tiles_end; t0 += block_threads)
void NvptxKernelBuilder::open_tile() {
  llvm::IRBuilder<>& b = b_;
  b.SetInsertPoint(tile_header_);
  t0_ = b.CreatePHI(i64_, 2, "t0");
  t0_->addIncoming(tiles_begin_, tiles_entry_);
  if (tiles_start_ != tiles_entry_) t0_->addIncoming(tiles_begin_, tiles_start_);
  // This tile's prefetched rows (poison where there is no tile).
  for (size_t k = 0; k < prefetched_.size(); ++k) {
    tile_rows_.emplace_back();
    for (Value* first : first_rows_[k]) {
      llvm::PHINode* phi = b.CreatePHI(T_, 3);
      phi->addIncoming(llvm::PoisonValue::get(T_), tiles_entry_);
      phi->addIncoming(first, tiles_start_);
      tile_rows_.back().push_back(phi);
    }
  }
  stage_row_ = b.CreateAdd(t0_, thread_);
  tiled_tile_ = tiled_ ? BasicBlock::Create(ctx_, "tile.dims", fn_, tile_end_) : nullptr;
  b.CreateCondBr(b.CreateICmpSLT(t0_, tiles_end_), tiled_ ? tiled_tile_ : stage_, tiles_exit_);
}

// tile.dims: kTileRows reduced rows, their products with the thread's row by chunks of
// dimensions (nvptx_dim_tiles.h), then each pair's formula in turn.
void NvptxKernelBuilder::dim_tiled_tile() {
  llvm::IRBuilder<>& b = b_;
  b.SetInsertPoint(tiled_tile_);
  start_tile_states();
  auto* dim_tile_type = llvm::ArrayType::get(T_, uint64_t(dim_tile_shared_values(plan_.tiles)));
  auto* dim_tile =
      new llvm::GlobalVariable(m_, dim_tile_type, false, llvm::GlobalValue::InternalLinkage,
                               llvm::UndefValue::get(dim_tile_type), "keops_dim_tile", nullptr,
                               llvm::GlobalValue::NotThreadLocal, 3);
  dim_tile->setAlignment(llvm::Align(16));
  llvm::GlobalVariable* matrix_tile = nullptr;
  if (plan_.gpu.matrix_units) {
    auto* matrix_tile_type = llvm::ArrayType::get(T_, uint64_t(kMatrixTileValues));
    matrix_tile =
        new llvm::GlobalVariable(m_, matrix_tile_type, false, llvm::GlobalValue::InternalLinkage,
                                 llvm::UndefValue::get(matrix_tile_type), "keops_matrix_tile",
                                 nullptr, llvm::GlobalValue::NotThreadLocal, 3);
    matrix_tile->setAlignment(llvm::Align(16));
  }
  Value* own_row = thread_rows_[0].load_row;
  const DimTileLoop loop{
      plan_.tiles,
      spec_.gpu().sm,
      elements_,
      dim_tile,
      plan_.gpu.matrix_units,
      spec_.gpu().matmul_precision == MatmulPrecision::TF32,
      matrix_tile,
      thread_,
      block_threads_,
      t0_,
      tiles_end_,
      [&](llvm::IRBuilderBase& ib, ir::Expr v) { return global_row_start(ib, v, own_row).base; },
      [&](llvm::IRBuilderBase& ib, ir::Expr v, Value* row) {
        return global_row_start(ib, v, row).base;
      }};
  emit_dim_tiled_products(b, loop, [&](Value* index, const Vals& products) {
    const auto reduced = reduced_emitter(
        [&](llvm::IRBuilderBase& ib, ir::Expr v) -> Vals { return global_row(ib, v, index); },
        [&](llvm::IRBuilderBase& ib, ir::Expr v) { return global_row_start(ib, v, index); });
    fold_pairs(*reduced, index, products);
  });
  b.CreateBr(tile_end_);
  for (BasicBlock* unused : {stage_, staged_, inner_header_, inner_body_})
    unused->eraseFromParent();
}

// tile.stage: this thread's reduced row of the tile, its staged values to shared memory;
// tile.staged: the barrier, the next tile's rows prefetched, the tile's states started.
void NvptxKernelBuilder::stage_tile() {
  llvm::IRBuilder<>& b = b_;
  b.SetInsertPoint(stage_);
  auto* stage_work = BasicBlock::Create(ctx_, "tile.stage.work", fn_, staged_);
  b.CreateCondBr(b.CreateICmpSLT(stage_row_, tiles_end_), stage_work, staged_);
  b.SetInsertPoint(stage_work);
  {
    const auto stager = reduced_emitter(
        [&](llvm::IRBuilderBase& ib, ir::Expr v) -> Vals {
          for (size_t k = 0; k < prefetched_.size(); ++k)
            if (prefetched_[k]->var_index() == v->var_index())
              return Vals(tile_rows_[k].begin(), tile_rows_[k].end());
          return global_row(ib, v, stage_row_);
        },
        [&](llvm::IRBuilderBase& ib, ir::Expr v) { return global_row_start(ib, v, stage_row_); });
    Value* slot = b.CreateMul(thread_, b.getInt64(plan_.gpu.staged_values));
    int offset = 0;
    for (ir::Expr e : plan_.staged.staged) {
      stager->emit_to_memory(e,
                             {b.CreateGEP(T_, tile_, b.CreateAdd(slot, b.getInt64(offset))), T_});
      offset += e->dim;
    }
  }
  b.CreateBr(staged_);
  b.SetInsertPoint(staged_);
  b.CreateIntrinsic(llvm::Intrinsic::nvvm_barrier0, {}, {});
  next_rows_ = load_rows(b.CreateAdd(stage_row_, block_threads_));
  start_tile_states();
}

// inner.header: for (t = 0; t < tile_len; ++t), each pair's staged values read from the tile.
void NvptxKernelBuilder::pair_loop() {
  llvm::IRBuilder<>& b = b_;
  Value* remaining = b.CreateSub(tiles_end_, t0_);
  Value* tile_len =
      b.CreateSelect(b.CreateICmpSLT(remaining, block_threads_), remaining, block_threads_);
  // The pair loop counts in 32 bits: a tile has at most block_threads rows, and 64-bit
  // counters cost two instructions each on the GPU.
  Value* tile_len32 = b.CreateTrunc(tile_len, i32_);
  b.CreateBr(inner_header_);
  b.SetInsertPoint(inner_header_);
  llvm::PHINode* t32 = b.CreatePHI(i32_, 2, "t");
  t32->addIncoming(b.getInt32(0), staged_);
  b.CreateCondBr(b.CreateICmpSLT(t32, tile_len32), inner_body_, tile_end_);

  b.SetInsertPoint(inner_body_);
  {
    // Staged values are the Var leaves past the arguments: read from the tile.
    std::vector<int> offsets;
    int offset = 0;
    for (ir::Expr e : plan_.staged.staged) {
      offsets.push_back(offset);
      offset += e->dim;
    }
    Value* t = b.CreateZExt(t32, i64_);
    Value* slot = b.CreateMul(t, b.getInt64(plan_.gpu.staged_values));
    Value* index = b.CreateAdd(t0_, t);
    // Arguments of the reduced category that were not staged are read from global memory.
    auto staged_at = [&](ir::Expr v) {
      const size_t position = size_t(v->var_index());
      return position < spec_.args.size() ? -1 : offsets[position - spec_.args.size()];
    };
    const auto from_tile = reduced_emitter(
        [&](llvm::IRBuilderBase& ib, ir::Expr v) -> Vals {
          const int at = staged_at(v);
          if (at < 0) return global_row(ib, v, index);
          Vals out(static_cast<size_t>(v->dim));
          for (int c = 0; c < v->dim; ++c)
            out[size_t(c)] = ib.CreateAlignedLoad(
                T_, ib.CreateGEP(T_, tile_, ib.CreateAdd(slot, ib.getInt64(at + c))), align_t_);
          return out;
        },
        [&](llvm::IRBuilderBase& ib, ir::Expr v) {
          const int at = staged_at(v);
          if (at < 0) return global_row_start(ib, v, index);
          return FormulaEmitter::Row{ib.CreateGEP(T_, tile_, ib.CreateAdd(slot, ib.getInt64(at))),
                                     T_};
        });
    fold_pairs(*from_tile, index, {});
  }
  t32->addIncoming(b.CreateAdd(t32, b.getInt32(1), "", /*HasNUW=*/true, /*HasNSW=*/true),
                   b.GetInsertBlock());
  llvm::Instruction* latch = b.CreateBr(inner_header_);
  if (grouped_ || !lower::short_pair_body(spec_)) return;
  // Several pairs per iteration where a pair is short (low dims): the loop's own
  // instructions are then a small share of a pair's. Long pair bodies gain nothing and grow
  // the code. Eight for float32 kernels of a row per thread (H100, 1e6: logsumexp_D3 540 ->
  // 497 ms, knn_D3 436 -> 395; sixteen: 489, 489); four where a thread has several rows
  // (gauss_sum_D3 301 ms, eight: 308) and in float64 (eight: 80 -> 92 registers,
  // gauss_sum_D3_f64 at 1e5 22 -> 34 ms).
  const int pairs_per_iteration = rows_per_thread_ == 1 && spec_.dtype == ir::DType::F32 ? 8 : 4;
  llvm::Metadata* unroll[] = {llvm::MDString::get(ctx_, "llvm.loop.unroll.count"),
                              llvm::ConstantAsMetadata::get(b.getInt32(pairs_per_iteration))};
  llvm::MDNode* loop_id =
      llvm::MDNode::getDistinct(ctx_, {nullptr, llvm::MDNode::get(ctx_, unroll)});
  loop_id->replaceOperandWith(0, loop_id);
  latch->setMetadata(llvm::LLVMContext::MD_loop, loop_id);
}

// tile.end: the tile's states merged into the totals; nobody overwrites the tile before
// everyone has read it.
void NvptxKernelBuilder::close_tile() {
  llvm::IRBuilder<>& b = b_;
  b.SetInsertPoint(tile_end_);
  for (const ThreadRow& tr : thread_rows_) tr.state->close_block(b);
  b.CreateIntrinsic(llvm::Intrinsic::nvvm_barrier0, {}, {});
  t0_->addIncoming(b.CreateAdd(t0_, tiled_ ? b.getInt64(kTileRows) : block_threads_), tile_end_);
  for (size_t k = 0; k < prefetched_.size(); ++k)
    for (size_t c = 0; c < tile_rows_[k].size(); ++c)
      tile_rows_[k][c]->addIncoming(next_rows_[k][c], tile_end_);
  b.CreateBr(tile_header_);
}

// finish: each live row's result (or a partial kernel's state), then the next group.
void NvptxKernelBuilder::finish_rows() {
  llvm::IRBuilder<>& b = b_;
  BasicBlock* after_rows = grouped_ ? group_next_ : exit_;
  b.SetInsertPoint(finish_);
  for (size_t r = 0; r < thread_rows_.size(); ++r) {
    const ThreadRow& tr = thread_rows_[r];
    auto* store = BasicBlock::Create(ctx_, "store", fn_, after_rows);
    auto* next = r + 1 < thread_rows_.size()
                     ? BasicBlock::Create(ctx_, "finish.next", fn_, after_rows)
                     : after_rows;
    b.CreateCondBr(tr.live, store, next);
    b.SetInsertPoint(store);
    if (partial_) {
      // The state, not finalized, to slot first_slot + split.
      const StateCells cells{param(lower::Param::States), out_rows_, groups_.groups,
                             reduction_->state_cells(T_)};
      Value* state_slot = b.CreateAdd(param(lower::Param::FirstSlot), split_);
      reduction_->store_cells(b, tr.state->total(b),
                              {cells.at(b, grouped_ ? static_cast<Value*>(group_) : b.getInt64(0),
                                        size_t(0), state_slot, tr.row)});
    } else {
      store_output(b, *reduction_, tr.state->total(b), spec_, elements_,
                   {values_, indices_, tr.row, c0_, &groups_.spec});
    }
    b.CreateBr(next);
    if (next != after_rows) b.SetInsertPoint(next);
  }
  b.SetInsertPoint(exit_);
  b.CreateRetVoid();
}

// The 32-bit registers the pair loop keeps live: each row's state and output-only values
// (unrolled rows; streamed ones live in local memory).
void NvptxKernelBuilder::cap_loop_registers() {
  int64_t loop_values = 0;
  for (llvm::Type* t : state_types_) loop_values += (t->getPrimitiveSizeInBits() + 31) / 32;
  for (const ArgLayout& a : spec_.args)
    if (a.cat == spec_.outer_cat() && a.dim <= stream_dim_)
      loop_values += a.dim * (T_->getPrimitiveSizeInBits() / 32);
  const bool many_registers = !lower::short_pair_body(spec_) || spec_.dtype == ir::DType::F64;
  if (many_registers && !grouped_ && loop_values * rows_per_thread_ <= kCappedLoopValues)
    cap_registers(m_, fn_, kRegisterCap);
}

Vals NvptxKernelBuilder::global_row(llvm::IRBuilderBase& ib, ir::Expr var, Value* at) const {
  return load_argument_row(ib, elements_, arg_ptrs_[size_t(var->var_index())], at, var->dim);
}

// Streamed vectors (longer than stream_dim) are read from their rows where they are.
FormulaEmitter::Row NvptxKernelBuilder::global_row_start(llvm::IRBuilderBase& ib, ir::Expr var,
                                                         Value* at) const {
  return argument_row(ib, elements_, arg_ptrs_[size_t(var->var_index())], at, var->dim);
}

// The prefetched arguments' values at reduced row `row` (the last row past the end).
std::vector<Vals> NvptxKernelBuilder::load_rows(Value* row) {
  llvm::IRBuilder<>& b = b_;
  row =
      b.CreateSelect(b.CreateICmpSLT(row, tiles_end_), row, b.CreateSub(tiles_end_, b.getInt64(1)));
  std::vector<Vals> rows;
  for (ir::Expr v : prefetched_) rows.push_back(global_row(b, v, row));
  return rows;
}

// Each row's tile state, from the total before the tile.
void NvptxKernelBuilder::start_tile_states() {
  for (const ThreadRow& tr : thread_rows_) tr.state->open_block(b_);
}

// An emitter of reduced-row values (and parameters') whose Vars read through row and
// row_start.
std::unique_ptr<FormulaEmitter> NvptxKernelBuilder::reduced_emitter(
    const std::function<Vals(llvm::IRBuilderBase&, ir::Expr)>& row,
    const std::function<FormulaEmitter::Row(llvm::IRBuilderBase&, ir::Expr)>& row_start) {
  auto emitter = std::make_unique<FormulaEmitter>(
      b_, ir::DepSet(ir::dep_of(spec_.inner_cat()) | ir::kDepP), row, row_start, stream_dim_);
  emitter->delegate_to(params_.get());
  return emitter;
}

// Folds the pair of each of the thread's rows and the reduced row `index` into the row's tile
// state; reduced-only values come from `reduced` (loaded or computed once for every row),
// the products of dimension tiles are the values `given`.
void NvptxKernelBuilder::fold_pairs(FormulaEmitter& reduced, Value* index, const Vals& given) {
  llvm::IRBuilder<>& b = b_;
  const ir::Expr f = plan_.f(), g = plan_.g();
  // The reduced index of a partial kernel's row: its arrays may start at index_base.
  Value* reduced_index = partial_ ? b.CreateAdd(index, param(lower::Param::IndexBase)) : index;
  for (const ThreadRow& tr : thread_rows_) {
    FormulaEmitter pair(b, ir::kDepI | ir::kDepJ | ir::kDepP, nullptr, nullptr, stream_dim_);
    pair.delegate_to(params_.get());
    pair.delegate_to(tr.outer.get());
    pair.delegate_to(&reduced);
    for (size_t k = 0; k < given.size(); ++k)
      pair.provide(plan_.tiles.products[k].node, {given[k]});
    // A group takes its columns of F (or of G).
    Vals fv = grouped_ && !groups_.of_g ? pair.emit_chunk(f, c0_, groups_.width) : pair.emit(f);
    if (g) {
      const Vals gv =
          grouped_ && groups_.of_g ? pair.emit_chunk(g, c0_, groups_.width) : pair.emit(g);
      fv.insert(fv.end(), gv.begin(), gv.end());
    }
    tr.state->fold(b, fv, reduced_index, /*fast_when_rare=*/false);
  }
}

}  // namespace

void build_nvptx_kernel(llvm::Module& m, const lower::KernelPlan& plan, const std::string& name) {
  NvptxKernelBuilder(m, plan, name).build();
}

}  // namespace keops::codegen
