// FormulaEmitter: LLVM IR for a formula, one value per component, hoisted by dependency.
#pragma once

#include <functional>
#include <unordered_map>
#include <vector>

#include <llvm/IR/IRBuilder.h>

#include "compiler/ir/node.h"

namespace keops::codegen {

using Vals = std::vector<llvm::Value*>;

// Emits IR nodes as LLVM values. Each emitter owns one scope (a dependency set) and a
// builder positioned where that scope's code goes; a node whose dependencies fit an
// earlier scope is delegated to that scope's emitter, so parameter-only work lands
// once before all loops, i-only work once per tile, j-only work once per j, and only
// the rest per pair (ARCHITECTURE.md rule 5).
//
// Values are the scalar type T or a vector <W x T> (lanes over output rows); a scalar
// meeting a vector is broadcast at the point of use.
class FormulaEmitter {
 public:
  // Loads the components of a Var leaf owned by this scope.
  using VarLoader = std::function<Vals(llvm::IRBuilderBase&, ir::Expr var)>;

  FormulaEmitter(llvm::IRBuilderBase& builder, ir::DepSet scope, VarLoader loader);

  // Scopes tried, in order, before this one emits a node itself.
  void delegate_to(FormulaEmitter* outer) { delegates_.push_back(outer); }

  // The components of e (memoized): every op of ops.def has a rule (formula_emitter_ops.h).
  const Vals& emit(ir::Expr e);

  llvm::IRBuilderBase& builder() { return b_; }
  llvm::Type* scalar_type(ir::DType dtype) const;

 private:
  Vals emit_op(ir::Expr e);

  llvm::IRBuilderBase& b_;
  ir::DepSet scope_;
  VarLoader loader_;
  std::vector<FormulaEmitter*> delegates_;
  std::unordered_map<ir::Expr, Vals> memo_;
};

// Broadcasts a scalar to the vector type of `like` when one is a vector and the other not.
llvm::Value* match_width(llvm::IRBuilderBase& b, llvm::Value* v, llvm::Value* like);

}  // namespace keops::codegen
