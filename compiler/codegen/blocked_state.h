// The reduction state every kernel keeps for an output row: a total, and blocks merged into it.
#pragma once

#include <vector>

#include <llvm/IR/IRBuilder.h>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/codegen/reductions.h"

namespace keops::codegen {

// Whether kernels of spec keep their states in blocks: sums under the Block scheme, whose
// rounding then grows with a block, not with the reduced axis (CPU blocks of block_size
// terms, GPU blocks of one tile), and any reduction when block_size forces blocks. A
// selection is exact: blocks would only restart its slots, and lose may_change's fast
// rejection, at each block.
bool keeps_blocks(const KernelSpec& spec, const ReductionEmitter& reduction);

// One output row's state (a lane group's on the CPU), in allocas (promoted to registers by
// SROA): a total started from init; each block of terms starts from block_init(total), folds
// its terms, and is merged into the total (merge_block); finalize(total) is the row's result.
// Without blocks, terms fold into the total. The CPU and GPU kernels keep their states through
// this class only, so that their schemes cannot disagree (ARCHITECTURE.md rule 4).
class BlockedState {
 public:
  // Slots made at b's position (the function's entry); `lanes` is T or <W x T>.
  BlockedState(llvm::IRBuilderBase& b, const ReductionEmitter& reduction, llvm::Type* lanes,
               bool blocked);

  void start(llvm::IRBuilderBase& b) const;  // total = init
  // total = (load ? saved : total), saved a state of types() (a resumed reduction).
  void resume(llvm::IRBuilderBase& b, llvm::Value* load, const Vals& saved) const;
  const std::vector<llvm::Type*>& types() const { return types_; }
  void open_block(llvm::IRBuilderBase& b) const;  // block = block_init(total)
  // block = block folded with one term (ReductionEmitter::emit_fold).
  void fold(llvm::IRBuilderBase& b, const Vals& f, llvm::Value* index,
            bool fast_when_rare = true) const;
  void close_block(llvm::IRBuilderBase& b) const;  // total = merge_block(total, block)
  Vals total(llvm::IRBuilderBase& b) const;        // the total, not finalized

 private:
  const ReductionEmitter& reduction_;
  llvm::Type* lanes_;
  std::vector<llvm::Type*> types_;
  StateSlots total_, block_;  // block_ is total_ without blocks
  bool blocked_;
};

}  // namespace keops::codegen
