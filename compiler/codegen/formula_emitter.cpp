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

void FormulaEmitter::provide(Expr e, Vals components) {
  KEOPS_CHECK(owner_of(e) == this && !memo_.count(e),
              "provided values for a node emitted elsewhere");
  memo_.emplace(e, std::move(components));
}

// Each op goes to its family (ops.def); no default case, so -Wswitch flags a new family.
Vals FormulaEmitter::emit_op(Expr e) {
  using namespace detail;
  Arith a{b_};
  ArgVals args;
  for (Expr arg : e->args) args.push_back(&emit(arg));
  switch (ir::op_info(e->op).family) {
    case ir::Family::Leaf: {
      KEOPS_CHECK(e->op == Op::Constant, "emit_op called on a Var: its scope's loader emits it");
      Vals out;
      for (double v : e->values) out.push_back(llvm::ConstantFP::get(scalar_type(e->dtype), v));
      return out;
    }
    case ir::Family::Elementwise:
      return emit_elementwise(a, e, args);
    case ir::Family::Vector:
      return emit_vector(a, e, args);
    case ir::Family::Tensor:
      return emit_tensor(a, e, args);
    case ir::Family::Complex:
      return emit_complex(a, e, args);
    case ir::Family::Special:
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
  const size_t chains = x.size() >= 32 ? 4 : x.size() >= 16 ? 2 : 1;
  Vals acc(chains);
  for (size_t c = 0; c < chains; ++c) acc[c] = mul(x[c], y[c]);
  for (size_t c = chains; c < x.size(); ++c) acc[c % chains] = fmuladd(x[c], y[c], acc[c % chains]);
  while (acc.size() > 1) {
    for (size_t c = 0; c + 1 < acc.size(); c += 2) acc[c / 2] = add(acc[c], acc[c + 1]);
    acc.resize(acc.size() / 2);
  }
  return acc[0];
}

}  // namespace detail

}  // namespace keops::codegen
