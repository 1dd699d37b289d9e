// Finding the GPU's dimension-tiled products (see dim_tiles.h).
#include "compiler/passes/dim_tiles.h"

#include <algorithm>
#include <optional>
#include <set>

#include "compiler/ir/traverse.h"

namespace keops::passes {
namespace {

using ir::Expr;
using ir::Op;

// e as a product of two Vars; nullopt when e is not of a product's form.
struct Match {
  Expr u, v;
  bool squared_distance;
};
std::optional<Match> match_product(Expr e) {
  if (e->op == Op::SqDist || e->op == Op::Scalprod)
    return Match{e->args[0], e->args[1], e->op == Op::SqDist};
  if (e->op != Op::Sum) return std::nullopt;
  Expr f = e->args[0];
  if (f->op == Op::Mult) return Match{f->args[0], f->args[1], false};
  if (f->op == Op::Square && f->args[0]->op == Op::Subtract)
    return Match{f->args[0]->args[0], f->args[0]->args[1], true};
  return std::nullopt;
}

}  // namespace

DimTiles find_dim_tiles(const std::vector<Expr>& roots, ir::Cat outer, ir::Cat reduced,
                        int64_t min_dim) {
  auto is_long_var = [&](Expr e) { return e->op == Op::Var && e->dim >= min_dim; };
  DimTiles tiles;
  std::set<Expr> outer_vars, reduced_vars;
  for (Expr e : ir::reachable_nodes(roots)) {
    std::optional<Match> m = match_product(e);
    if (!m || !is_long_var(m->u) || !is_long_var(m->v)) continue;
    if (m->u->var_cat() == reduced) std::swap(m->u, m->v);
    if (m->u->var_cat() != outer || m->v->var_cat() != reduced) return {};
    if (tiles.dim != 0 && m->u->dim != tiles.dim) return {};
    tiles.dim = m->u->dim;
    tiles.products.push_back({e, m->u, m->v, m->squared_distance});
    outer_vars.insert(m->u);
    reduced_vars.insert(m->v);
  }
  auto by_index = [](const std::set<Expr>& vars) {
    std::vector<Expr> sorted(vars.begin(), vars.end());
    std::sort(sorted.begin(), sorted.end(),
              [](Expr a, Expr b) { return a->var_index() < b->var_index(); });
    return sorted;
  };
  tiles.outer_vars = by_index(outer_vars);
  tiles.reduced_vars = by_index(reduced_vars);
  std::sort(tiles.products.begin(), tiles.products.end(),
            [](const DimTiles::Product& a, const DimTiles::Product& b) {
              return a.node->id < b.node->id;
            });
  return tiles;
}

}  // namespace keops::passes
