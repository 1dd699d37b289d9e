// The formula emitter's op families and their shared arithmetic: emit_op dispatches each
// op of ops.def to one of these (as the reference evaluator does, evaluator_ops.h).
#pragma once

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include <llvm/IR/IRBuilder.h>

#include "compiler/codegen/formula_emitter.h"

namespace keops::codegen::detail {

using llvm::Value;

// The components of each argument of the node being emitted.
using ArgVals = std::vector<const Vals*>;

// Arithmetic on values that may differ in width (a scalar T meets a vector <W x T>): each
// operation broadcasts the narrower operand first.
struct Arith {
  llvm::IRBuilderBase& b;

  std::pair<Value*, Value*> same(Value* x, Value* y);
  Value* add(Value* x, Value* y);
  Value* sub(Value* x, Value* y);
  Value* mul(Value* x, Value* y);
  Value* div(Value* x, Value* y);
  // x * y + acc, fused where the target has FMA.
  Value* fmuladd(Value* x, Value* y, Value* acc);
  // The constant v with the type of `like`.
  Value* cst(Value* like, double v);
  // cond ? x : y; a vector cond widens scalar x and y, a scalar cond picks whole vectors.
  Value* select(Value* cond, Value* x, Value* y);
  Value* cmp(llvm::CmpInst::Predicate p, Value* x, Value* y);
  // 1 where cond holds, else 0, as values of x's element type and cond's width.
  Value* ones_where(Value* cond, Value* x);
  Value* unary_intrinsic(llvm::Intrinsic::ID id, Value* x);
  // x^n by binary powering; a negative n inverts at the end.
  Value* powi(Value* x, int64_t n);
  // 1/sqrt(x), 0 at 0 (KeOps's Rsqrt convention).
  Value* rsqrt(Value* x);
  // sum_c x[c] y[c], in order of c.
  Value* sum_of_products(const Vals& x, const Vals& y);
};

// Component c of an argument that may be broadcast from dim 1.
inline Value* component(const Vals& v, size_t c) { return v.size() == 1 ? v[0] : v[c]; }

// Arithmetic, element-wise math and comparisons (Broadcast and Same shapes).
Vals emit_elementwise(Arith& a, ir::Expr e, const ArgVals& args);
// Reductions over the components, norms, distances, slicing and one-hot.
Vals emit_vector(Arith& a, ir::Expr e, const ArgVals& args);
// Component `index` (a float of f's type) of OneHot(f): keopscore's (int)(f + .5) == index,
// so -0.7 selects 0 and a position out of range (or NaN) selects none.
Value* one_hot_component(Arith& a, Value* f, Value* index);
// Row-major matrix and tensor products.
Vals emit_tensor(Arith& a, ir::Expr e, const ArgVals& args);
// Complex numbers stored as interleaved (re, im) pairs.
Vals emit_complex(Arith& a, ir::Expr e, const ArgVals& args);
// BSpline and SoftDTW_SqDist.
Vals emit_special(Arith& a, ir::Expr e, const ArgVals& args);

// A series of `size` values read by index (an i64), each a T or lanes of T.
struct Series {
  int64_t size;
  std::function<Value*(Value* index)> at;
};
// SoftDTW_SqDist(x, y, gamma) by loops over its table, the series read by index (streamed:
// none of them unrolled); `like` has the type every cell takes (the widest operand's).
Value* soft_dtw_series(Arith& a, const Series& x, const Series& y, Value* gamma, Value* like);

}  // namespace keops::codegen::detail
