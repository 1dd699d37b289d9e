// The reduction state every kernel keeps (see blocked_state.h).
#include "compiler/codegen/blocked_state.h"

namespace keops::codegen {

bool keeps_blocks(const KernelSpec& spec, const ReductionEmitter& reduction) {
  return spec.sum_scheme == SumScheme::Block && (spec.block_size > 0 || !reduction.exact());
}

BlockedState::BlockedState(llvm::IRBuilderBase& b, const ReductionEmitter& reduction,
                           llvm::Type* lanes, bool blocked)
    : reduction_(reduction),
      lanes_(lanes),
      types_(reduction.state_types(lanes)),
      total_(make_state_slots(b, types_)),
      block_(blocked ? make_state_slots(b, types_) : total_),
      blocked_(blocked) {}

void BlockedState::start(llvm::IRBuilderBase& b) const {
  store_state(b, reduction_.init(b, lanes_), total_);
}

void BlockedState::resume(llvm::IRBuilderBase& b, llvm::Value* load, const Vals& saved) const {
  const Vals current = total(b);
  Vals state;
  for (size_t k = 0; k < current.size(); ++k)
    state.push_back(b.CreateSelect(load, saved[k], current[k]));
  store_state(b, state, total_);
}

void BlockedState::open_block(llvm::IRBuilderBase& b) const {
  if (blocked_) store_state(b, reduction_.block_init(b, lanes_, total(b)), block_);
}

void BlockedState::fold(llvm::IRBuilderBase& b, const Vals& f, llvm::Value* index,
                        bool fast_when_rare) const {
  reduction_.emit_fold(
      b, load_state(b, types_, block_), f, index,
      [&](const Vals& next) { store_state(b, next, block_); }, fast_when_rare);
}

void BlockedState::close_block(llvm::IRBuilderBase& b) const {
  if (blocked_)
    store_state(b, reduction_.merge_block(b, total(b), load_state(b, types_, block_)), total_);
}

Vals BlockedState::total(llvm::IRBuilderBase& b) const { return load_state(b, types_, total_); }

}  // namespace keops::codegen
