// Walks over formula DAGs: the nodes reachable from some roots, each once.
#pragma once

#include <vector>

#include "compiler/ir/node.h"

namespace keops::ir {

// Every node reachable from roots (the roots included), each once, in no particular order.
std::vector<Expr> reachable_nodes(const std::vector<Expr>& roots);

}  // namespace keops::ir
