// The merge kernel of the GPU's 2-D scheme (nvptx_kernel.h): a thread per output row folds
// the partial states of its slots, the output row or the merged state its result.
#include <memory>
#include <optional>
#include <vector>

#include <llvm/IR/IntrinsicsNVPTX.h>

#include "compiler/codegen/nvptx_kernel.h"
#include "compiler/codegen/nvptx_kernel_parts.h"
#include "compiler/support/check.h"

namespace keops::codegen {

using llvm::BasicBlock;
using llvm::Value;

namespace {

// Columns a merge kernel folds at a time (MergeKernelBuilder).
constexpr int kMergeChunk = 8;

// The merge kernel of a partial kernel (nvptx_kernel.h): a thread per row folds its slots.
// A state of more than 2 * kMergeChunk columns that splits by column (ColumnCells) is
// folded kMergeChunk columns at a time in a loop, the last chunk ending at the last column
// (it may overlap the one before, whose merged cells it then leaves as they are). The
// driver compiles one module at a time, and the partial kernel's first call waited for the
// merge's; chunked, SumSoftMaxWeight_D64's merge takes 5.7 kB of PTX instead of 23.7, made
// in 22-35 ms instead of 59-92 and loaded in 22-36 ms instead of 57-91, all before the
// partial kernel's PTX is ready (H100, attention_D64 at 2e4, medians of 6 first calls
// 327 -> 282 ms).
class MergeKernelBuilder {
 public:
  MergeKernelBuilder(llvm::Module& m, const KernelSpec& full, const lower::ColumnGroups& groups,
                     const std::string& name);
  void build();

 private:
  Value* param(lower::Param p) const { return fn_->getArg(abi_.index(p)); }
  void create_blocks();
  void enter();
  void fold_slots();
  void write_results();
  void close_chunks();
  Value* cell(size_t k);
  Vals load_slot(Value* slot);
  Vals load_slots();
  void store_slots(const Vals& state);

  llvm::LLVMContext& ctx_;
  const KernelSpec& full_;
  const lower::ColumnGroups& groups_;
  llvm::Type* T_;
  int64_t state_values_ = 0;
  std::optional<ColumnCells> split_;
  bool chunked_ = false;
  int64_t header_ = 0;
  ir::Context chunk_ctx_;  // owns the chunk's cut formula
  std::unique_ptr<ReductionEmitter> reduction_;
  llvm::IntegerType* i64_;
  const lower::KernelAbi abi_;
  llvm::Function* fn_;
  std::vector<llvm::Type*> state_types_;  // the cells folded together
  std::optional<StateCells> cells_;
  BasicBlock *entry_, *group_header_, *group_body_, *chunk_header_, *chunk_body_, *slot_header_,
      *slot_body_, *slots_done_, *write_output_, *write_state_, *chunk_next_, *chunks_done_,
      *write_header_, *group_next_, *exit_;
  llvm::IRBuilder<> b_;
  StateSlots slots_;
  Value *row_ = nullptr, *group_step_ = nullptr, *c0_ = nullptr, *first_ = nullptr;
  llvm::PHINode *g_ = nullptr, *q_ = nullptr;
  Vals slot0_;
};

MergeKernelBuilder::MergeKernelBuilder(llvm::Module& m, const KernelSpec& full,
                                       const lower::ColumnGroups& groups, const std::string& name)
    : ctx_(m.getContext()),
      full_(full),
      groups_(groups),
      T_(element_type(ctx_, full)),
      i64_(llvm::Type::getInt64Ty(ctx_)),
      abi_(lower::merge_kernel_abi()),
      fn_(nullptr),
      b_(ctx_) {
  auto whole = make_reduction_emitter(groups.spec);
  state_values_ = whole->state_cells(T_);
  split_ = whole->column_cells();
  chunked_ = split_ && split_->columns > 2 * kMergeChunk;
  header_ = chunked_ ? split_->header : 0;
  reduction_ = chunked_ ? make_reduction_emitter(lower::cut_columns(chunk_ctx_, groups.spec,
                                                                    split_->of_g, kMergeChunk))
                        : std::move(whole);
  fn_ = kernel_function(m, name, abi_);
  state_types_ = reduction_->state_types(T_);
  cells_.emplace(StateCells{param(lower::Param::States), param(lower::Param::OutRows),
                            groups.groups, state_values_});
}

void MergeKernelBuilder::build() {
  create_blocks();
  enter();
  fold_slots();
  write_results();
  close_chunks();
  // group.next: the next group of columns.
  b_.SetInsertPoint(group_next_);
  g_->addIncoming(b_.CreateAdd(g_, group_step_), group_next_);
  b_.CreateBr(group_header_);
  b_.SetInsertPoint(exit_);
  b_.CreateRetVoid();
}

void MergeKernelBuilder::create_blocks() {
  auto block = [&](const char* name, bool wanted = true) {
    return wanted ? BasicBlock::Create(ctx_, name, fn_) : nullptr;
  };
  entry_ = block("entry");
  group_header_ = block("group.header");
  group_body_ = block("group.body");
  chunk_header_ = block("chunk.header", chunked_);
  chunk_body_ = chunked_ ? block("chunk.body") : group_body_;
  slot_header_ = block("slot.header");
  slot_body_ = block("slot.body");
  slots_done_ = block("slots.done");
  write_output_ = block("write.output");
  write_state_ = block("write.state");
  chunk_next_ = block("chunk.next", chunked_);
  chunks_done_ = block("chunks.done", chunked_);
  write_header_ = block("write.header", chunked_);
  group_next_ = block("group.next");
  exit_ = block("exit");
}

// entry: the state's slots and this thread's row; group.header: for (g = ctaid.z;
// g < groups; g += nctaid.z); chunk.header: for (q = 0; q < chunks; ++q), the chunk's
// columns from first = min(q * kMergeChunk, columns - kMergeChunk); one chunk of every
// cell unchunked.
void MergeKernelBuilder::enter() {
  llvm::IRBuilder<>& b = b_;
  b.SetInsertPoint(entry_);
  slots_ = make_state_slots(b, state_types_);
  row_ = grid_thread_index(b);
  Value* first_group = special_register(b, llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_z);
  group_step_ = special_register(b, llvm::Intrinsic::nvvm_read_ptx_sreg_nctaid_z);
  b.CreateCondBr(b.CreateICmpSLT(row_, param(lower::Param::OutRows)), group_header_, exit_);

  b.SetInsertPoint(group_header_);
  g_ = b.CreatePHI(i64_, 2, "g");
  g_->addIncoming(first_group, entry_);
  b.CreateCondBr(b.CreateICmpSLT(g_, b.getInt64(groups_.groups)), group_body_, exit_);
  b.SetInsertPoint(group_body_);
  c0_ = groups_.dim > 0 ? group_first_column(b, g_, groups_) : nullptr;
  if (!chunked_) return;
  b.CreateBr(chunk_header_);
  b.SetInsertPoint(chunk_header_);
  q_ = b.CreatePHI(i64_, 2, "q");
  q_->addIncoming(b.getInt64(0), group_body_);
  const int64_t chunks = (split_->columns + kMergeChunk - 1) / kMergeChunk;
  b.CreateCondBr(b.CreateICmpSLT(q_, b.getInt64(chunks)), chunk_body_, chunks_done_);
  b.SetInsertPoint(chunk_body_);
  Value* start = b.CreateMul(q_, b.getInt64(kMergeChunk));
  Value* last = b.getInt64(split_->columns - kMergeChunk);
  first_ = b.CreateSelect(b.CreateICmpSLT(start, last), start, last);
}

// The cell of the state for the folded cell k: the header's, then the chunk's columns.
Value* MergeKernelBuilder::cell(size_t k) {
  if (int64_t(k) < header_) return b_.getInt64(int64_t(k));
  return chunked_ ? b_.CreateAdd(first_, b_.getInt64(int64_t(k))) : b_.getInt64(int64_t(k));
}

Vals MergeKernelBuilder::load_slot(Value* slot) {
  if (!chunked_) return reduction_->load_cells(b_, T_, {cells_->at(b_, g_, size_t(0), slot, row_)});
  Vals state;
  for (size_t k = 0; k < state_types_.size(); ++k)
    state.push_back(b_.CreateAlignedLoad(state_types_[k], cells_->at(b_, g_, cell(k), slot, row_),
                                         llvm::Align(8)));
  return state;
}

Vals MergeKernelBuilder::load_slots() { return load_state(b_, state_types_, slots_); }

void MergeKernelBuilder::store_slots(const Vals& state) { store_state(b_, state, slots_); }

// slot.header: for (s = 1; s < n_slots; ++s) state = merge(state, slot s), from slot 0.
void MergeKernelBuilder::fold_slots() {
  llvm::IRBuilder<>& b = b_;
  slot0_ = load_slot(b.getInt64(0));
  store_slots(slot0_);
  BasicBlock* slots_entry = b.GetInsertBlock();
  b.CreateBr(slot_header_);
  b.SetInsertPoint(slot_header_);
  llvm::PHINode* slot = b.CreatePHI(i64_, 2, "slot");
  slot->addIncoming(b.getInt64(1), slots_entry);
  b.CreateCondBr(b.CreateICmpSLT(slot, param(lower::Param::NSlots)), slot_body_, slots_done_);
  b.SetInsertPoint(slot_body_);
  store_slots(reduction_->merge(b, load_slots(), load_slot(slot)));
  slot->addIncoming(b.CreateAdd(slot, b.getInt64(1)), b.GetInsertBlock());
  b.CreateBr(slot_header_);
}

// slots.done: the output row (finalize), or the merged cells to slot 0 (write.state); a
// chunk's header cells wait for the last chunk (every chunk reads them), and the columns an
// earlier chunk wrote stay as they are.
void MergeKernelBuilder::write_results() {
  llvm::IRBuilder<>& b = b_;
  BasicBlock* after_rows = chunked_ ? chunk_next_ : group_next_;
  b.SetInsertPoint(slots_done_);
  b.CreateCondBr(b.CreateICmpNE(param(lower::Param::Finalize), b.getInt64(0)), write_output_,
                 write_state_);
  b.SetInsertPoint(write_output_);
  Value* out_c0 = !chunked_ ? c0_ : c0_ ? b.CreateAdd(c0_, first_) : first_;
  store_output(b, *reduction_, load_slots(), full_, StoredElements(T_, full_.storage),
               {param(lower::Param::Values), param(lower::Param::Indices), row_, out_c0,
                chunked_ ? nullptr : &groups_.spec});
  b.CreateBr(after_rows);
  b.SetInsertPoint(write_state_);
  const Vals state = load_slots();
  if (!chunked_) {
    reduction_->store_cells(b, state, {cells_->at(b, g_, size_t(0), b.getInt64(0), row_)});
    b.CreateBr(after_rows);
    return;
  }
  for (size_t k = size_t(header_); k < state.size(); ++k) {
    Value* v = state[k];
    if (chunked_) {
      Value* column = b.CreateAdd(first_, b.getInt64(int64_t(k) - header_));
      v = b.CreateSelect(b.CreateICmpSLT(column, b.CreateMul(q_, b.getInt64(kMergeChunk))),
                         slot0_[k], v);
    }
    b.CreateAlignedStore(v, cells_->at(b, g_, cell(k), b.getInt64(0), row_), llvm::Align(8));
  }
  b.CreateBr(after_rows);
}

// chunk.next: the next chunk, kept a loop (unrolled, a few chunks would be the long code this
// avoids); chunks.done: the merged header (every chunk's is the same) once the chunks are read.
void MergeKernelBuilder::close_chunks() {
  if (!chunked_) return;
  llvm::IRBuilder<>& b = b_;
  b.SetInsertPoint(chunk_next_);
  q_->addIncoming(b.CreateAdd(q_, b.getInt64(1)), chunk_next_);
  llvm::Metadata* no_unroll[] = {llvm::MDString::get(ctx_, "llvm.loop.unroll.disable")};
  llvm::MDNode* loop_id =
      llvm::MDNode::getDistinct(ctx_, {nullptr, llvm::MDNode::get(ctx_, no_unroll)});
  loop_id->replaceOperandWith(0, loop_id);
  b.CreateBr(chunk_header_)->setMetadata(llvm::LLVMContext::MD_loop, loop_id);
  b.SetInsertPoint(chunks_done_);
  b.CreateCondBr(b.CreateICmpNE(param(lower::Param::Finalize), b.getInt64(0)), group_next_,
                 write_header_);
  b.SetInsertPoint(write_header_);
  const Vals state = load_slots();
  for (int64_t k = 0; k < header_; ++k)
    b.CreateAlignedStore(state[size_t(k)], cells_->at(b, g_, size_t(k), b.getInt64(0), row_),
                         llvm::Align(8));
  b.CreateBr(group_next_);
}

}  // namespace

void build_nvptx_merge_kernel(llvm::Module& m, const lower::KernelPlan& plan,
                              const std::string& name) {
  KEOPS_CHECK(plan.spec.gpu().scheme == GpuScheme::Partial,
              "a merge kernel merges the states of a partial kernel");
  MergeKernelBuilder(m, plan.spec, *plan.groups, name).build();
}

}  // namespace keops::codegen
