// Emission of arithmetic, element-wise math and comparisons, with KeOps's conventions at 0
// and for NaN (those of the reference evaluator, evaluator_elementwise.cpp).
#include <algorithm>

#include <llvm/IR/Intrinsics.h>

#include "compiler/codegen/formula_emitter_ops.h"
#include "compiler/codegen/math.h"
#include "compiler/codegen/math_extra.h"
#include "compiler/support/check.h"

namespace keops::codegen::detail {

using ir::Op;
using P = llvm::CmpInst::Predicate;

Vals emit_elementwise(Arith& a, ir::Expr e, const ArgVals& args) {
  llvm::IRBuilderBase& b = a.b;
  // As many components as the widest argument: e->dim, or a chunk of it when streamed.
  auto elementwise = [&](auto&& f) {
    size_t dim = 0;
    for (const Vals* arg : args) dim = std::max(dim, arg->size());
    Vals out(dim);
    for (size_t c = 0; c < out.size(); ++c) out[c] = f(c);
    return out;
  };
  auto unary = [&](auto&& f) { return elementwise([&](size_t c) { return f((*args[0])[c]); }); };
  // Broadcasting operands to one width first lets f use the builder directly.
  auto binary = [&](auto&& f) {
    return elementwise([&](size_t c) {
      auto [x, y] = a.same(component(*args[0], c), component(*args[1], c));
      return f(x, y);
    });
  };
  auto ternary = [&](auto&& f) {
    return elementwise([&](size_t c) {
      return f(component(*args[0], c), component(*args[1], c), component(*args[2], c));
    });
  };
  auto intrinsic = [&](llvm::Intrinsic::ID id) {
    return unary([&](Value* x) { return a.unary_intrinsic(id, x); });
  };
  auto compare = [&](P p) {
    return binary([&](Value* x, Value* y) { return a.ones_where(b.CreateFCmp(p, x, y), x); });
  };
  // f(x) where x != 0 (NaN included, as C's !=), else the value at 0.
  auto unary_with_value_at_0 = [&](auto&& f, double at_0) {
    return unary([&](Value* x) {
      return b.CreateSelect(b.CreateFCmpUNE(x, a.cst(x, 0)), f(x), a.cst(x, at_0));
    });
  };

  switch (e->op) {
    case Op::Add:
      return binary([&](Value* x, Value* y) { return b.CreateFAdd(x, y); });
    case Op::Subtract:
      return binary([&](Value* x, Value* y) { return b.CreateFSub(x, y); });
    case Op::Mult:
      return binary([&](Value* x, Value* y) { return b.CreateFMul(x, y); });
    case Op::Divide:
      return binary([&](Value* x, Value* y) { return b.CreateFDiv(x, y); });
    case Op::Minus:
      return unary([&](Value* x) { return b.CreateFNeg(x); });
    case Op::Exp:
      return unary([&](Value* x) { return emit_exp(b, x); });
    case Op::Log:
      return unary([&](Value* x) { return emit_log(b, x); });
    case Op::Sin:
      return unary([&](Value* x) { return emit_sin(b, x); });
    case Op::Cos:
      return unary([&](Value* x) { return emit_cos(b, x); });
    case Op::Sqrt:
      return unary([&](Value* x) { return emit_sqrt(b, x); });
    case Op::Rsqrt:
      return unary([&](Value* x) { return a.rsqrt(x); });
    case Op::Inv:
      return unary([&](Value* x) { return b.CreateFDiv(a.cst(x, 1.0), x); });
    case Op::Square:
      return unary([&](Value* x) { return b.CreateFMul(x, x); });
    case Op::Pow:
      return unary([&](Value* x) { return a.powi(x, e->ints[0]); });
    case Op::Powf:
      return binary([&](Value* x, Value* y) { return emit_pow(b, x, y); });
    case Op::Abs:
      return intrinsic(llvm::Intrinsic::fabs);
    case Op::Asin:
      return unary([&](Value* x) { return emit_asin(b, x); });
    case Op::Acos:
      return unary([&](Value* x) { return emit_acos(b, x); });
    case Op::Atan:
      return unary([&](Value* x) { return emit_atan(b, x); });
    case Op::Atan2:
      return binary([&](Value* y, Value* x) { return emit_atan2(b, y, x); });
    case Op::XLogX:
      return unary_with_value_at_0([&](Value* x) { return b.CreateFMul(x, emit_log(b, x)); }, 0);
    case Op::SinXDivX:
      return unary_with_value_at_0([&](Value* x) { return b.CreateFDiv(emit_sin(b, x), x); }, 1);
    case Op::Floor:
      return intrinsic(llvm::Intrinsic::floor);
    case Op::Round:
      return unary([&](Value* x) { return emit_round(b, x, e->ints[0]); });
    case Op::Sign:  // (x > 0) - (x < 0): 0 at 0 and for NaN
      return unary([&](Value* x) {
        return b.CreateFSub(a.ones_where(b.CreateFCmpOGT(x, a.cst(x, 0)), x),
                            a.ones_where(b.CreateFCmpOLT(x, a.cst(x, 0)), x));
      });
    case Op::Step:  // x < 0 ? 0 : 1, so NaN gives 1
      return unary([&](Value* x) { return a.ones_where(b.CreateFCmpUGE(x, a.cst(x, 0)), x); });
    case Op::ReLU:  // x < 0 ? 0 : x, so NaN stays NaN
      return unary([&](Value* x) {
        return b.CreateSelect(b.CreateFCmpOLT(x, a.cst(x, 0)), a.cst(x, 0), x);
      });
    case Op::IfElse:  // c >= 0 ? x : y, so a NaN condition picks y
      return ternary([&](Value* c, Value* x, Value* y) {
        Value* cond = b.CreateFCmpOGE(c, a.cst(c, 0));
        return a.select(match_width(b, match_width(b, cond, x), y), x, y);
      });
    case Op::Clamp:  // x < lo ? lo : (x > hi ? hi : x), so NaN stays NaN
      return ternary([&](Value* x, Value* lo, Value* hi) {
        Value* upper = a.select(a.cmp(P::FCMP_OGT, x, hi), hi, x);
        Value* below = a.cmp(P::FCMP_OLT, x, lo);
        return a.select(match_width(b, below, upper), lo, upper);
      });
    case Op::ClampInt:
      return unary([&](Value* x) {
        Value* lo = a.cst(x, double(e->ints[0]));
        Value* hi = a.cst(x, double(e->ints[1]));
        Value* upper = b.CreateSelect(b.CreateFCmpOGT(x, hi), hi, x);
        return b.CreateSelect(b.CreateFCmpOLT(x, lo), lo, upper);
      });
    case Op::Mod:  // x - n * floor((x - offset) / n): the representative in [offset, offset + n)
      return ternary([&](Value* x, Value* n, Value* offset) {
        Value* q = a.unary_intrinsic(llvm::Intrinsic::floor, a.div(a.sub(x, offset), n));
        return a.sub(x, a.mul(n, q));
      });
    // Ordered comparisons are false for NaN, so NotEqual (unordered) is its negation.
    case Op::Equal:
      return compare(P::FCMP_OEQ);
    case Op::NotEqual:
      return compare(P::FCMP_UNE);
    case Op::LessThan:
      return compare(P::FCMP_OLT);
    case Op::LessOrEqual:
      return compare(P::FCMP_OLE);
    default:
      KEOPS_CHECK(false, "not an element-wise op");
      return {};
  }
}

}  // namespace keops::codegen::detail
