// Tests of finding the GPU's dimension-tiled products: which long rows qualify, and what is kept.
#include <doctest/doctest.h>

#include <vector>

#include "compiler/ir/context.h"
#include "compiler/passes/dim_tiles.h"

namespace keops::passes {
namespace {

using ir::Expr;
using ir::Op;

constexpr ir::DType F32 = ir::DType::F32;

struct Fixture {
  ir::Context ctx;
  Expr x = ctx.var(0, 500, ir::CatI, F32);
  Expr y = ctx.var(1, 500, ir::CatJ, F32);
  Expr z = ctx.var(2, 500, ir::CatJ, F32);
  Expr b = ctx.var(3, 1, ir::CatJ, F32);
  Expr short_x = ctx.var(4, 64, ir::CatI, F32);
  Expr short_y = ctx.var(5, 64, ir::CatJ, F32);
  Expr other_x = ctx.var(6, 300, ir::CatI, F32);

  Expr make(Op op, std::vector<Expr> args) { return ctx.make(op, std::move(args)); }
  DimTiles find(std::vector<Expr> roots) {
    return find_dim_tiles(roots, ir::CatI, ir::CatJ, /*min_dim=*/128);
  }
};

TEST_CASE_FIXTURE(Fixture, "SqDist and Scalprod of long output and reduced rows are tiled") {
  const Expr gauss = make(Op::SqDist, {x, y});
  const Expr dot = make(Op::Scalprod, {z, x});  // either order of the operands
  const DimTiles tiles =
      find({make(Op::Mult, {make(Op::Exp, {make(Op::Minus, {gauss})}), make(Op::Add, {dot, b})})});
  CHECK(tiles.dim == 500);
  REQUIRE(tiles.products.size() == 2);
  CHECK(tiles.products[0].node == gauss);
  CHECK(tiles.products[0].squared_distance);
  CHECK(tiles.products[1].node == dot);
  CHECK(tiles.products[1].outer == x);
  CHECK(tiles.products[1].reduced == z);
  CHECK_FALSE(tiles.products[1].squared_distance);
  CHECK(tiles.outer_vars == std::vector<Expr>{x});
  CHECK(tiles.reduced_vars == std::vector<Expr>{y, z});
  // Short vectors elsewhere are left to the pair loop; G too may hold tiled nodes.
  const DimTiles with_short = find(
      {make(Op::Add, {gauss, make(Op::SqDist, {short_x, short_y})}), make(Op::Scalprod, {x, z})});
  CHECK(with_short.products.size() == 2);
  CHECK(with_short.reduced_vars == std::vector<Expr>{y, z});
}

TEST_CASE_FIXTURE(Fixture, "Sum(Square(u - v)) and Sum(u * v) are products too") {
  const Expr squares = make(Op::Sum, {make(Op::Square, {make(Op::Subtract, {y, x})})});
  const Expr dots = make(Op::Sum, {make(Op::Mult, {x, z})});
  const DimTiles tiles = find({make(Op::Add, {squares, dots})});
  REQUIRE(tiles.products.size() == 2);
  CHECK(tiles.products[0].node == squares);
  CHECK(tiles.products[0].outer == x);
  CHECK(tiles.products[0].reduced == y);
  CHECK(tiles.products[0].squared_distance);
  CHECK(tiles.products[1].node == dots);
  CHECK_FALSE(tiles.products[1].squared_distance);
  // The difference read elsewhere too (the pair loop computes it there, from the rows).
  const Expr difference = make(Op::Subtract, {x, y});
  const Expr distance = make(Op::Sum, {make(Op::Square, {difference})});
  const DimTiles shared = find({make(Op::Add, {distance, make(Op::Sum, {difference})})});
  REQUIRE(shared.products.size() == 1);
  CHECK(shared.products[0].node == distance);
  CHECK(find({distance, difference}).products.size() == 1);
}

TEST_CASE_FIXTURE(Fixture, "long rows read otherwise too keep their products tiled") {
  // The gradient of a Gaussian with respect to x: (x - y) * (Exp(-SqDist(x, y)) * b), whose
  // long output reads both rows again, component by component.
  const Expr gauss = make(Op::SqDist, {x, y});
  const Expr gradient = make(
      Op::Mult,
      {make(Op::Subtract, {x, y}), make(Op::Mult, {make(Op::Exp, {make(Op::Minus, {gauss})}), b})});
  const DimTiles tiles = find({gradient});
  CHECK(tiles.dim == 500);
  REQUIRE(tiles.products.size() == 1);
  CHECK(tiles.products[0].node == gauss);
  CHECK(tiles.outer_vars == std::vector<Expr>{x});
  CHECK(tiles.reduced_vars == std::vector<Expr>{y});
  CHECK(find({make(Op::Add, {gauss, make(Op::Sum, {x})})}).dim == 500);  // x summed alone
  CHECK(find({gauss, y}).dim == 500);                                    // y is G itself
  // An Extract of y next to a product of y's whole rows.
  CHECK(find({make(Op::Add, {gauss, make(Op::Sum, {ctx.make(Op::Extract, {y}, {0, 300})})})})
            .products.size() == 1);
}

TEST_CASE_FIXTURE(Fixture, "no product of long rows, or products of mixed kinds: not tiled") {
  const Expr gauss = make(Op::SqDist, {x, y});
  CHECK(find({make(Op::SqDist, {short_x, short_y})}).dim == 0);           // nothing long
  CHECK(find({make(Op::SqDist, {make(Op::Mult, {x, b}), y})}).dim == 0);  // not a Var operand
  CHECK(find({make(Op::SqDist, {y, z})}).dim == 0);                       // both reduced rows
  CHECK(find({make(Op::Add, {gauss, make(Op::Scalprod, {other_x, other_x})})}).dim == 0);
}

}  // namespace
}  // namespace keops::passes
