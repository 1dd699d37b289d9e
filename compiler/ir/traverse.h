// Walks over formula DAGs: the nodes reachable from some roots, each once.
#pragma once

#include <cstdint>
#include <vector>

#include "compiler/ir/node.h"

namespace keops::ir {

// Every node reachable from roots (the roots included), each once, in no particular order.
std::vector<Expr> reachable_nodes(const std::vector<Expr>& roots);

// The nodes under root (root included), each once, arguments before their users (by id: the
// verifier's invariant is that arguments are made first).
std::vector<Expr> nodes_in_id_order(Expr root);

// The nodes on the longest path from root down to a leaf (1 for a leaf), computed without
// recursion: how deep recursive walks over the DAG (emission, printing) would go.
int64_t depth(Expr root);

}  // namespace keops::ir
