// Dependency splitting for staged kernels: the reduced-index-only part of a formula, cut out.
#pragma once

#include <vector>

#include "compiler/ir/context.h"

namespace keops::passes {

// The roots rebuilt in ctx with every maximal subexpression that depends on the reduced
// category only (and on parameters) replaced by a fresh Var leaf of that category, at
// positions first_position, first_position + 1, ... A GPU kernel computes `staged[k]`
// once per reduced row while loading a tile into shared memory (ARCHITECTURE.md rule 5)
// and reads it there as Var(first_position + k) in the per-pair loop.
struct StagedFormulas {
  std::vector<ir::Expr> roots;   // the rebuilt roots, in order
  std::vector<ir::Expr> staged;  // the cut-out subexpressions, in position order
};

StagedFormulas stage_reduced_only(ir::Context& ctx, const std::vector<ir::Expr>& roots,
                                  ir::Cat reduced, int first_position);

}  // namespace keops::passes
