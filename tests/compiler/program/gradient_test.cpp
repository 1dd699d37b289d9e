// Reduction programs from formula text, and their gradients' shapes (the values are checked
// end to end in tests/e2e/grad_test.cpp).
#include <doctest/doctest.h>

#include "compiler/program/gradient.h"
#include "compiler/program/reduction_program.h"
#include "keops/error.h"

namespace {

using keops::ir::CatI;
using keops::ir::CatJ;
using keops::ir::CatP;
using keops::program::gradient;
using keops::program::parse_program;

const std::vector<std::string> kAliases = {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)", "p = Pm(1)"};

}  // namespace

TEST_CASE("a reduction's program: one output stage over its arguments") {
  const auto p = parse_program("Exp(-p * SqDist(x, y)) * b", kAliases, "Sum", 1, 0, "");
  REQUIRE(p.args.size() == 4);
  CHECK(p.args[3].cat == CatP);
  CHECK(p.single_kernel());
  CHECK(p.main.value_cols() == 1);
  CHECK(p.main.f.f32->dtype == keops::ir::DType::F32);
  CHECK(p.main.f.f64->dtype == keops::ir::DType::F64);
  CHECK_THROWS_WITH_AS(parse_program("x + y", kAliases, "Mean", 1, 0, ""),
                       doctest::Contains("unknown reduction 'Mean'"), keops::Error);
  CHECK_THROWS_WITH_AS(parse_program("Sum(x) + Var(0,2,0)", kAliases, "Sum", 1, 0, ""),
                       doctest::Contains("position 0"), keops::Error);
}

TEST_CASE("gradients: one kernel for a Sum, hidden forwards where the derivative needs them") {
  const auto gauss = parse_program("Exp(-SqDist(x, y)) * b", kAliases, "Sum", 1, 0, "");
  const auto dx = gradient(gauss, "x");
  CHECK(dx->args.size() == 5);  // x, y, b, p and e, the cotangent
  CHECK(dx->args[4].cat == CatI);
  CHECK(dx->main.value_cols() == 3);
  CHECK(dx->main.output_cat() == CatI);
  CHECK(dx->single_kernel());
  const auto dy = gradient(gauss, "y");
  CHECK(dy->main.output_cat() == CatJ);
  CHECK(dy->single_kernel());
  const auto dp =
      gradient(parse_program("Exp(-p * SqDist(x, y)) * b", kAliases, "Sum", 1, 0, ""), "p");
  CHECK(dp->main.sum_rows);  // a parameter's gradient sums over both axes

  // LogSumExp's gradient for y reads the forward's result: a hidden step computes it.
  const auto lse = parse_program("-SqDist(x, y)", kAliases, "LogSumExp", 1, 0, "");
  const auto lse_dy = gradient(lse, "y");
  CHECK(lse_dy->hidden.size() == 1);
  CHECK_FALSE(lse_dy->single_kernel());
  CHECK(lse_dy->staged_from == "LogSumExp");
  // A second-order gradient is a program of the same form.
  const auto second = gradient(*dx, "y");
  CHECK(second->args.size() == 6);
  CHECK(second->main.output_cat() == CatJ);

  CHECK_THROWS_WITH_AS(gradient(gauss, "z"), doctest::Contains("z"), keops::Error);
}
