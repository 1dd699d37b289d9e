// Symbolic differentiation: reverse mode (Grad) with one rule per op, and the forms built on it.
#pragma once

#include <string_view>

#include "compiler/ir/context.h"

namespace keops::passes {

// Every function returns an ordinary, simplified formula built in ctx, so derivatives of
// derivatives work to any order. v must be a Var leaf (keops::Error otherwise); a formula
// that does not depend on v has a zero derivative.
//
// Conventions at non-differentiable points (those of keopscore unless marked "beyond"):
//   Abs'(x) = Sign(x), so Abs'(0) = 0.            Sign' = Step' = 0.
//   ReLU'(x) = Step(x), so ReLU'(0) = 1.           Floor' = Round' = 0.
//   Sqrt'(x) = Rsqrt(x)/2 and Rsqrt'(x) = -Rsqrt(x)^3/2: both 0 at 0 (Rsqrt(0) = 0);
//   likewise Norm2' = Normalize (0 at 0), Normalize' and ComplexAbs' are 0 at 0, and
//   Asin'/Acos' are 0 at +-1.
//   Clamp(x, a, b) is a where x < a, else b where x > b, else x (keopscore's order of
//   tests): each of x, a, b has derivative 1 where Clamp takes its value, 0 elsewhere. For
//   a <= b: d/dx = 1 on the closed interval a <= x <= b (so at a bound only x gets it) and
//   at NaN, d/da = 1 where x < a, d/db = 1 where x > b. For a > b (beyond: keopscore's
//   rule, from Clamp = ClampInt((x-a)/(b-a), 0, 1)(b-a) + a, only holds for a < b): d/dx =
//   0, d/da = 1 where x < a, d/db = 1 where x >= a.
//   ClampInt(x, a, b): d/dx = 1 where the value is x (a <= x <= b, or NaN): keopscore's
//   DiffClampInt.
//   Mod(x, n, offset) = x - n Floor((x - offset)/n): d/dx = 1, d/dn = -Floor((x - offset)/n),
//   d/doffset = 0.
//   IfElse(c, a, b): the derivative flows into the chosen branch only; c gets 0, as do the
//   comparisons (Equal, NotEqual, LessThan, LessOrEqual), ArgMax, ArgMin and OneHot.
//   Max/Min over components: through the component ArgMax/ArgMin selects (first on ties).
//   XLogX'(x) = Log(x) + 1.   Powf(a, b): d/da = b Powf(a, b - 1), d/db = Log(a) Powf(a, b).
//   SinXDivX'(0) = 0 (beyond: keopscore divides by 0 there); near 0 a Taylor polynomial
//   replaces the cancelling (Cos(x) - SinXDivX(x))/x, so higher derivatives at 0 are right.
//   Complex ops are differentiated as real maps on the interleaved (re, im) components.
//   BSpline (beyond; keopscore has no derivative): d/dx through the order - 1 splines, with
//   0 where a knot span is empty; the derivative with respect to the knots is not supported.
//   SoftDTW_SqDist (beyond: every argument, gamma included): up to kUnrolledSoftDtwCells
//   cells, the derivative of the recursion unrolled into ordinary ops (differentiable again);
//   beyond, SoftDTW_SqDist_Grad, the recursion run backwards by loops (whose own derivative is
//   a keops::Error); at most kMaxSoftDtwCells cells (a GPU thread keeps the whole table),
//   a keops::Error beyond.
inline constexpr int kUnrolledSoftDtwCells = 64;
inline constexpr int kMaxSoftDtwCells = int(ir::kMaxSoftDtwGradCells);
// GradMatrix, Divergence, Laplacian and TraceOperator take one reverse pass per component
// (of f, or of v): at most kMaxJacobianPasses, a keops::Error beyond (the Laplacian of a
// Gaussian of dimension 48 compiles in 0.9 s on the CPU, of dimension 52 in 46 s; of
// dimension 183,183 it held 268 GB of basis vectors).
inline constexpr int kMaxJacobianPasses = 48;
void check_jacobian_passes(std::string_view form, int passes);

// Reverse mode: e^T dF/dv, the vector-Jacobian product; e has dim(f), the result dim(v).
ir::Expr grad(ir::Context& ctx, ir::Expr f, ir::Expr v, ir::Expr e);
// Forward mode: dF/dv . u, u of dim(v); the result has dim(f). Computed as KeOps does, by
// transposing Grad(f, v, e) with respect to a fresh e (it is linear in e, so e vanishes).
ir::Expr diff(ir::Context& ctx, ir::Expr f, ir::Expr v, ir::Expr u);
// The dim(f) x dim(v) Jacobian, row-major (row k is the gradient of component k), as
// KeOps's GradMatrix.
ir::Expr grad_matrix(ir::Context& ctx, ir::Expr f, ir::Expr v);
// The trace of the Jacobian; f must have dim(v).
ir::Expr divergence(ir::Context& ctx, ir::Expr f, ir::Expr v);
// The trace of the Hessian; f must be scalar.
ir::Expr laplacian(ir::Context& ctx, ir::Expr f, ir::Expr v);

// The argument checks of the forms above (keops::Error, "in <form>: ..."), exposed so that
// the parser can run them one argument at a time and point at the offending one.
void check_variable(std::string_view form, ir::Expr v);
void check_cotangent(ir::Expr f, ir::Expr e);   // Grad: e has dim(f)
void check_tangent(ir::Expr v, ir::Expr u);     // Diff: u has dim(v)
void check_divergence(ir::Expr f, ir::Expr v);  // f has dim(v)
void check_laplacian(ir::Expr f);               // f is scalar

}  // namespace keops::passes
