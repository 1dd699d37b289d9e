// KernelSolve's linearity check on formulas (the API's messages: tests/runtime/api).
#include <doctest/doctest.h>

#include "compiler/frontend/parser.h"
#include "compiler/program/linearity.h"
#include "keops/error.h"

namespace {

// Checks f, reduced over j, for linearity in b (position 2).
void check(const std::string& formula) {
  keops::ir::Context ctx;
  const auto table = keops::frontend::AliasTable::parse({"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"});
  const keops::ir::Expr f =
      keops::frontend::parse_formula(formula, table, ctx, keops::ir::DType::F64);
  keops::program::check_linear(ctx, f, keops::frontend::collect_arguments(table, {f}), 2, 1);
}

}  // namespace

TEST_CASE("check_linear: formulas linear in the solved argument pass, others name why not") {
  CHECK_NOTHROW(check("Exp(-SqDist(x, y)) * b"));
  CHECK_NOTHROW(check("(Exp(-SqDist(x, y)) + Sum(x * y)) * b"));
  CHECK_THROWS_WITH_AS(check("Exp(-SqDist(x, y)) * b * b"), doctest::Contains("derivative"),
                       keops::Error);
  CHECK_THROWS_WITH_AS(check("Exp(-SqDist(x, y)) * b + 1"),
                       doctest::Contains("not 0 where 'b' is 0"), keops::Error);
  CHECK_THROWS_WITH_AS(check("Exp(-SqDist(x, y)) * (b + Sign(b))"), doctest::Contains("Sign"),
                       keops::Error);
  // The op that makes the derivative vanish is named, not the product around it.
  CHECK_THROWS_WITH_AS(check("Exp(-SqDist(x, y)) * Sign(b)"),
                       doctest::Contains("passes 'b' through Sign, which is piecewise constant"),
                       keops::Error);
  CHECK_THROWS_WITH_AS(check("Exp(-SqDist(x, y)) * (b + Round(b, 0))"),
                       doctest::Contains("through Round"), keops::Error);
}
