// The rules of selections (see select_rules.h).
#include "compiler/codegen/select_rules.h"

#include <limits>

namespace keops::codegen {

using llvm::Value;

Value* SelectRules::empty_value(llvm::Type* lanes) const {
  const double inf = std::numeric_limits<double>::infinity();
  return llvm::ConstantFP::get(lanes, is_max ? -inf : inf);
}

Value* SelectRules::beats(llvm::IRBuilderBase& b, Value* x, Value* x_index, Value* s,
                          Value* s_index, bool full) const {
  Value* better = is_max ? b.CreateFCmpOGT(x, s) : b.CreateFCmpOLT(x, s);
  if (!x_index || full) return better;
  Value* empty = is_empty(b, s_index);  // emitted before the NaN test, as it always was
  return b.CreateOr(better, b.CreateAnd(empty, b.CreateFCmpORD(x, x)));
}

Value* SelectRules::may_beat(llvm::IRBuilderBase& b, Value* candidate, Value* last) const {
  return is_max ? b.CreateFCmpOGE(candidate, last) : b.CreateFCmpOLE(candidate, last);
}

Value* empty_index(llvm::Type* index_lanes) {
  return llvm::ConstantInt::get(index_lanes, uint64_t(-1), true);
}

Value* is_empty(llvm::IRBuilderBase& b, Value* index) {
  return b.CreateICmpSLT(index, llvm::ConstantInt::get(index->getType(), 0));
}

llvm::Type* index_lanes_of(llvm::Type* lanes) {
  auto* i64 = llvm::Type::getInt64Ty(lanes->getContext());
  if (auto* vt = llvm::dyn_cast<llvm::FixedVectorType>(lanes))
    return llvm::FixedVectorType::get(i64, vt->getNumElements());
  return i64;
}

}  // namespace keops::codegen
