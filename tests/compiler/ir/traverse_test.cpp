// Tests of the DAG walks: every reachable node once, roots included; depths without recursion.
#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/ir/context.h"
#include "compiler/ir/traverse.h"
#include "keops/error.h"

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

TEST_CASE("depth: the longest path to a leaf, on chains far deeper than recursion allows") {
  Context ctx;
  const Expr x = ctx.var(0, 1, CatI, DType::F32);
  CHECK(depth(x) == 1);
  Expr chain = x;
  for (int k = 0; k < 200000; ++k) chain = ctx.make(Op::Exp, {chain});
  CHECK(depth(chain) == 200001);
  const Expr shared = ctx.make(Op::Mult, {chain, ctx.make(Op::Minus, {x})});
  CHECK(depth(shared) == 200002);
}

TEST_CASE("check_depth: kernels of formulas deeper than emission allows are refused") {
  Context ctx;
  Expr chain = ctx.var(0, 1, CatI, DType::F32);
  for (int64_t k = 1; k < codegen::kMaxEmittedDepth; ++k) chain = ctx.make(Op::Exp, {chain});
  codegen::KernelSpec spec;
  spec.formula = chain;
  CHECK_NOTHROW(codegen::check_depth(spec));
  spec.formula = ctx.make(Op::Exp, {chain});
  CHECK_THROWS_WITH_AS(codegen::check_depth(spec),
                       "the formula to compile is 10001 operations deep (a derivative of a deep "
                       "formula?); at most 10000 are supported",
                       keops::Error);
}

}  // namespace
}  // namespace keops::ir
