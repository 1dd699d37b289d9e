// Gaussian exponents for base-2 hardware exponentials: the scale of Exp(c * SqDist(a, b)) moved
// into a and b.
#pragma once

#include <vector>

#include "compiler/ir/context.h"

namespace keops::passes {

// The roots rebuilt in ctx with each Exp(c * SqDist(a, b)), c a constant (written
// -SqDist(a, b), SqDist(a, b) * c, SqDist(a, b) / c, ...), turned into
//   Exp(s ln 2 * SqDist(k a, k b)),  k = sqrt(|c| log2 e), s the sign of c,
// when a and b each depend on one index at most and are used nowhere else. The value is the
// same up to rounding; on the GPU the exponential is ex2(x log2 e), and ln 2 log2 e = 1
// leaves ex2(-SqDist(k a, k b)) for c < 0: the product by c log2 e of every pair is gone,
// and k a and k b are computed once per row (hoisted, or staged with the tile).
//
// Rounding k a and k b perturbs the points by one float32 ulp of their coordinates, about
// what storing them in float32 already did, so it is meant for float32 fast math only.
std::vector<ir::Expr> fold_exp_scale(ir::Context& ctx, const std::vector<ir::Expr>& roots);

}  // namespace keops::passes
