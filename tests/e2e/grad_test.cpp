// Genred::grad: every reduction's gradient against finite differences, by hand, and twice.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <keops/keops.h>

#include "tests/support/grad_check.h"

using keops::Error;
using keops::Genred;
using keops::Options;
using keops::View;

namespace {

using keops::test::Arrays;
using keops::test::gradient_error;
using keops::test::kGradAliases;
using keops::test::kScalarF;
using keops::test::kVectorF;
using keops::test::kWeights;
using keops::test::pairing;

Arrays random_inputs(int64_t nx, int64_t ny, std::mt19937_64& rng) {
  Arrays a;
  a.add_random(nx, 2, rng).add_random(ny, 2, rng).add_random(1, 1, rng, 0.5, 1.5);
  return a;
}

struct GradCase {
  const char* reduction;
  const char* formula;
  int k = 0;
  const char* formula2 = "";
};

}  // namespace

TEST_CASE("grad: every reduction's gradient matches central differences, per category and axis") {
  const GradCase cases[] = {
      {"Sum", kVectorF},
      {"Max", kVectorF},
      {"Min", kVectorF},
      {"Max_ArgMax", kVectorF},
      {"Min_ArgMin", kVectorF},
      {"KMin", kVectorF, 3},
      {"KMin_ArgKMin", kVectorF, 3},
      {"LogSumExp", kScalarF},
      {"LogSumExpWeight", kScalarF, 0, kWeights},
      {"SumSoftMaxWeight", kScalarF, 0, kWeights},
      {"Max_SumShiftExp", kScalarF},
      {"Max_SumShiftExpWeight", kScalarF, 0, kWeights},
  };
  std::mt19937_64 rng(7);
  for (const GradCase& c : cases)
    for (int axis : {0, 1}) {
      Options options;
      options.k = c.k;
      options.formula2 = c.formula2;
      const Genred op(c.formula, kGradAliases, c.reduction, axis, options);
      const Arrays inputs = random_inputs(7, 9, rng);
      for (size_t k = 0; k < 3; ++k) {
        const std::string var = std::string("xyp").substr(k, 1);
        CAPTURE(c.reduction);
        CAPTURE(axis);
        CAPTURE(var);
        CHECK(gradient_error(op, inputs, var, k, rng) < 1e-6);
      }
    }
}

TEST_CASE("grad: Arg reductions have a zero gradient; their e has no values") {
  std::mt19937_64 rng(11);
  const Arrays inputs = random_inputs(5, 6, rng);
  for (const char* reduction : {"ArgMin", "ArgMax", "ArgKMin"}) {
    Options options;
    options.k = std::string(reduction) == "ArgKMin" ? 2 : 0;
    const Genred g = Genred(kVectorF, kGradAliases, reduction, 1, options).grad("y");
    CHECK(g.arg_count() == 4);
    CHECK(g.value_cols() == 2);
    std::vector<View<const double>> args = inputs.views();
    args.push_back({nullptr, 5, 0});  // e is 0 values wide
    const auto out = g(args);
    CHECK(out.rows == 6);
    CHECK(std::all_of(out.values.begin(), out.values.end(), [](double v) { return v == 0; }));
    args.pop_back();
    CHECK_THROWS_WITH_AS(g(args), doctest::Contains("expected 4 argument(s)"), Error);
  }
}

TEST_CASE("grad: LogSumExp of p0 X + p1 Y: dX = p0, dY = p1 sum_i softmax_ij, dP by hand") {
  const Genred op("Elem(P, 0) * X + Elem(P, 1) * Y", {"X = Vi(1)", "Y = Vj(1)", "P = Pm(2)"},
                  "LogSumExp", 1);
  const std::vector<double> x = {0.3, -0.2, 0.7}, y = {0.1, 0.5, -0.4, 0.9}, p = {0.8, 1.7},
                            e = {1, 1, 1};
  const std::vector<View<const double>> args = {
      {x.data(), 3, 1}, {y.data(), 4, 1}, {p.data(), 1, 2}, {e.data(), 3, 1}};
  // softmax_ij = exp(p1 y_j) / sum_j exp(p1 y_j): the p0 x_i term cancels.
  double norm = 0;
  for (double yj : y) norm += std::exp(p[1] * yj);
  const auto dx = op.grad("X")(args);
  for (double v : dx.values) CHECK(v == doctest::Approx(p[0]).epsilon(1e-12));
  const auto dy = op.grad("Y")(args);
  for (size_t j = 0; j < y.size(); ++j)
    CHECK(dy.values[j] == doctest::Approx(p[1] * 3 * std::exp(p[1] * y[j]) / norm).epsilon(1e-12));
  // dP = (sum_i x_i, sum_i sum_j softmax_ij y_j).
  double mean_y = 0;
  for (double yj : y) mean_y += std::exp(p[1] * yj) / norm * yj;
  const auto dp = op.grad("P")(args);
  REQUIRE(dp.rows == 1);
  CHECK(dp.values[0] == doctest::Approx(x[0] + x[1] + x[2]).epsilon(1e-12));
  CHECK(dp.values[1] == doctest::Approx(3 * mean_y).epsilon(1e-12));
}

TEST_CASE("grad: second order of a Sum matches differences of the first gradient") {
  std::mt19937_64 rng(3);
  const Genred op("Exp(-p * SqDist(x, y)) * (x|y)", kGradAliases, "Sum", 1);
  Arrays inputs = random_inputs(6, 8, rng);
  inputs.add_random(6, 1, rng);  // e of op
  const Genred dx = op.grad("x");
  CHECK(dx.formula().find("Var(3,1,0)") != std::string::npos);
  for (size_t k = 0; k < 3; ++k) {
    const std::string var = std::string("xyp").substr(k, 1);
    CAPTURE(var);
    CHECK(gradient_error(dx, inputs, var, k, rng) < 1e-6);
  }
  // e is an argument like any other, named by its Var text.
  CHECK(gradient_error(dx, inputs, "Var(3, 1, 0)", 3, rng) < 1e-6);
  // A parameter's gradient is a sum over both axes, differentiable again.
  const Genred dp = op.grad("p");
  CHECK(dp.axis() == -1);
  CHECK(gradient_error(dp, inputs, "y", 1, rng) < 1e-6);
}

TEST_CASE("grad: float32 gradients agree with float64 ones") {
  std::mt19937_64 rng(5);
  const Arrays inputs = random_inputs(6, 7, rng);
  Options options;
  options.formula2 = kWeights;
  for (const char* reduction : {"SumSoftMaxWeight", "Max_SumShiftExpWeight"}) {
    const Genred op(kScalarF, kGradAliases, reduction, 0, options);
    Arrays with_e = inputs;
    with_e.add_random(7, op.value_cols(), rng);
    std::vector<std::vector<float>> single;
    std::vector<View<const float>> views;
    for (const auto& a : with_e.arrays) single.emplace_back(a.values.begin(), a.values.end());
    for (size_t k = 0; k < single.size(); ++k)
      views.push_back({single[k].data(), with_e.arrays[k].rows, with_e.arrays[k].cols});
    for (const char* var : {"x", "y", "p"}) {
      const Genred g = op.grad(var);
      const auto exact = g(with_e.views());
      const auto approx = g(views);
      CAPTURE(reduction);
      CAPTURE(var);
      for (size_t q = 0; q < exact.values.size(); ++q)
        CHECK(approx.values[q] == doctest::Approx(exact.values[q]).epsilon(1e-4).scale(1));
    }
  }
}

TEST_CASE("grad: KMin ranks beyond the reduced range contribute nothing") {
  std::mt19937_64 rng(9);
  const Arrays inputs = random_inputs(4, 2, rng);
  Options k2, k3;
  k2.k = 2;
  k3.k = 3;
  const Genred two(kVectorF, kGradAliases, "KMin", 1, k2),
      three(kVectorF, kGradAliases, "KMin", 1, k3);
  Arrays e2 = inputs, e3 = inputs;
  e2.add_random(4, 4, rng);
  e3.add_random(4, 6, rng);
  // Ranks 0 and 1 (4 values per row) of e3 are e2's; rank 2 is never filled.
  for (int64_t r = 0; r < 4; ++r)
    std::copy_n(e2.arrays[3].values.begin() + r * 4, 4, e3.arrays[3].values.begin() + r * 6);
  for (const char* var : {"x", "y", "p"}) {
    const auto a = two.grad(var)(e2.views()), b = three.grad(var)(e3.views());
    CAPTURE(var);
    for (size_t q = 0; q < a.values.size(); ++q)
      CHECK(b.values[q] == doctest::Approx(a.values[q]).epsilon(1e-12));
  }
}

TEST_CASE("grad: errors name the variable, or say that it holds no values") {
  const Genred op(kScalarF, kGradAliases, "LogSumExp", 1);
  CHECK_THROWS_WITH_AS(op.grad("z"),
                       doctest::Contains("no argument is named 'z'; the arguments are x = "
                                         "Vi(0,2), y = Vj(1,2), p = Pm(2,1)"),
                       Error);
  // The cotangent of an index-only reduction holds no values: nothing to differentiate.
  CHECK_THROWS_WITH_AS(Genred(kVectorF, kGradAliases, "ArgMin", 1).grad("x").grad("Var(3,0,0)"),
                       doctest::Contains("argument 'Var(3,0,0)' holds no values (dim 0)"), Error);
  // By position text: y is Var(1,2,1).
  CHECK(op.grad("Var(1,2,1)").formula() == op.grad("y").formula());
  const Genred dx = Genred("Exp(-SqDist(x, y))", kGradAliases, "Sum", 1).grad("x");
  std::mt19937_64 rng(1);
  Arrays args = random_inputs(3, 4, rng);
  args.add_random(4, 1, rng);  // e has the rows of j, not of i
  CHECK_THROWS_WITH_AS(dx(args.views()), doctest::Contains("argument 3 (Var(3,1,0))"), Error);
}
