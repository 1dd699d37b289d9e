// The IR verifier: rechecks every node's invariants after a pass.
#pragma once

#include "compiler/ir/node.h"

namespace keops::ir {

// Throws (internal error, file and line) when a node of the DAG under root breaks an
// invariant: arity, attribute count, dtype, dim (recomputed with infer_dim), dependency
// set, topological ids, or two Var leaves at one position with different dims or categories.
void verify(Expr root);

}  // namespace keops::ir
