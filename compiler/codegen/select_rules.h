// The rules by which a selection (Max, Min, KMin and their Arg forms) ranks entries.
#pragma once

#include <llvm/IR/IRBuilder.h>

namespace keops::codegen {

// Shared by the selection emitters (reductions.cpp's slots in registers, select_in_memory.cpp's
// slots in memory), so that they cannot disagree. An entry is a value and its index (null
// when indices are not kept); an empty slot holds the worst infinity and index -1. x beats
// slot s when x < s (x > s for Max), or when s is empty and x is not NaN (with indices).
struct SelectRules {
  bool is_max;

  llvm::Value* empty_value(llvm::Type* lanes) const;
  // Whether x beats s; full: s is known not to be empty.
  llvm::Value* beats(llvm::IRBuilderBase& b, llvm::Value* x, llvm::Value* x_index, llvm::Value* s,
                     llvm::Value* s_index, bool full) const;
  // A superset of the lanes where `candidate` beats the slot holding `last`, in one compare:
  // an empty slot holds the worst infinity, which every non-NaN candidate reaches.
  llvm::Value* may_beat(llvm::IRBuilderBase& b, llvm::Value* candidate, llvm::Value* last) const;
};

llvm::Value* empty_index(llvm::Type* index_lanes);                  // -1 in every lane
llvm::Value* is_empty(llvm::IRBuilderBase& b, llvm::Value* index);  // index < 0
// The i64 lanes matching `lanes` (T or <W x T>).
llvm::Type* index_lanes_of(llvm::Type* lanes);

}  // namespace keops::codegen
