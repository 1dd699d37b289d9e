// KernelSolve's linearity check: substitution and symbolic derivatives of the formula's IR.
#include "compiler/program/linearity.h"

#include <algorithm>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "compiler/passes/autodiff.h"
#include "compiler/passes/simplify.h"
#include "keops/error.h"

namespace keops::program {
namespace {

using ir::Expr;

// True when e reads the Var leaf v.
bool contains(Expr e, Expr v, std::unordered_map<Expr, bool>& memo) {
  if (e == v) return true;
  if (!(e->deps & v->deps)) return false;
  if (auto it = memo.find(e); it != memo.end()) return it->second;
  bool found = false;
  for (Expr a : e->args) found = found || contains(a, v, memo);
  return memo[e] = found;
}

bool contains(Expr e, Expr v) {
  std::unordered_map<Expr, bool> memo;
  return contains(e, v, memo);
}

// e with the Var leaf v replaced by `by`, rebuilt through Context::make (which folds x*0).
Expr substitute(ir::Context& ctx, Expr e, Expr v, Expr by, std::unordered_map<Expr, Expr>& done) {
  if (e == v) return by;
  if (!(e->deps & v->deps) || e->args.empty()) return e;  // other leaves stay
  if (auto it = done.find(e); it != done.end()) return it->second;
  std::vector<Expr> args;
  for (Expr a : e->args) args.push_back(substitute(ctx, a, v, by, done));
  return done[e] = ctx.make(e->op, std::move(args), e->ints);
}

// Every node of e that reads v, v excluded, each once.
void nodes_reading(Expr e, Expr v, std::unordered_map<Expr, bool>& memo,
                   std::unordered_set<Expr>& seen, std::vector<Expr>& out) {
  if (e == v || !contains(e, v, memo) || !seen.insert(e).second) return;
  out.push_back(e);
  for (Expr a : e->args) nodes_reading(a, v, memo, seen, out);
}

}  // namespace

void check_linear(ir::Context& ctx, Expr f, const std::vector<frontend::ArgInfo>& args,
                  size_t position, int axis) {
  const frontend::ArgInfo& a = args[position];
  const std::string name = "'" + a.name + "'";
  const ir::Cat reduced = axis == 1 ? ir::CatJ : ir::CatI;
  const ir::Cat outer = axis == 1 ? ir::CatI : ir::CatJ;
  const char* reduced_text = reduced == ir::CatJ ? "Vj" : "Vi";
  if (a.cat != reduced)
    throw Error("KernelSolve: " + name + " must be a " + reduced_text + " variable (axis " +
                std::to_string(axis) + " reduces over " + (reduced == ir::CatJ ? "j" : "i") +
                "), so that K maps it onto the output's " + (outer == ir::CatI ? "i" : "j") +
                " rows; it is a " +
                (a.cat == ir::CatI   ? "Vi"
                 : a.cat == ir::CatJ ? "Vj"
                                     : "Pm"));
  if (a.dim != f->dim)
    throw Error("KernelSolve: the formula has dim " + std::to_string(f->dim) + ", but " + name +
                " has dim " + std::to_string(a.dim) + ": K must map " + name +
                " onto arrays of its own shape");
  const Expr v = ctx.var(int(position), a.dim, a.cat, f->dtype);
  if (!contains(f, v))
    throw Error("KernelSolve: the formula does not depend on " + name +
                ", so it is not a linear map of it");
  std::unordered_map<Expr, Expr> done;
  Expr at_zero = substitute(ctx, f, v, ctx.zeros(a.dim, f->dtype), done);
  passes::simplify(ctx, at_zero);
  if (!at_zero->is_constant_value(0.0))
    throw Error("KernelSolve: the formula is not linear in " + name + ": it is not 0 where " +
                name + " is 0 (a term without " + name + "?)");
  // A cotangent past every argument, of the output's category.
  const int e_position = int(args.size());
  auto derivative = [&](Expr node) {
    return passes::grad(ctx, node, v, ctx.var(e_position, node->dim, outer, f->dtype));
  };
  if (contains(derivative(f), v))
    throw Error("KernelSolve: the formula is not linear in " + name +
                ": its derivative with respect to " + name + " depends on " + name);
  std::unordered_map<Expr, bool> memo;
  std::unordered_set<Expr> seen;
  std::vector<Expr> nodes;
  nodes_reading(f, v, memo, seen, nodes);
  // Innermost first (arguments are made before their users): the op that makes the
  // derivative vanish is named, not the product or sum around it.
  std::sort(nodes.begin(), nodes.end(), [](Expr x, Expr y) { return x->id < y->id; });
  for (Expr node : nodes)
    if (derivative(node)->is_constant_value(0.0))
      throw Error("KernelSolve: the formula is not linear in " + name + ": it passes " + name +
                  " through " + std::string(ir::op_info(node->op).spelling) +
                  ", which is piecewise constant in it");
}

}  // namespace keops::program
