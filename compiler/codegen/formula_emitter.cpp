// FormulaEmitter: one LLVM emission rule per op (ops without CPU code yet are reported).
#include "compiler/codegen/formula_emitter.h"

#include <string>

#include <llvm/IR/Intrinsics.h>

#include "compiler/codegen/math.h"
#include "keops/error.h"

namespace keops::codegen {

using ir::Expr;
using ir::Op;
using llvm::Value;

llvm::Value* match_width(llvm::IRBuilderBase& b, llvm::Value* v, llvm::Value* like) {
  auto* vt = llvm::dyn_cast<llvm::FixedVectorType>(like->getType());
  if (!vt || v->getType()->isVectorTy()) return v;
  return b.CreateVectorSplat(vt->getNumElements(), v);
}

FormulaEmitter::FormulaEmitter(llvm::IRBuilderBase& builder, ir::DepSet scope, VarLoader loader)
    : b_(builder), scope_(scope), loader_(std::move(loader)) {}

llvm::Type* FormulaEmitter::scalar_type(ir::DType dtype) const {
  return dtype == ir::DType::F32 ? b_.getFloatTy() : b_.getDoubleTy();
}

const Vals& FormulaEmitter::emit(Expr e) {
  for (FormulaEmitter* outer : delegates_)
    if ((e->deps & ~outer->scope_) == 0) return outer->emit(e);
  if (auto it = memo_.find(e); it != memo_.end()) return it->second;
  Vals v = e->op == Op::Var ? loader_(b_, e) : emit_op(e);
  return memo_.emplace(e, std::move(v)).first->second;
}

namespace {

// Binary arithmetic on two values that may differ in width (scalar against vector).
struct Arith {
  llvm::IRBuilderBase& b;

  std::pair<Value*, Value*> same(Value* x, Value* y) {
    return {match_width(b, x, y), match_width(b, y, x)};
  }
  Value* add(Value* x, Value* y) {
    auto [u, v] = same(x, y);
    return b.CreateFAdd(u, v);
  }
  Value* sub(Value* x, Value* y) {
    auto [u, v] = same(x, y);
    return b.CreateFSub(u, v);
  }
  Value* mul(Value* x, Value* y) {
    auto [u, v] = same(x, y);
    return b.CreateFMul(u, v);
  }
  Value* div(Value* x, Value* y) {
    auto [u, v] = same(x, y);
    return b.CreateFDiv(u, v);
  }
  // x * y + acc, fused where the target has FMA.
  Value* fmuladd(Value* x, Value* y, Value* acc) {
    auto [u, v] = same(x, y);
    u = match_width(b, u, acc);
    v = match_width(b, v, acc);
    acc = match_width(b, acc, u);
    return b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {u->getType()}, {u, v, acc});
  }
  Value* cst(Value* like, double v) { return llvm::ConstantFP::get(like->getType(), v); }
  // cond ? x : y, where cond has the width of the wider of x and y.
  Value* select(Value* cond, Value* x, Value* y) {
    auto [u, v] = same(x, y);
    return b.CreateSelect(cond, match_width(b, u, cond), match_width(b, v, cond));
  }
  Value* cmp(llvm::CmpInst::Predicate p, Value* x, Value* y) {
    auto [u, v] = same(x, y);
    return b.CreateFCmp(p, u, v);
  }
  Value* unary_intrinsic(llvm::Intrinsic::ID id, Value* x) {
    return b.CreateIntrinsic(id, {x->getType()}, {x});
  }
  // x^n by binary powering; negative n inverts at the end.
  Value* powi(Value* x, int64_t n) {
    if (n == 0) return cst(x, 1.0);
    uint64_t m = n < 0 ? uint64_t(-n) : uint64_t(n);
    Value* result = nullptr;
    Value* base = x;
    while (m) {
      if (m & 1) result = result ? b.CreateFMul(result, base) : base;
      m >>= 1;
      if (m) base = b.CreateFMul(base, base);
    }
    return n < 0 ? b.CreateFDiv(cst(x, 1.0), result) : result;
  }
  // 1/sqrt(x), 0 at 0 (KeOps's Rsqrt convention).
  Value* rsqrt(Value* x) {
    Value* r = b.CreateFDiv(cst(x, 1.0), emit_sqrt(b, x));
    return b.CreateSelect(b.CreateFCmpOEQ(x, cst(x, 0.0)), cst(x, 0.0), r);
  }
  Value* sum_of_products(const Vals& x, const Vals& y) {
    Value* acc = mul(x[0], y[0]);
    for (size_t c = 1; c < x.size(); ++c) acc = fmuladd(x[c], y[c], acc);
    return acc;
  }
};

// Component c of an argument that may be broadcast from dim 1.
Value* component(const Vals& v, size_t c) { return v.size() == 1 ? v[0] : v[c]; }

}  // namespace

Vals FormulaEmitter::emit_op(Expr e) {
  Arith a{b_};
  const size_t dim = size_t(e->dim);
  std::vector<const Vals*> args;
  if (e->op != Op::Constant)
    for (Expr arg : e->args) args.push_back(&emit(arg));
  auto arg = [&](size_t k) -> const Vals& { return *args[k]; };
  auto elementwise = [&](auto&& f) {
    Vals out(dim);
    for (size_t c = 0; c < dim; ++c) out[c] = f(c);
    return out;
  };
  auto unary = [&](auto&& f) { return elementwise([&](size_t c) { return f(arg(0)[c]); }); };
  auto binary = [&](auto&& f) {
    return elementwise([&](size_t c) { return f(component(arg(0), c), component(arg(1), c)); });
  };
  auto ternary = [&](auto&& f) {
    return elementwise([&](size_t c) {
      return f(component(arg(0), c), component(arg(1), c), component(arg(2), c));
    });
  };
  auto as_01 = [&](Value* cond, Value* like) {
    return a.select(cond, a.cst(like, 1.0), a.cst(like, 0.0));
  };
  using P = llvm::CmpInst::Predicate;

  switch (e->op) {
    case Op::Constant:
      return elementwise(
          [&](size_t c) { return llvm::ConstantFP::get(scalar_type(e->dtype), e->values[c]); });
    case Op::Add: return binary([&](Value* x, Value* y) { return a.add(x, y); });
    case Op::Subtract: return binary([&](Value* x, Value* y) { return a.sub(x, y); });
    case Op::Mult: return binary([&](Value* x, Value* y) { return a.mul(x, y); });
    case Op::Divide: return binary([&](Value* x, Value* y) { return a.div(x, y); });
    case Op::Minus: return unary([&](Value* x) { return b_.CreateFNeg(x); });
    case Op::Exp: return unary([&](Value* x) { return emit_exp(b_, x); });
    case Op::Log: return unary([&](Value* x) { return emit_log(b_, x); });
    case Op::Sin: return unary([&](Value* x) { return emit_sin(b_, x); });
    case Op::Cos: return unary([&](Value* x) { return emit_cos(b_, x); });
    case Op::Sqrt: return unary([&](Value* x) { return emit_sqrt(b_, x); });
    case Op::Rsqrt: return unary([&](Value* x) { return a.rsqrt(x); });
    case Op::Inv: return unary([&](Value* x) { return b_.CreateFDiv(a.cst(x, 1.0), x); });
    case Op::Square: return unary([&](Value* x) { return b_.CreateFMul(x, x); });
    case Op::Pow: return unary([&](Value* x) { return a.powi(x, e->ints[0]); });
    case Op::Abs: return unary([&](Value* x) { return a.unary_intrinsic(llvm::Intrinsic::fabs, x); });
    case Op::Floor:
      return unary([&](Value* x) { return a.unary_intrinsic(llvm::Intrinsic::floor, x); });
    case Op::Sign:  // (x > 0) - (x < 0): 0 at 0 and for NaN
      return unary([&](Value* x) {
        return b_.CreateFSub(as_01(b_.CreateFCmpOGT(x, a.cst(x, 0)), x),
                             as_01(b_.CreateFCmpOLT(x, a.cst(x, 0)), x));
      });
    case Op::Step:  // x < 0 ? 0 : 1, as KeOps
      return unary(
          [&](Value* x) { return a.select(b_.CreateFCmpOLT(x, a.cst(x, 0)), a.cst(x, 0), a.cst(x, 1)); });
    case Op::ReLU:  // x < 0 ? 0 : x, so NaN stays NaN
      return unary([&](Value* x) { return a.select(b_.CreateFCmpOLT(x, a.cst(x, 0)), a.cst(x, 0), x); });
    case Op::IfElse:  // c >= 0 ? x : y
      return ternary([&](Value* c, Value* x, Value* y) {
        Value* cond = a.cmp(P::FCMP_OGE, c, a.cst(c, 0));
        Value* wide = match_width(b_, match_width(b_, cond, x), y);
        return a.select(wide, x, y);
      });
    case Op::Clamp:  // x < lo ? lo : (x > hi ? hi : x), as KeOps
      return ternary([&](Value* x, Value* lo, Value* hi) {
        Value* upper = a.select(a.cmp(P::FCMP_OGT, x, hi), hi, x);
        Value* below = a.cmp(P::FCMP_OLT, x, lo);
        return a.select(match_width(b_, below, upper), lo, upper);
      });
    case Op::ClampInt:
      return unary([&](Value* x) {
        Value* lo = a.cst(x, double(e->ints[0]));
        Value* hi = a.cst(x, double(e->ints[1]));
        Value* upper = b_.CreateSelect(b_.CreateFCmpOGT(x, hi), hi, x);
        return b_.CreateSelect(b_.CreateFCmpOLT(x, lo), lo, upper);
      });
    case Op::Mod:  // x - n * floor((x - offset) / n)
      return ternary([&](Value* x, Value* n, Value* off) {
        Value* q = a.unary_intrinsic(llvm::Intrinsic::floor, a.div(a.sub(x, off), n));
        return a.sub(x, a.mul(n, q));
      });
    case Op::Equal:
      return binary([&](Value* x, Value* y) { return as_01(a.cmp(P::FCMP_OEQ, x, y), a.add(x, y)); });
    case Op::NotEqual:
      return binary([&](Value* x, Value* y) { return as_01(a.cmp(P::FCMP_UNE, x, y), a.add(x, y)); });
    case Op::LessThan:
      return binary([&](Value* x, Value* y) { return as_01(a.cmp(P::FCMP_OLT, x, y), a.add(x, y)); });
    case Op::LessOrEqual:
      return binary([&](Value* x, Value* y) { return as_01(a.cmp(P::FCMP_OLE, x, y), a.add(x, y)); });
    case Op::Sum: {
      Value* acc = arg(0)[0];
      for (size_t c = 1; c < arg(0).size(); ++c) acc = a.add(acc, arg(0)[c]);
      return {acc};
    }
    case Op::Max:
    case Op::Min:
    case Op::ArgMax:
    case Op::ArgMin: {
      // Strict comparisons keep the first extremum: ties go to the lowest index.
      const bool is_max = e->op == Op::Max || e->op == Op::ArgMax;
      Value* best = arg(0)[0];
      Value* best_index = a.cst(best, 0.0);
      for (size_t c = 1; c < arg(0).size(); ++c) {
        Value* x = arg(0)[c];
        Value* better = is_max ? a.cmp(P::FCMP_OGT, x, best) : a.cmp(P::FCMP_OLT, x, best);
        best = a.select(better, x, best);
        best_index = a.select(better, a.cst(x, double(c)), best_index);
      }
      return {e->op == Op::Max || e->op == Op::Min ? best : best_index};
    }
    case Op::SqNorm2: return {a.sum_of_products(arg(0), arg(0))};
    case Op::Norm2: return {emit_sqrt(b_, a.sum_of_products(arg(0), arg(0)))};
    case Op::Normalize: {  // x * Rsqrt(|x|^2): 0 at 0, as KeOps
      Value* r = a.rsqrt(a.sum_of_products(arg(0), arg(0)));
      return unary([&](Value* x) { return a.mul(x, r); });
    }
    case Op::Scalprod: return {a.sum_of_products(arg(0), arg(1))};
    case Op::SqDist: {
      Vals diff(arg(0).size());
      for (size_t c = 0; c < diff.size(); ++c) diff[c] = a.sub(arg(0)[c], arg(1)[c]);
      return {a.sum_of_products(diff, diff)};
    }
    case Op::WeightedSqNorm:
    case Op::WeightedSqDist: {
      Vals f = arg(1);
      if (e->op == Op::WeightedSqDist)
        for (size_t c = 0; c < f.size(); ++c) f[c] = a.sub(arg(1)[c], arg(2)[c]);
      const Vals& s = arg(0);
      const size_t d = f.size();
      if (s.size() == 1) return {a.mul(s[0], a.sum_of_products(f, f))};
      if (s.size() == d) {
        Vals sf(d);
        for (size_t c = 0; c < d; ++c) sf[c] = a.mul(s[c], f[c]);
        return {a.sum_of_products(sf, f)};
      }
      Vals sf(d);  // S f with S row-major d x d
      for (size_t r = 0; r < d; ++r)
        sf[r] = a.sum_of_products(Vals(s.begin() + long(r * d), s.begin() + long((r + 1) * d)), f);
      return {a.sum_of_products(f, sf)};
    }
    case Op::Elem: return {arg(0)[size_t(e->ints[0])]};
    case Op::Extract:
      return Vals(arg(0).begin() + e->ints[0], arg(0).begin() + e->ints[0] + e->ints[1]);
    case Op::Concat: {
      Vals out = arg(0);
      out.insert(out.end(), arg(1).begin(), arg(1).end());
      return out;
    }
    case Op::ElemT:
    case Op::ExtractT:
    case Op::SumT: {
      const size_t start = e->op == Op::ElemT ? size_t(e->ints[1]) : e->op == Op::ExtractT ? size_t(e->ints[0]) : 0;
      Value* zero = a.cst(arg(0)[0], 0.0);
      Vals out(dim, zero);
      for (size_t c = 0; c < dim; ++c)
        if (e->op == Op::SumT) out[c] = arg(0)[0];
        else if (c >= start && c - start < arg(0).size()) out[c] = arg(0)[c - start];
      return out;
    }
    case Op::MatVecMult: {  // A (n x m, row-major) times b (m)
      const size_t m = arg(1).size();
      return elementwise([&](size_t r) {
        return a.sum_of_products(Vals(arg(0).begin() + long(r * m), arg(0).begin() + long((r + 1) * m)),
                                 arg(1));
      });
    }
    case Op::VecMatMult: {  // b (n) times A (n x m, row-major)
      const size_t n = arg(0).size();
      return elementwise([&](size_t col) {
        Vals column(n);
        for (size_t r = 0; r < n; ++r) column[r] = arg(1)[r * dim + col];
        return a.sum_of_products(arg(0), column);
      });
    }
    case Op::TensorProd: {
      const size_t m = arg(1).size();
      return elementwise([&](size_t c) { return a.mul(arg(0)[c / m], arg(1)[c % m]); });
    }
    default:
      throw Error("compiling " + std::string(ir::op_info(e->op).spelling) +
                  " for the CPU: this op has no code generation yet");
  }
}

}  // namespace keops::codegen
