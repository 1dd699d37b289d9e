// The merge kernel of the GPU's 2-D scheme (nvptx_kernel.h): a thread per output row folds
// the partial states of its slots, the output row or the merged state its result.
#include <memory>
#include <optional>

#include <llvm/IR/IntrinsicsNVPTX.h>

#include "compiler/codegen/nvptx_kernel.h"
#include "compiler/codegen/nvptx_kernel_parts.h"
#include "compiler/support/check.h"

namespace keops::codegen {

using llvm::BasicBlock;
using llvm::Value;

namespace {

// Columns a merge kernel folds at a time (build_merge_kernel).
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
void build_merge_kernel(llvm::Module& m, const KernelSpec& full, const lower::ColumnGroups& groups,
                        const std::string& name) {
  llvm::LLVMContext& ctx = m.getContext();
  llvm::Type* T = element_type(ctx, full);
  auto whole = make_reduction_emitter(groups.spec);
  const int64_t state_values = int64_t(whole->state_types(T).size());
  const std::optional<ColumnCells> split = whole->column_cells();
  const bool chunked = split && split->columns > 2 * kMergeChunk;
  const int64_t header = chunked ? split->header : 0;
  ir::Context chunk_ctx;  // owns the chunk's cut formula
  const std::unique_ptr<ReductionEmitter> reduction =
      chunked ? make_reduction_emitter(
                    lower::cut_columns(chunk_ctx, groups.spec, split->of_g, kMergeChunk))
              : std::move(whole);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  const lower::KernelAbi abi = lower::merge_kernel_abi();
  llvm::Function* fn = kernel_function(m, name, abi);
  auto param = [&](lower::Param p) { return fn->getArg(abi.index(p)); };
  Value* out_rows = param(lower::Param::OutRows);
  Value* n_slots = param(lower::Param::NSlots);
  Value* values = param(lower::Param::Values);
  Value* indices = param(lower::Param::Indices);
  Value* finalize = param(lower::Param::Finalize);
  const auto state_types = reduction->state_types(T);  // the cells folded together
  const StateCells cells{param(lower::Param::States), out_rows, groups.groups, state_values};

  auto* entry = BasicBlock::Create(ctx, "entry", fn);
  auto* group_header = BasicBlock::Create(ctx, "group.header", fn);
  auto* group_body = BasicBlock::Create(ctx, "group.body", fn);
  auto* chunk_header = chunked ? BasicBlock::Create(ctx, "chunk.header", fn) : nullptr;
  auto* chunk_body = chunked ? BasicBlock::Create(ctx, "chunk.body", fn) : group_body;
  auto* slot_header = BasicBlock::Create(ctx, "slot.header", fn);
  auto* slot_body = BasicBlock::Create(ctx, "slot.body", fn);
  auto* slots_done = BasicBlock::Create(ctx, "slots.done", fn);
  auto* write_output = BasicBlock::Create(ctx, "write.output", fn);
  auto* write_state = BasicBlock::Create(ctx, "write.state", fn);
  auto* chunk_next = chunked ? BasicBlock::Create(ctx, "chunk.next", fn) : nullptr;
  auto* chunks_done = chunked ? BasicBlock::Create(ctx, "chunks.done", fn) : nullptr;
  auto* write_header = chunked ? BasicBlock::Create(ctx, "write.header", fn) : nullptr;
  auto* group_next = BasicBlock::Create(ctx, "group.next", fn);
  auto* exit = BasicBlock::Create(ctx, "exit", fn);

  llvm::IRBuilder<> b(entry);
  std::vector<llvm::AllocaInst*> slots;
  for (llvm::Type* t : state_types) slots.push_back(b.CreateAlloca(t));
  Value* row = grid_thread_index(b);
  Value* first_group = special_register(b, llvm::Intrinsic::nvvm_read_ptx_sreg_ctaid_z);
  Value* group_step = special_register(b, llvm::Intrinsic::nvvm_read_ptx_sreg_nctaid_z);
  b.CreateCondBr(b.CreateICmpSLT(row, out_rows), group_header, exit);

  // group.header: for (g = ctaid.z; g < groups; g += nctaid.z)
  b.SetInsertPoint(group_header);
  llvm::PHINode* g = b.CreatePHI(i64, 2, "g");
  g->addIncoming(first_group, entry);
  b.CreateCondBr(b.CreateICmpSLT(g, b.getInt64(groups.groups)), group_body, exit);
  b.SetInsertPoint(group_body);
  Value* c0 = groups.dim > 0 ? group_first_column(b, g, groups) : nullptr;

  // chunk.header: for (q = 0; q < chunks; ++q), the chunk's columns from
  // first = min(q * kMergeChunk, columns - kMergeChunk); one chunk of every cell unchunked.
  llvm::PHINode* q = nullptr;
  Value* first = nullptr;
  if (chunked) {
    b.CreateBr(chunk_header);
    b.SetInsertPoint(chunk_header);
    q = b.CreatePHI(i64, 2, "q");
    q->addIncoming(b.getInt64(0), group_body);
    const int64_t chunks = (split->columns + kMergeChunk - 1) / kMergeChunk;
    b.CreateCondBr(b.CreateICmpSLT(q, b.getInt64(chunks)), chunk_body, chunks_done);
    b.SetInsertPoint(chunk_body);
    Value* start = b.CreateMul(q, b.getInt64(kMergeChunk));
    Value* last = b.getInt64(split->columns - kMergeChunk);
    first = b.CreateSelect(b.CreateICmpSLT(start, last), start, last);
  }
  // The cell of the state for the folded cell k: the header's, then the chunk's columns.
  auto cell = [&](size_t k) -> Value* {
    if (int64_t(k) < header) return b.getInt64(int64_t(k));
    return chunked ? b.CreateAdd(first, b.getInt64(int64_t(k))) : b.getInt64(int64_t(k));
  };
  auto load_slot = [&](Value* slot) {
    Vals state;
    for (size_t k = 0; k < state_types.size(); ++k)
      state.push_back(
          b.CreateAlignedLoad(state_types[k], cells.at(b, g, cell(k), slot, row), llvm::Align(8)));
    return state;
  };
  auto load_slots = [&] {
    Vals state;
    for (size_t k = 0; k < state_types.size(); ++k)
      state.push_back(b.CreateLoad(state_types[k], slots[k]));
    return state;
  };
  auto store_slots = [&](const Vals& state) {
    for (size_t k = 0; k < state.size(); ++k) b.CreateStore(state[k], slots[k]);
  };
  const Vals slot0 = load_slot(b.getInt64(0));
  store_slots(slot0);
  BasicBlock* slots_entry = b.GetInsertBlock();
  b.CreateBr(slot_header);

  // slot.header: for (s = 1; s < n_slots; ++s) state = merge(state, slot s)
  b.SetInsertPoint(slot_header);
  llvm::PHINode* slot = b.CreatePHI(i64, 2, "slot");
  slot->addIncoming(b.getInt64(1), slots_entry);
  b.CreateCondBr(b.CreateICmpSLT(slot, n_slots), slot_body, slots_done);
  b.SetInsertPoint(slot_body);
  store_slots(reduction->merge(b, load_slots(), load_slot(slot)));
  slot->addIncoming(b.CreateAdd(slot, b.getInt64(1)), slot_body);
  b.CreateBr(slot_header);

  BasicBlock* after_rows = chunked ? chunk_next : group_next;
  b.SetInsertPoint(slots_done);
  b.CreateCondBr(b.CreateICmpNE(finalize, b.getInt64(0)), write_output, write_state);
  b.SetInsertPoint(write_output);
  Value* out_c0 = !chunked ? c0 : c0 ? b.CreateAdd(c0, first) : first;
  store_output(b, *reduction, load_slots(), full, T, values, indices, row, out_c0);
  b.CreateBr(after_rows);
  // write.state: the merged cells to slot 0; a chunk's header cells wait for the last chunk
  // (every chunk reads them), and the columns an earlier chunk wrote stay as they are.
  b.SetInsertPoint(write_state);
  {
    const Vals state = load_slots();
    for (size_t k = size_t(header); k < state.size(); ++k) {
      Value* v = state[k];
      if (chunked) {
        Value* column = b.CreateAdd(first, b.getInt64(int64_t(k) - header));
        v = b.CreateSelect(b.CreateICmpSLT(column, b.CreateMul(q, b.getInt64(kMergeChunk))),
                           slot0[k], v);
      }
      b.CreateAlignedStore(v, cells.at(b, g, cell(k), b.getInt64(0), row), llvm::Align(8));
    }
  }
  b.CreateBr(after_rows);
  if (chunked) {
    b.SetInsertPoint(chunk_next);
    q->addIncoming(b.CreateAdd(q, b.getInt64(1)), chunk_next);
    // Kept a loop: unrolled, a few chunks would be the long code this avoids.
    llvm::Metadata* no_unroll[] = {llvm::MDString::get(ctx, "llvm.loop.unroll.disable")};
    llvm::MDNode* loop_id =
        llvm::MDNode::getDistinct(ctx, {nullptr, llvm::MDNode::get(ctx, no_unroll)});
    loop_id->replaceOperandWith(0, loop_id);
    b.CreateBr(chunk_header)->setMetadata(llvm::LLVMContext::MD_loop, loop_id);
    // chunks.done: the merged header (every chunk's is the same) once the chunks are read.
    b.SetInsertPoint(chunks_done);
    b.CreateCondBr(b.CreateICmpNE(finalize, b.getInt64(0)), group_next, write_header);
    b.SetInsertPoint(write_header);
    const Vals state = load_slots();
    for (int64_t k = 0; k < header; ++k)
      b.CreateAlignedStore(state[size_t(k)], cells.at(b, g, size_t(k), b.getInt64(0), row),
                           llvm::Align(8));
    b.CreateBr(group_next);
  }
  b.SetInsertPoint(group_next);
  g->addIncoming(b.CreateAdd(g, group_step), group_next);
  b.CreateBr(group_header);
  b.SetInsertPoint(exit);
  b.CreateRetVoid();
}

}  // namespace

void build_nvptx_merge_kernel(llvm::Module& m, const lower::KernelPlan& plan,
                              const std::string& name) {
  KEOPS_CHECK(plan.spec.gpu_partial, "a merge kernel merges the states of a partial kernel");
  build_merge_kernel(m, plan.spec, *plan.groups, name);
}

}  // namespace keops::codegen
