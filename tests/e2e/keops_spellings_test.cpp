// KeOps's spellings through Genred: the constant forms, Vx/Vy, formulas that write their own
// Vars, Grad(f, v) and the WithSavedForward forms, LogSumExp with a G, and SoftMax.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <keops/keops.h>

#include "tests/support/grad_check.h"
#include "tests/support/reference_check.h"

using keops::Error;
using keops::Genred;
using keops::Options;
using keops::View;
using keops::test::Arrays;
using keops::test::compare_with_reference;
using keops::test::gradient_error;
using keops::test::random_args;

namespace {

const std::vector<std::string> kAliases = {"x = Vi(3)", "y = Vj(3)", "a = Vi(1)", "b = Vj(1)"};

template <class T>
double tolerance() {
  return sizeof(T) == 4 ? 1e-5 : 1e-12;
}

// Two Genreds give the same bits on the same data, for both axes.
template <class T>
void check_same(const std::string& f, const std::string& g, const std::vector<std::string>& aliases,
                const std::string& reduction, const std::string& reduction_g, Options options) {
  const auto args = random_args<T>(f, aliases, 37, 41, 5);
  for (int axis : {0, 1}) {
    CAPTURE(f);
    CAPTURE(axis);
    const auto first = Genred(f, aliases, reduction, axis, options)(args.views);
    const auto second = Genred(g, aliases, reduction_g, axis, options)(args.views);
    CHECK(first.values == second.values);
    const auto r = compare_with_reference<T>(f, aliases, reduction, axis, options, args, 37, 41);
    CHECK(r.relative() <= tolerance<T>());
  }
}

// Max over i of |out_i - d(Sum_j F_ij)/dx_i|, by central differences in the i argument
// `x` (position 0) of `sum`, relative to max(1, |difference|).
double rowwise_gradient_error(const Genred& gradient, const Genred& sum, Arrays args) {
  const auto analytic = gradient(args.views());
  const int64_t rows = args.arrays[0].rows, dim = args.arrays[0].cols;
  const double h = 1e-6;
  double error = 0, scale = 1;
  for (int64_t q = 0; q < rows * dim; ++q) {
    double& coordinate = args.arrays[0].values[size_t(q)];
    const double saved = coordinate;
    coordinate = saved + h;
    const double up = sum(args.views()).values[size_t(q / dim)];
    coordinate = saved - h;
    const double down = sum(args.views()).values[size_t(q / dim)];
    coordinate = saved;
    const double difference = (up - down) / (2 * h);
    error = std::max(error, std::fabs(analytic.values[size_t(q)] - difference));
    scale = std::max(scale, std::fabs(difference));
  }
  return error / scale;
}

}  // namespace

TEST_CASE_TEMPLATE("keops spellings: IntCst, RatCst, IntInv and Zero are the numbers they name", T,
                   float, double) {
  check_same<T>("IntCst(2) * Exp(-SqDist(x, y) * RatCst(1, 2)) * b + IntInv(4) * a + Zero(1)",
                "2 * Exp(-SqDist(x, y) * 0.5) * b + 0.25 * a", kAliases, "Sum", "Sum", {});
  check_same<T>("Concat(IntCst(1), Zero(2)) * x - RatCst(-3, 7)",
                "Concat(1, Concat(0, 0)) * x + 3/7", kAliases, "Max", "Max", {});
}

TEST_CASE_TEMPLATE("keops spellings: formulas as pykeops's LazyTensor writes them", T, float,
                   double) {
  // Every variable a Var of the formula, integers as IntCst, no aliases.
  const char* formulas[] = {
      "Exp(Minus(Sum(Square((Var(0,3,0)-Var(1,3,1))))))*Var(2,1,1)",
      "((Var(0,3,0)*IntCst(2))|Var(1,3,1))*Exp(-(Var(2,1,2)*SqDist(Var(0,3,0),Var(1,3,1))))",
      "Powf(Var(0,3,0),RatCst(1,2))*IntInv(3)+Square(Var(1,3,1))*IntCst(3)",
  };
  for (const char* f : formulas) {
    const auto args = random_args<T>(f, {}, 33, 29, 3);
    for (int axis : {0, 1}) {
      CAPTURE(f);
      CAPTURE(axis);
      CHECK(compare_with_reference<T>(f, {}, "Sum", axis, {}, args, 33, 29).relative() <=
            tolerance<T>());
    }
  }
}

TEST_CASE("keops spellings: Vx and Vy aliases are Vi and Vj") {
  check_same<double>("SqDist(x, y) * b + a", "SqDist(x, y) * b + a",
                     {"x = Vx(3)", "y = Vy(3)", "a = Vx(1)", "b = Vy(1)"}, "Sum", "Sum", {});
  const Genred op("SqDist(x, y)", {"x = Vx(3)", "y = Vy(3)"}, "Sum", 1);
  CHECK(op.arg_count() == 2);
}

TEST_CASE("keops spellings: the Vars a formula writes are arguments whatever simplification does") {
  // The derivatives fold to zeros, yet the formula wrote 4 arguments: it takes 4.
  const Genred op("Grad(Grad(x + Var(1,3,1), x, Var(2,3,0)), x, Var(3,3,0))", {"x = Vi(3)"}, "Sum",
                  1);
  CHECK(op.arg_count() == 4);
  const std::vector<double> x(15, 0.5), y(21, 0.25), u(15, 1.0), w(15, 2.0);
  const auto out = op({{x.data(), 5, 3}, {y.data(), 7, 3}, {u.data(), 5, 3}, {w.data(), 5, 3}});
  CHECK(out.rows == 5);
  CHECK(out.values == std::vector<double>(15, 0.0));
  CHECK_THROWS_WITH_AS(op({{x.data(), 5, 3}}), doctest::Contains("expected 4 argument(s), got 1"),
                       Error);
  // A written Var at a position nothing else uses is checked like any argument.
  CHECK_THROWS_WITH_AS(op({{x.data(), 5, 3}, {y.data(), 7, 3}, {u.data(), 5, 3}, {w.data(), 4, 3}}),
                       doctest::Contains("argument 3 (Var(3,3,0))"), Error);
}

TEST_CASE("keops spellings: Grad(f, v) and Grad_WithSavedForward against central differences") {
  std::mt19937_64 rng(3);
  const std::vector<std::string> aliases = {"x = Vi(3)", "y = Vj(3)", "e = Vj(1)"};
  Arrays args;
  args.add_random(6, 3, rng).add_random(8, 3, rng).add_random(8, 1, rng);
  const Genred sum("Exp(-SqDist(x, y)) * e", aliases, "Sum", 1);
  // Grad(f, x) makes e = Var(2,1,1): the alias e.
  const Genred two_argument("Grad(Exp(-SqDist(x, y)), x)", aliases, "Sum", 1);
  CHECK(two_argument.arg_count() == 3);
  CHECK(rowwise_gradient_error(two_argument, sum, args) < 1e-7);
  // The saved forward output is an argument the formula does not read.
  const Genred saved("Grad_WithSavedForward(Exp(-SqDist(x, y)), x, e, Var(3,1,0))", aliases, "Sum",
                     1);
  CHECK(saved.arg_count() == 4);
  Arrays with_saved = args;
  with_saved.add_random(6, 1, rng);
  CHECK(saved(with_saved.views()).values == two_argument(args.views()).values);
  // Diff_WithSavedForward(f, x, u, saved) is Diff(f, x, u).
  const Genred diff("Diff_WithSavedForward(Exp(-SqDist(x, y)), x, u, s) * e",
                    {"x = Vi(3)", "y = Vj(3)", "e = Vj(1)", "u = Vi(3)", "s = Vi(1)"}, "Sum", 1);
  const Genred plain("Diff(Exp(-SqDist(x, y)), x, u) * e",
                     {"x = Vi(3)", "y = Vj(3)", "e = Vj(1)", "u = Vi(3)", "s = Vi(1)"}, "Sum", 1);
  with_saved.add_random(6, 3, rng);
  std::swap(with_saved.arrays[3], with_saved.arrays[4]);  // u, then s
  CHECK(diff(with_saved.views()).values == plain(with_saved.views()).values);
}

TEST_CASE_TEMPLATE(
    "keops spellings: LogSumExp with a G is LogSumExpWeight, SoftMax is "
    "SumSoftMaxWeight",
    T, float, double) {
  Options weights;
  weights.formula2 = "Exp(y - a)";
  check_same<T>("-SqDist(x, y) * b", "-SqDist(x, y) * b", kAliases, "LogSumExp", "LogSumExpWeight",
                weights);
  check_same<T>("-SqDist(x, y) * b", "-SqDist(x, y) * b", kAliases, "SoftMax", "SumSoftMaxWeight",
                weights);
  const Genred op("-SqDist(x, y)", kAliases, "LogSumExp", 1, weights);
  CHECK(op.value_cols() == 3);
}

TEST_CASE("keops spellings: gradients of LogSumExp with a G and of SoftMax") {
  Options options;
  options.formula2 = keops::test::kWeights;
  std::mt19937_64 rng(9);
  for (const char* reduction : {"LogSumExp", "SoftMax"})
    for (int axis : {0, 1}) {
      const Genred op(keops::test::kScalarF, keops::test::kGradAliases, reduction, axis, options);
      Arrays inputs;
      inputs.add_random(7, 2, rng).add_random(9, 2, rng).add_random(1, 1, rng, 0.5, 1.5);
      for (size_t k = 0; k < 3; ++k) {
        CAPTURE(reduction);
        CAPTURE(axis);
        CAPTURE(k);
        CHECK(gradient_error(op, inputs, std::string("xyp").substr(k, 1), k, rng) < 1e-6);
      }
    }
}
