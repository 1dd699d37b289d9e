// The long vectors of a formula that the GPU can reduce a block of dimensions at a time.
#pragma once

#include <vector>

#include "compiler/ir/node.h"

namespace keops::passes {

// SqDist(u, v) and Scalprod(u, v) nodes whose operands are an output-row Var u and a
// reduced-row Var v of one long dimension: a block of reduced rows then computes them for
// every pair as a small matrix product, dimension chunk after chunk, instead of reading both
// rows whole per pair.
struct DimTiles {
  int64_t dim = 0;                     // the vectors' length
  std::vector<ir::Expr> nodes;         // each SqDist or Scalprod, once
  std::vector<ir::Expr> outer_vars;    // their u's, each once, by var index
  std::vector<ir::Expr> reduced_vars;  // their v's, each once, by var index
};

// The tiles of roots when every Var of dimension at least min_dim is an operand of such a
// node only (and all have one dimension), and there is one; else an empty DimTiles (dim 0).
DimTiles find_dim_tiles(const std::vector<ir::Expr>& roots, ir::Cat outer, ir::Cat reduced,
                        int64_t min_dim);

}  // namespace keops::passes
