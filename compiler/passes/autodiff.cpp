// Reverse-mode differentiation: the walk, the dispatch of each op to its rule, and the forms
// (Grad, Diff, GradMatrix, Divergence, Laplacian) built on it.
#include "compiler/passes/autodiff.h"

#include <algorithm>
#include <string>
#include <unordered_set>

#include "compiler/passes/autodiff_rules.h"
#include "compiler/passes/simplify.h"
#include "compiler/support/check.h"
#include "keops/error.h"

namespace keops::passes {
namespace detail {
namespace {

// Each op goes to its family's rules (ops.def); no default case, so -Wswitch flags a new
// family.
void apply_rule(Step& s) {
  switch (ir::op_info(s.node()->op).family) {
    case ir::Family::Leaf:
      KEOPS_CHECK(false, "a leaf has no derivative rule");
      return;
    case ir::Family::Elementwise:
      return rule_elementwise(s);
    case ir::Family::Vector:
      return rule_vector(s);
    case ir::Family::Tensor:
      return rule_tensor(s);
    case ir::Family::Complex:
      return rule_complex(s);
    case ir::Family::Special:
      return rule_special(s);
  }
  KEOPS_CHECK(false, "unknown op");
}

}  // namespace

void Step::send(size_t k, const std::function<Expr()>& share) {
  if (!needs_[k]) return;
  Expr g = share();
  if (!g || g->is_constant_value(0)) return;
  const Expr target = node_->args[k];
  if (g->dim != target->dim) {
    // A broadcast argument: its one value met every component of the output.
    KEOPS_CHECK(target->dim == 1, "a derivative share of the wrong dim");
    g = make(Op::Sum, {g});
  }
  accumulate_(target, g);
}

std::unordered_map<Expr, Expr> backprop(ir::Context& ctx, Expr root, Expr seed,
                                        const std::vector<Expr>& targets,
                                        const std::vector<Expr>& constants) {
  const std::unordered_set<Expr> is_target(targets.begin(), targets.end());
  const std::unordered_set<Expr> is_constant(constants.begin(), constants.end());
  const auto is_leaf = [&](Expr n) { return is_target.count(n) || is_constant.count(n); };
  // Iterative post-order walk (derivative graphs can be deeper than the call stack) that
  // marks the nodes depending on a target and lists them, arguments before their users.
  std::unordered_map<Expr, bool> depends;
  std::vector<Expr> order;
  std::vector<std::pair<Expr, size_t>> stack{{root, 0}};  // a node and its next argument
  while (!stack.empty()) {
    const Expr node = stack.back().first;
    const size_t next = stack.back().second;
    if (!is_leaf(node) && next < node->args.size()) {
      ++stack.back().second;
      if (!depends.count(node->args[next])) stack.push_back({node->args[next], 0});
      continue;
    }
    stack.pop_back();
    bool dep = is_target.count(node) > 0;
    if (!is_leaf(node))
      for (Expr a : node->args) dep = dep || depends.at(a);
    depends[node] = dep;
    if (dep) order.push_back(node);
  }

  std::unordered_map<Expr, Expr> adjoint;
  if (!depends.at(root)) return adjoint;
  adjoint.emplace(root, seed);
  const Accumulate accumulate = [&](Expr arg, Expr share) {
    auto [it, fresh] = adjoint.try_emplace(arg, share);
    if (!fresh) it->second = ctx.make(Op::Add, {it->second, share});
  };
  // Reverse post-order: every user of a node is done before the node itself.
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const Expr node = *it;
    if (is_target.count(node)) continue;
    const auto found = adjoint.find(node);
    if (found == adjoint.end()) continue;  // every path from root to it carried zero
    const Expr node_adjoint = found->second;
    adjoint.erase(found);
    std::vector<bool> needs;
    for (Expr a : node->args) needs.push_back(depends.at(a));
    Step step(ctx, node, node_adjoint, std::move(needs), accumulate);
    apply_rule(step);
  }
  return adjoint;  // now only targets are left
}

}  // namespace detail

namespace {

using detail::Expr;
using detail::Op;

[[noreturn]] void fail(std::string_view form, const std::string& what) {
  throw Error("in " + std::string(form) + ": " + what);
}

void check_dtype(std::string_view form, Expr f, Expr other, const char* what) {
  if (f->dtype != other->dtype)
    fail(form, std::string(what) + " is " + std::string(ir::dtype_name(other->dtype)) +
                   " but the formula is " + std::string(ir::dtype_name(f->dtype)));
}

// e^T df/dv, unsimplified.
Expr raw_grad(ir::Context& ctx, Expr f, Expr v, Expr e) {
  const auto adjoint = detail::backprop(ctx, f, e, {v});
  const auto found = adjoint.find(v);
  return found == adjoint.end() ? ctx.zeros(v->dim, v->dtype) : found->second;
}

Expr simplified(ir::Context& ctx, Expr e) {
  simplify(ctx, e);
  return e;
}

// The k-th vector of the standard basis of R^dim.
Expr basis(ir::Context& ctx, int dim, int k, ir::DType dtype) {
  std::vector<double> values(size_t(dim), 0.0);
  values[size_t(k)] = 1.0;
  return ctx.constant(std::move(values), dtype);
}

// Calls visit on every node under the roots, once each.
template <class Visit>
void for_each_node(const std::vector<Expr>& roots, Visit visit) {
  std::unordered_set<Expr> seen;
  std::vector<Expr> stack(roots.begin(), roots.end());
  while (!stack.empty()) {
    const Expr n = stack.back();
    stack.pop_back();
    if (!seen.insert(n).second) continue;
    visit(n);
    for (Expr a : n->args) stack.push_back(a);
  }
}

// sum_k (row k of the Jacobian of f)_k: the trace, one reverse pass per component.
Expr trace_of_jacobian(ir::Context& ctx, Expr f, Expr v) {
  Expr trace = nullptr;
  for (int k = 0; k < v->dim; ++k) {
    const Expr row = raw_grad(ctx, f, v, basis(ctx, f->dim, k, f->dtype));
    const Expr diagonal = ctx.make(Op::Elem, {row}, {k});
    trace = trace ? ctx.make(Op::Add, {trace, diagonal}) : diagonal;
  }
  return simplified(ctx, trace);
}

}  // namespace

void check_jacobian_passes(std::string_view form, int passes) {
  if (passes > kMaxJacobianPasses)
    fail(form, "it takes one derivative per component, " + std::to_string(passes) +
                   " here; at most " + std::to_string(kMaxJacobianPasses) + " are supported");
}

void check_variable(std::string_view form, Expr v) {
  if (v->is(Op::Var)) return;
  fail(form,
       "differentiation is with respect to a variable (an alias or Var(index, dim, cat)), "
       "not " +
           (v->is_constant() ? std::string("a constant")
                             : "a formula (" + std::string(ir::op_info(v->op).spelling) + ")"));
}

void check_cotangent(Expr f, Expr e) {
  if (e->dim != f->dim)
    fail("Grad", "the gradient input e has dim " + std::to_string(e->dim) +
                     ", but the formula has dim " + std::to_string(f->dim) +
                     " (they must be equal)");
  check_dtype("Grad", f, e, "the gradient input e");
}

void check_tangent(Expr v, Expr u) {
  if (u->dim != v->dim)
    fail("Diff", "the direction u has dim " + std::to_string(u->dim) +
                     ", but the variable has dim " + std::to_string(v->dim) +
                     " (they must be equal)");
  check_dtype("Diff", v, u, "the direction u");
}

void check_divergence(Expr f, Expr v) {
  if (f->dim != v->dim)
    fail("Divergence", "the formula has dim " + std::to_string(f->dim) +
                           ", but the variable has dim " + std::to_string(v->dim) +
                           " (they must be equal)");
}

void check_laplacian(Expr f) {
  if (f->dim != 1)
    fail("Laplacian", "the formula must be scalar (dim 1), not dim " + std::to_string(f->dim));
}

Expr grad(ir::Context& ctx, Expr f, Expr v, Expr e) {
  check_variable("Grad", v);
  check_dtype("Grad", f, v, "the variable");
  check_cotangent(f, e);
  return simplified(ctx, raw_grad(ctx, f, v, e));
}

Expr diff(ir::Context& ctx, Expr f, Expr v, Expr u) {
  check_variable("Diff", v);
  check_dtype("Diff", f, v, "the variable");
  check_tangent(v, u);
  // Grad(f, v, e) = J^T e is linear in e; its gradient with respect to e, applied to u, is
  // J u. e takes a position no Var of f, v or u uses, and disappears from the result.
  int free_index = 0;
  for_each_node({f, v, u}, [&](Expr n) {
    if (n->is(Op::Var)) free_index = std::max(free_index, n->var_index() + 1);
  });
  const Expr e = ctx.var(free_index, f->dim, ir::CatP, f->dtype);
  const Expr transposed = simplified(ctx, raw_grad(ctx, f, v, e));
  const Expr result = simplified(ctx, raw_grad(ctx, transposed, e, u));
  for_each_node({result}, [&](Expr n) {
    KEOPS_CHECK(n != e, "Diff: the transposed gradient still depends on its gradient input");
  });
  return result;
}

Expr grad_matrix(ir::Context& ctx, Expr f, Expr v) {
  check_variable("GradMatrix", v);
  check_dtype("GradMatrix", f, v, "the variable");
  check_jacobian_passes("GradMatrix", f->dim);
  Expr rows = nullptr;
  for (int k = 0; k < f->dim; ++k) {
    const Expr row = raw_grad(ctx, f, v, basis(ctx, f->dim, k, f->dtype));
    rows = rows ? ctx.make(Op::Concat, {rows, row}) : row;
  }
  return simplified(ctx, rows);
}

Expr divergence(ir::Context& ctx, Expr f, Expr v) {
  check_variable("Divergence", v);
  check_dtype("Divergence", f, v, "the variable");
  check_divergence(f, v);
  check_jacobian_passes("Divergence", v->dim);
  return trace_of_jacobian(ctx, f, v);
}

Expr laplacian(ir::Context& ctx, Expr f, Expr v) {
  check_variable("Laplacian", v);
  check_dtype("Laplacian", f, v, "the variable");
  check_laplacian(f);
  check_jacobian_passes("Laplacian", v->dim);
  const Expr gradient = simplified(ctx, raw_grad(ctx, f, v, ctx.scalar(1, f->dtype)));
  return trace_of_jacobian(ctx, gradient, v);
}

}  // namespace keops::passes
