// keopscore's linear operators through reverse mode: rows of the Jacobian are gradients.
#include "compiler/passes/linear_operators.h"

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "compiler/passes/autodiff.h"
#include "compiler/passes/simplify.h"
#include "keops/error.h"

namespace keops::passes {
namespace {

using ir::Expr;
using ir::Op;

[[noreturn]] void fail(const char* op, const std::string& what) {
  throw Error("in " + std::string(op) + ": " + what);
}

// v a Var, f linear in it; the checks keopscore makes before any linear operator.
void check_linear(const char* op, Expr f, Expr v) {
  check_variable(op, v);
  if (!is_linear(f, v))
    fail(op,
         "the formula is not linear in the variable (linear operators apply to formulas "
         "built linearly from it: +, -, *, /, Sum, Scalprod, Extract, ...)");
}

// A weight of dim 1 or `dim`.
void check_weight(const char* op, const char* name, Expr w, int dim, const char* of) {
  if (w && w->dim != 1 && w->dim != dim)
    fail(op, std::string(name) + " has dim " + std::to_string(w->dim) + "; it must be 1 or " + of +
                 "'s dim " + std::to_string(dim));
}

Expr constant_vector(ir::Context& ctx, int dim, int one_at, ir::DType dtype) {
  std::vector<double> values(size_t(dim), one_at < 0 ? 1.0 : 0.0);
  if (one_at >= 0) values[size_t(one_at)] = 1.0;
  return ctx.constant(std::move(values), dtype);
}

Expr weighted(ir::Context& ctx, Expr w, Expr e) { return w ? ctx.make(Op::Mult, {w, e}) : e; }

Expr simplified(ir::Context& ctx, Expr e) {
  simplify(ctx, e);
  return e;
}

}  // namespace

bool is_linear(Expr f, Expr v) {
  // Post-order over the DAG (iterative: derivative graphs can be deep), memoizing whether
  // each node depends on v and whether it is linear in it.
  std::unordered_map<Expr, std::pair<bool, bool>> known;  // node -> (depends, linear)
  std::vector<std::pair<Expr, size_t>> stack{{f, 0}};
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->args.size()) {
      const Expr arg = node->args[next++];
      if (!known.count(arg)) stack.push_back({arg, 0});
      continue;
    }
    const Expr n = node;
    stack.pop_back();
    if (known.count(n)) continue;
    // Over the arguments: how many depend on v, and whether those that do (the first
    // argument for First) are linear.
    bool depends = n == v, dependents_linear = true, first_linear = true;
    size_t dependents = 0, linear_args = 0, others_dependent = 0;
    for (size_t k = 0; k < n->args.size(); ++k) {
      const auto [a_depends, a_linear] = known.at(n->args[k]);
      depends = depends || a_depends;
      dependents += a_depends;
      linear_args += a_linear;
      if (a_depends && !a_linear) dependents_linear = false;
      if (k == 0) first_linear = a_linear;
      if (k > 0 && a_depends) ++others_dependent;
    }
    bool linear = n == v;
    switch (ir::op_info(n->op).linearity) {
      case ir::Linearity::None:
        linear = linear || n->is_constant_value(0);
        break;
      case ir::Linearity::All:
        linear = linear_args == n->args.size();
        break;
      case ir::Linearity::One:
        linear = dependents == 1 && dependents_linear;
        break;
      case ir::Linearity::First:
        linear = first_linear && others_dependent == 0;
        break;
    }
    known[n] = {depends, linear};
  }
  return known.at(f).second;
}

Expr trace_operator(ir::Context& ctx, Expr f, Expr v, Expr w) {
  check_linear("TraceOperator", f, v);
  check_weight("TraceOperator", "w", w, v->dim, "the variable");
  if (f->dim != 1 && f->dim != v->dim)
    fail("TraceOperator", "the formula has dim " + std::to_string(f->dim) +
                              "; it must be 1 or the variable's dim " + std::to_string(v->dim));
  if (f->dim == 1) {  // sum_k w_k J_1k: the gradient's components, weighted
    const Expr row = grad(ctx, f, v, ctx.scalar(1, f->dtype));
    return simplified(ctx, ctx.make(Op::Sum, {weighted(ctx, w, row)}));
  }
  // sum_k w_k J_kk, J_kk the k-th component of the gradient of f_k.
  check_jacobian_passes("TraceOperator", v->dim);
  Expr trace = nullptr;
  for (int k = 0; k < v->dim; ++k) {
    const Expr row = grad(ctx, f, v, constant_vector(ctx, f->dim, k, f->dtype));
    Expr term = ctx.make(Op::Elem, {row}, {k});
    if (w && w->dim > 1) term = ctx.make(Op::Mult, {ctx.make(Op::Elem, {w}, {k}), term});
    trace = trace ? ctx.make(Op::Add, {trace, term}) : term;
  }
  return simplified(ctx, w && w->dim == 1 ? ctx.make(Op::Mult, {w, trace}) : trace);
}

Expr adjoint_operator(ir::Context& ctx, Expr f, Expr v, Expr u) {
  check_linear("AdjointOperator", f, v);
  if (u->dim != f->dim)
    fail("AdjointOperator", "u has dim " + std::to_string(u->dim) + ", but the formula has dim " +
                                std::to_string(f->dim) + " (they must be equal)");
  return grad(ctx, f, v, u);
}

Expr sum_lin_operator(ir::Context& ctx, Expr f, Expr v, Expr wl, Expr wr) {
  check_linear("SumLinOperator", f, v);
  check_weight("SumLinOperator", "wl", wl, f->dim, "the formula");
  check_weight("SumLinOperator", "wr", wr, v->dim, "the variable");
  // sum_k wl_k J_kl for each l: one reverse pass with e = wl (spread over f's components
  // when it is a scalar), then the sum over l weighted by wr.
  const bool spread = !wl || (wl->dim == 1 && f->dim > 1);
  const Expr e = spread ? constant_vector(ctx, f->dim, -1, f->dtype) : wl;
  Expr columns = grad(ctx, f, v, e);
  if (spread && wl) columns = ctx.make(Op::Mult, {wl, columns});
  return simplified(ctx, ctx.make(Op::Sum, {weighted(ctx, wr, columns)}));
}

}  // namespace keops::passes
