// Walks over formula DAGs (see traverse.h).
#include "compiler/ir/traverse.h"

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

}  // namespace keops::ir
