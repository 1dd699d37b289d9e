// FormulaEmitter: memoized, scope-delegating emission; emit_op dispatches each op to its family.
#include "compiler/codegen/formula_emitter.h"

#include <llvm/IR/Intrinsics.h>

#include "compiler/codegen/formula_emitter_ops.h"
#include "compiler/codegen/math.h"
#include "compiler/support/check.h"

namespace keops::codegen {

using ir::Expr;
using ir::Op;
using llvm::Value;

llvm::Value* match_width(llvm::IRBuilderBase& b, llvm::Value* v, llvm::Value* like) {
  auto* vt = llvm::dyn_cast<llvm::FixedVectorType>(like->getType());
  if (!vt || v->getType()->isVectorTy()) return v;
  return b.CreateVectorSplat(vt->getNumElements(), v);
}

FormulaEmitter::FormulaEmitter(llvm::IRBuilderBase& builder, ir::DepSet scope, VarLoader loader,
                               RowLoader row_loader, int64_t stream_dim)
    : b_(builder),
      scope_(scope),
      loader_(std::move(loader)),
      row_loader_(std::move(row_loader)),
      stream_dim_(stream_dim) {}

FormulaEmitter* FormulaEmitter::owner_of(Expr e) {
  for (FormulaEmitter* outer : delegates_)
    if ((e->deps & ~outer->scope_) == 0) return outer->owner_of(e);
  return this;
}

llvm::Type* FormulaEmitter::scalar_type(ir::DType dtype) const {
  return dtype == ir::DType::F32 ? b_.getFloatTy() : b_.getDoubleTy();
}

const Vals& FormulaEmitter::emit(Expr e) {
  for (FormulaEmitter* outer : delegates_)
    if ((e->deps & ~outer->scope_) == 0) return outer->emit(e);
  if (auto it = memo_.find(e); it != memo_.end()) return it->second;
  Vals v = e->op == Op::Var ? loader_(b_, e) : streams_arguments(e) ? emit_streamed(e) : emit_op(e);
  return memo_.emplace(e, std::move(v)).first->second;
}

// No default case: -Wswitch flags an op added to ops.def and not dispatched here.
Vals FormulaEmitter::emit_op(Expr e) {
  using namespace detail;
  Arith a{b_};
  ArgVals args;
  for (Expr arg : e->args) args.push_back(&emit(arg));
  switch (e->op) {
    case Op::Var:
      KEOPS_CHECK(false, "emit_op called on a Var: its scope's loader emits it");
      return {};
    case Op::Constant: {
      Vals out;
      for (double v : e->values) out.push_back(llvm::ConstantFP::get(scalar_type(e->dtype), v));
      return out;
    }
    case Op::Add:
    case Op::Subtract:
    case Op::Mult:
    case Op::Divide:
    case Op::Minus:
    case Op::Exp:
    case Op::Log:
    case Op::Inv:
    case Op::Sqrt:
    case Op::Rsqrt:
    case Op::Square:
    case Op::Pow:
    case Op::Powf:
    case Op::Abs:
    case Op::Sign:
    case Op::Step:
    case Op::ReLU:
    case Op::Sin:
    case Op::Cos:
    case Op::Asin:
    case Op::Acos:
    case Op::Atan:
    case Op::Atan2:
    case Op::XLogX:
    case Op::SinXDivX:
    case Op::Floor:
    case Op::Round:
    case Op::Mod:
    case Op::Clamp:
    case Op::ClampInt:
    case Op::IfElse:
    case Op::Equal:
    case Op::NotEqual:
    case Op::LessThan:
    case Op::LessOrEqual:
      return emit_elementwise(a, e, args);
    case Op::Sum:
    case Op::Max:
    case Op::Min:
    case Op::ArgMax:
    case Op::ArgMin:
    case Op::SqNorm2:
    case Op::Norm2:
    case Op::Normalize:
    case Op::SqDist:
    case Op::Scalprod:
    case Op::WeightedSqNorm:
    case Op::WeightedSqDist:
    case Op::Concat:
    case Op::Elem:
    case Op::Extract:
    case Op::ElemT:
    case Op::ExtractT:
    case Op::SumT:
    case Op::OneHot:
      return emit_vector(a, e, args);
    case Op::MatVecMult:
    case Op::VecMatMult:
    case Op::TensorProd:
    case Op::TensorDot:
    case Op::Kron:
      return emit_tensor(a, e, args);
    case Op::ComplexAdd:
    case Op::ComplexSubtract:
    case Op::ComplexMult:
    case Op::ComplexDivide:
    case Op::ComplexExp:
    case Op::Conj:
    case Op::ComplexReal:
    case Op::ComplexImag:
    case Op::ComplexAbs:
    case Op::ComplexSquareAbs:
    case Op::ComplexAngle:
    case Op::Real2Complex:
    case Op::Imag2Complex:
    case Op::ComplexExp1j:
    case Op::ComplexSum:
    case Op::ComplexSumT:
    case Op::ComplexRealScal:
      return emit_complex(a, e, args);
    case Op::BSpline:
    case Op::SoftDTW_SqDist:
      return emit_special(a, e, args);
  }
  KEOPS_CHECK(false, "unknown op");
  return {};
}

namespace detail {

std::pair<Value*, Value*> Arith::same(Value* x, Value* y) {
  return {match_width(b, x, y), match_width(b, y, x)};
}

Value* Arith::add(Value* x, Value* y) {
  auto [u, v] = same(x, y);
  return b.CreateFAdd(u, v);
}

Value* Arith::sub(Value* x, Value* y) {
  auto [u, v] = same(x, y);
  return b.CreateFSub(u, v);
}

Value* Arith::mul(Value* x, Value* y) {
  auto [u, v] = same(x, y);
  return b.CreateFMul(u, v);
}

Value* Arith::div(Value* x, Value* y) {
  auto [u, v] = same(x, y);
  return b.CreateFDiv(u, v);
}

Value* Arith::fmuladd(Value* x, Value* y, Value* acc) {
  auto [u, v] = same(x, y);
  u = match_width(b, u, acc);
  v = match_width(b, v, acc);
  acc = match_width(b, acc, u);
  return b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {u->getType()}, {u, v, acc});
}

Value* Arith::cst(Value* like, double v) { return llvm::ConstantFP::get(like->getType(), v); }

Value* Arith::select(Value* cond, Value* x, Value* y) {
  auto [u, v] = same(x, y);
  return b.CreateSelect(cond, match_width(b, u, cond), match_width(b, v, cond));
}

Value* Arith::cmp(llvm::CmpInst::Predicate p, Value* x, Value* y) {
  auto [u, v] = same(x, y);
  return b.CreateFCmp(p, u, v);
}

Value* Arith::ones_where(Value* cond, Value* x) {
  llvm::Type* t = cond->getType()->getWithNewType(x->getType()->getScalarType());
  return b.CreateSelect(cond, llvm::ConstantFP::get(t, 1.0), llvm::ConstantFP::get(t, 0.0));
}

Value* Arith::unary_intrinsic(llvm::Intrinsic::ID id, Value* x) {
  return b.CreateIntrinsic(id, {x->getType()}, {x});
}

Value* Arith::powi(Value* x, int64_t n) {
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

Value* Arith::rsqrt(Value* x) {
  Value* r = b.CreateFDiv(cst(x, 1.0), emit_sqrt(b, x));
  return b.CreateSelect(b.CreateFCmpOEQ(x, cst(x, 0.0)), cst(x, 0.0), r);
}

Value* Arith::sum_of_products(const Vals& x, const Vals& y) {
  Value* acc = mul(x[0], y[0]);
  for (size_t c = 1; c < x.size(); ++c) acc = fmuladd(x[c], y[c], acc);
  return acc;
}

}  // namespace detail

}  // namespace keops::codegen
