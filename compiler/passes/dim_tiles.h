// The long vectors of a formula that the GPU can reduce a block of dimensions at a time.
#pragma once

#include <vector>

#include "compiler/ir/node.h"

namespace keops::passes {

// Sums over the components of an output-row Var u and a reduced-row Var v of one long
// dimension: a block of reduced rows then computes them for every pair as a small matrix
// product, dimension chunk after chunk, instead of reading both rows whole per pair.
struct DimTiles {
  struct Product {
    ir::Expr node;   // SqDist(u, v), Scalprod(u, v), Sum(Square(u - v)) or Sum(u * v)
    ir::Expr outer;  // u and v, whichever order the node has them in
    ir::Expr reduced;
    bool squared_distance;  // the sum of (u_k - v_k)^2, else of u_k v_k
  };
  int64_t dim = 0;                     // the vectors' length
  std::vector<Product> products;       // by node creation order
  std::vector<ir::Expr> outer_vars;    // their u's, each once, by var index
  std::vector<ir::Expr> reduced_vars;  // their v's, each once, by var index
};

// The tiles of roots: their products of an output-row and a reduced-row Var of dimension at
// least min_dim, when there is one and all have one dimension; else an empty DimTiles (dim
// 0). Other readers of those rows (the long output of a gradient, (x - y) * ..., or G = y)
// still read them in the pair loop, from memory: the products are what costs a pass over
// the dimensions per pair.
DimTiles find_dim_tiles(const std::vector<ir::Expr>& roots, ir::Cat outer, ir::Cat reduced,
                        int64_t min_dim);

}  // namespace keops::passes
