// The simplification pass: algebraic rewrites that keep derivative graphs small.
#pragma once

#include "compiler/ir/context.h"

namespace keops::passes {

// Rewrites root, bottom-up and to a fixed point, with identities that keep every node's
// dim and value (Context::make already folds constants and applies x+0, x*1, x*0, --x):
// zero arguments of linear ops, constant factors merged and moved first, Minus pulled
// up and absorbed (a + -b = a - b), like terms collected (x + 2x = 3x), Sum of ElemT,
// ExtractT, SumT and of scalar-times-vector, Elem/Extract of Concat, Extract, ElemT,
// ExtractT and SumT, and Add/Mult operands in a canonical order (constants first, then
// by structural hash) so that equal sums and products are one node. As with KeOps's Zero,
// x*0 = 0 and 0/x = 0 even where x is NaN or infinite. True when it changed something.
bool simplify(ir::Context& ctx, ir::Expr& root);

}  // namespace keops::passes
