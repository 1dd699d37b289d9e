// Tests of the DAG walk: every reachable node once, roots included.
#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "compiler/ir/context.h"
#include "compiler/ir/traverse.h"

namespace keops::ir {
namespace {

TEST_CASE("reachable_nodes: each node under the roots once, shared ones too") {
  Context ctx;
  const Expr x = ctx.var(0, 3, CatI, DType::F32);
  const Expr y = ctx.var(1, 3, CatJ, DType::F32);
  const Expr d = ctx.make(Op::SqDist, {x, y});
  const Expr e = ctx.make(Op::Exp, {ctx.make(Op::Minus, {d})});
  const Expr f = ctx.make(Op::Mult, {e, d});  // d twice under f
  std::vector<Expr> nodes = reachable_nodes({f, x});
  CHECK(nodes.size() == 6);  // f, e, -d, d, x, y
  for (Expr n : {f, e, d, x, y}) CHECK(std::count(nodes.begin(), nodes.end(), n) == 1);
  CHECK(reachable_nodes({}).empty());
  CHECK(reachable_nodes({y}) == std::vector<Expr>{y});
}

}  // namespace
}  // namespace keops::ir
