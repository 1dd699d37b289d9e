// Finding the GPU's dimension-tiled products (see dim_tiles.h).
#include "compiler/passes/dim_tiles.h"

#include <algorithm>
#include <set>

#include "compiler/ir/traverse.h"

namespace keops::passes {

DimTiles find_dim_tiles(const std::vector<ir::Expr>& roots, ir::Cat outer, ir::Cat reduced,
                        int64_t min_dim) {
  const std::vector<ir::Expr> nodes = ir::reachable_nodes(roots);
  auto is_long_var = [&](ir::Expr e) { return e->op == ir::Op::Var && e->dim >= min_dim; };
  for (ir::Expr root : roots)
    if (is_long_var(root)) return {};
  DimTiles tiles;
  std::set<ir::Expr> outer_vars, reduced_vars;
  for (ir::Expr e : nodes) {
    const bool reads_long = std::any_of(e->args.begin(), e->args.end(), is_long_var);
    if (!reads_long) continue;
    if (e->op != ir::Op::SqDist && e->op != ir::Op::Scalprod) return {};
    ir::Expr u = e->args[0], v = e->args[1];
    if (u->op == ir::Op::Var && u->var_cat() == reduced) std::swap(u, v);
    if (!is_long_var(u) || !is_long_var(v) || u->var_cat() != outer || v->var_cat() != reduced)
      return {};
    if (tiles.dim != 0 && u->dim != tiles.dim) return {};
    tiles.dim = u->dim;
    tiles.nodes.push_back(e);
    outer_vars.insert(u);
    reduced_vars.insert(v);
  }
  auto by_index = [](const std::set<ir::Expr>& vars) {
    std::vector<ir::Expr> sorted(vars.begin(), vars.end());
    std::sort(sorted.begin(), sorted.end(),
              [](ir::Expr a, ir::Expr b) { return a->var_index() < b->var_index(); });
    return sorted;
  };
  tiles.outer_vars = by_index(outer_vars);
  tiles.reduced_vars = by_index(reduced_vars);
  std::sort(tiles.nodes.begin(), tiles.nodes.end(),
            [](ir::Expr a, ir::Expr b) { return a->id < b->id; });
  return tiles;
}

}  // namespace keops::passes
