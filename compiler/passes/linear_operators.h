// keopscore's linear operators (TraceOperator, AdjointOperator, SumLinOperator) of a formula
// linear in a variable, computed from its derivatives.
#pragma once

#include "compiler/ir/context.h"

namespace keops::passes {

// True when f is linear in the Var v by the linearity classes of ops.def: keopscore's
// is_linear, except that One and First also require the other arguments not to depend on v
// (keopscore calls x * Exp(x) linear in x).
bool is_linear(ir::Expr f, ir::Expr v);

// Each function needs f linear in the Var v (keops::Error "in <Operator>: ..." otherwise),
// and returns a simplified formula in which v no longer appears. J is the dim(f) x dim(v)
// Jacobian of f, which linearity makes independent of v; a null weight is 1.
//
// TraceOperator(f, v, w): sum_k w_k J_kk for dim(f) = dim(v), sum_k w_k J_1k for a scalar f;
// w has dim 1 or dim(v).
ir::Expr trace_operator(ir::Context& ctx, ir::Expr f, ir::Expr v, ir::Expr w);
// AdjointOperator(f, v, u): J^T u, u of dim(f).
ir::Expr adjoint_operator(ir::Context& ctx, ir::Expr f, ir::Expr v, ir::Expr u);
// SumLinOperator(f, v, wl, wr): sum_kl wl_k J_kl wr_l; wl has dim 1 or dim(f), wr dim 1
// or dim(v).
ir::Expr sum_lin_operator(ir::Context& ctx, ir::Expr f, ir::Expr v, ir::Expr wl, ir::Expr wr);

}  // namespace keops::passes
