// Emission of the vector ops: reductions over components, norms, distances, slicing,
// injection and one-hot encoding (reference: evaluator_vector.cpp).
#include <algorithm>
#include <utility>

#include <llvm/IR/Intrinsics.h>

#include "compiler/codegen/formula_emitter_ops.h"
#include "compiler/codegen/math.h"
#include "compiler/support/check.h"

namespace keops::codegen::detail {

using ir::Op;
using P = llvm::CmpInst::Predicate;

namespace {

// WeightedSqNorm(s, f): s * |f|^2 (s of dim 1), sum_k s_k f_k^2 (dim d) or f^T S f (S of dim
// d * d, row-major), chosen in that order as keopscore's WeightedSqNorm.
Value* weighted_sqnorm(Arith& a, const Vals& s, const Vals& f) {
  const size_t d = f.size();
  if (s.size() == 1) return a.mul(s[0], a.sum_of_products(f, f));
  Vals sf(d);
  for (size_t r = 0; r < d; ++r)
    sf[r] = s.size() == d ? a.mul(s[r], f[r])
                          : a.sum_of_products(
                                Vals(s.begin() + long(r * d), s.begin() + long((r + 1) * d)), f);
  return a.sum_of_products(sf, f);
}

// Component-wise Max, Min and their indices: scanning from component 0 and replacing only on
// a strict improvement keeps the first extremum, and an ordered comparison lets a NaN in
// component 0 win and later NaNs lose, as the reference does. Returns {value, index}.
std::pair<Value*, Value*> best_component(Arith& a, const Vals& f, bool is_max) {
  Value* best = f[0];
  Value* best_index = a.cst(best, 0.0);
  for (size_t c = 1; c < f.size(); ++c) {
    Value* better = a.cmp(is_max ? P::FCMP_OGT : P::FCMP_OLT, f[c], best);
    best = a.select(better, f[c], best);
    best_index = a.select(better, a.cst(f[c], double(c)), best_index);
  }
  return {best, best_index};
}

// f placed at `start` in a vector of `dim` zeros (ElemT, ExtractT).
Vals placed(Arith& a, const Vals& f, size_t start, size_t dim) {
  Vals out(dim, a.cst(f[0], 0.0));
  std::copy(f.begin(), f.end(), out.begin() + long(start));
  return out;
}

}  // namespace

Vals emit_vector(Arith& a, ir::Expr e, const ArgVals& args) {
  llvm::IRBuilderBase& b = a.b;
  const Vals& f = *args[0];
  switch (e->op) {
    case Op::Sum: {
      Value* acc = f[0];
      for (size_t c = 1; c < f.size(); ++c) acc = a.add(acc, f[c]);
      return {acc};
    }
    case Op::Max:
    case Op::Min:
      return {best_component(a, f, e->op == Op::Max).first};
    case Op::ArgMax:
    case Op::ArgMin:
      return {best_component(a, f, e->op == Op::ArgMax).second};
    case Op::SqNorm2:
      return {a.sum_of_products(f, f)};
    case Op::Norm2:
      return {emit_sqrt(b, a.sum_of_products(f, f))};
    case Op::Normalize: {  // f * Rsqrt(|f|^2): the zero vector stays zero, as KeOps
      Value* scale = a.rsqrt(a.sum_of_products(f, f));
      Vals out(f.size());
      for (size_t c = 0; c < f.size(); ++c) out[c] = a.mul(f[c], scale);
      return out;
    }
    case Op::Scalprod:
      return {a.sum_of_products(f, *args[1])};
    case Op::SqDist:
    case Op::WeightedSqDist: {
      const Vals& x = *args[e->op == Op::SqDist ? 0 : 1];
      const Vals& y = *args[e->op == Op::SqDist ? 1 : 2];
      Vals diff(x.size());
      for (size_t c = 0; c < diff.size(); ++c) diff[c] = a.sub(x[c], y[c]);
      return {e->op == Op::SqDist ? a.sum_of_products(diff, diff) : weighted_sqnorm(a, f, diff)};
    }
    case Op::WeightedSqNorm:
      return {weighted_sqnorm(a, f, *args[1])};
    case Op::Concat: {
      Vals out = f;
      out.insert(out.end(), args[1]->begin(), args[1]->end());
      return out;
    }
    case Op::Elem:
      return {f[size_t(e->ints[0])]};
    case Op::Extract:
      return Vals(f.begin() + e->ints[0], f.begin() + e->ints[0] + e->ints[1]);
    case Op::ElemT:
      return placed(a, f, size_t(e->ints[1]), size_t(e->dim));
    case Op::ExtractT:
      return placed(a, f, size_t(e->ints[0]), size_t(e->dim));
    case Op::SumT:
      return Vals(size_t(e->dim), f[0]);
    case Op::OneHot: {
      Vals out(size_t(e->dim));
      for (size_t k = 0; k < out.size(); ++k)
        out[k] = one_hot_component(a, f[0], a.cst(f[0], double(k)));
      return out;
    }
    default:
      KEOPS_CHECK(false, "not a vector op");
      return {};
  }
}

Value* one_hot_component(Arith& a, Value* f, Value* index) {
  // (trunc is computed once per f: LLVM folds the repeats.)
  Value* position = a.unary_intrinsic(llvm::Intrinsic::trunc, a.b.CreateFAdd(f, a.cst(f, 0.5)));
  return a.ones_where(a.b.CreateFCmpOEQ(position, index), position);
}

}  // namespace keops::codegen::detail
