// Walks over formula DAGs (see traverse.h).
#include "compiler/ir/traverse.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace keops::ir {

std::vector<Expr> reachable_nodes(const std::vector<Expr>& roots) {
  std::vector<Expr> nodes, pending(roots);
  std::unordered_set<Expr> seen;
  while (!pending.empty()) {
    const Expr e = pending.back();
    pending.pop_back();
    if (!seen.insert(e).second) continue;
    nodes.push_back(e);
    pending.insert(pending.end(), e->args.begin(), e->args.end());
  }
  return nodes;
}

std::vector<Expr> nodes_in_id_order(Expr root) {
  std::vector<Expr> nodes = reachable_nodes({root});
  std::sort(nodes.begin(), nodes.end(), [](Expr a, Expr b) { return a->id < b->id; });
  return nodes;
}

int64_t depth(Expr root) {
  std::unordered_map<Expr, int64_t> depths;
  for (Expr e : nodes_in_id_order(root)) {
    int64_t below = 0;
    for (Expr a : e->args) below = std::max(below, depths.at(a));
    depths.emplace(e, below + 1);
  }
  return depths.at(root);
}

}  // namespace keops::ir
