// KeOps's spellings through Genred: the constant forms, Vx/Vy, formulas that write their own
// Vars, Grad(f, v) and the WithSavedForward forms, LogSumExp with a G, and SoftMax.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <utility>
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

TEST_CASE_TEMPLATE(
    "keops spellings: WeightedSqNorm is SqNormIso, SqNormDiag or SymSqNorm by s's dim", T, float,
    double) {
  const std::vector<std::string> aliases = {"x = Vi(3)", "y = Vj(3)", "a = Vi(1)", "S = Vj(9)"};
  const std::pair<const char*, const char*> pairs[] = {
      {"WeightedSqNorm(a, x - y)", "SqNormIso(a, x - y)"},
      {"WeightedSqNorm(y, x)", "SqNormDiag(y, x)"},
      {"WeightedSqNorm(S, x - y)", "SymSqNorm(S, x - y)"},
  };
  for (const auto& entry : pairs) {
    // (Not structured bindings: CAPTURE's lambda reads them, which Clang 14 refuses.)
    const auto& weighted = std::get<0>(entry);
    const auto& keops = std::get<1>(entry);
    const auto args = random_args<T>(weighted, aliases, 23, 19, 8, -1, 1);
    for (int axis : {0, 1}) {
      CAPTURE(keops);
      CAPTURE(axis);
      const auto want = Genred(weighted, aliases, "Sum", axis)(args.views);
      const auto got = Genred(keops, aliases, "Sum", axis)(args.views);
      REQUIRE(got.values.size() == want.values.size());
      for (size_t k = 0; k < want.values.size(); ++k)
        CHECK(double(got.values[k]) ==
              doctest::Approx(double(want.values[k])).epsilon(tolerance<T>() * 10));
      CHECK(compare_with_reference<T>(keops, aliases, "Sum", axis, {}, args, 23, 19).relative() <=
            tolerance<T>());
    }
  }
}

TEST_CASE_TEMPLATE(
    "keops spellings: DiffClampInt, at its bounds and at NaN, and ClampInt's "
    "derivative",
    T, float, double) {
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const std::vector<T> x = {-2, -1, 0, 1, T(1.5), nan}, b = {1, 2};
  const Genred op("DiffClampInt(x, -1, 1) * b", {"x = Vi(1)", "b = Vj(1)"}, "Sum", 1);
  const auto out = op({{x.data(), 6, 1}, {b.data(), 2, 1}});
  CHECK(out.values == std::vector<T>{0, 3, 3, 3, 0, 3});  // keopscore: 1 at NaN
  // keopscore's ClampInt' is DiffClampInt; ours too, at NaN included (a NaN in x).
  const std::vector<std::string> aliases = {"x = Vi(3)", "y = Vj(3)", "e = Vi(3)"};
  auto args = random_args<T>("x + y + e", aliases, 17, 13, 4, -3, 3);
  args.data[0][4] = nan;
  const auto grad = Genred("Grad(ClampInt(x - y, -1, 1), x, e)", aliases, "Sum", 1)(args.views);
  const auto diff = Genred("e * DiffClampInt(x - y, -1, 1)", aliases, "Sum", 1)(args.views);
  CHECK(grad.values == diff.values);
  // Where x is NaN, ClampInt takes x: every j passes e on.
  CHECK(double(grad.values[4]) == doctest::Approx(13 * double(args.data[2][4])).epsilon(1e-6));
}

TEST_CASE_TEMPLATE(
    "keops spellings: Factorize and AutoFactorize give the unfactorized formula's bits", T, float,
    double) {
  check_same<T>("Factorize(Exp(-SqDist(x, y)) * SqDist(x, y) * b, SqDist(x, y))",
                "Exp(-SqDist(x, y)) * SqDist(x, y) * b", kAliases, "Sum", "Sum", {});
  check_same<T>("AutoFactorize(Grad(Exp(-SqDist(x, y)) * b, x, a))",
                "Grad(Exp(-SqDist(x, y)) * b, x, a)", kAliases, "Sum", "Sum", {});
}

namespace {

// d(Sum_j F_ij)/du_i for every row i, by central differences in the i argument at
// `position` of `sum`: J[i][k * dim(u) + l] = d out_ik / d u_il.
std::vector<std::vector<double>> row_jacobians(const Genred& sum, Arrays args, size_t position) {
  const int64_t rows = args.arrays[position].rows, dim = args.arrays[position].cols;
  const int64_t out_cols = sum(args.views()).cols;
  std::vector<std::vector<double>> j(size_t(rows), std::vector<double>(size_t(out_cols * dim)));
  const double h = 1e-4;
  for (int64_t l = 0; l < dim; ++l) {
    std::vector<double>& u = args.arrays[position].values;
    for (int64_t i = 0; i < rows; ++i) u[size_t(i * dim + l)] += h;
    const auto up = sum(args.views());
    for (int64_t i = 0; i < rows; ++i) u[size_t(i * dim + l)] -= 2 * h;
    const auto down = sum(args.views());
    for (int64_t i = 0; i < rows; ++i) u[size_t(i * dim + l)] += h;
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t k = 0; k < out_cols; ++k)
        j[size_t(i)][size_t(k * dim + l)] =
            (up.values[size_t(i * out_cols + k)] - down.values[size_t(i * out_cols + k)]) / (2 * h);
  }
  return j;
}

}  // namespace

TEST_CASE("keops spellings: the linear operators against central differences of the Jacobian") {
  // F is linear in u (an i variable): Sum_j of an operator of F is the operator of the
  // Jacobian of Sum_j F, with weights w (an i variable), wl = 2 and wr (a parameter).
  const std::vector<std::string> aliases = {"x = Vi(3)", "y = Vj(3)", "u = Vi(3)", "w = Vi(3)",
                                            "wr = Pm(3)"};
  const char* f = "Concat(Exp(-SqDist(x, y)) * u, (y | u)) * Elem(y, 0)";  // dim 4
  const char* square = "MatVecMult(TensorProd(x, y), u) * Exp(-SqDist(x, y))";
  std::mt19937_64 rng(21);
  Arrays args;
  args.add_random(5, 3, rng).add_random(7, 3, rng).add_random(5, 3, rng).add_random(5, 3, rng);
  args.add_random(1, 3, rng);
  auto output = [&](const std::string& formula) {
    return Genred(formula, aliases, "Sum", 1)(args.views()).values;
  };
  const auto jf = row_jacobians(Genred(f, aliases, "Sum", 1), args, 2);
  const auto js = row_jacobians(Genred(square, aliases, "Sum", 1), args, 2);
  const auto& w = args.arrays[3].values;
  const auto& wr = args.arrays[4].values;
  const auto trace = output(std::string("TraceOperator(") + square + ", u, w)");
  const auto scalar_trace = output("TraceOperator(Elem(" + std::string(f) + ", 3), u)");
  const auto sum_lin = output("SumLinOperator(" + std::string(f) + ", u, 2, wr)");
  const auto adjoint = output("AdjointOperator(" + std::string(square) + ", u, w)");
  for (size_t i = 0; i < 5; ++i) {
    CAPTURE(i);
    double want_trace = 0, want_scalar = 0, want_sum_lin = 0;
    for (size_t k = 0; k < 3; ++k) {
      want_trace += w[i * 3 + k] * js[i][k * 3 + k];
      want_scalar += jf[i][3 * 3 + k];
      double adjoint_k = 0;
      for (size_t l = 0; l < 3; ++l) adjoint_k += w[i * 3 + l] * js[i][l * 3 + k];
      CHECK(adjoint[i * 3 + k] == doctest::Approx(adjoint_k).epsilon(1e-7));
    }
    for (size_t k = 0; k < 4; ++k)
      for (size_t l = 0; l < 3; ++l) want_sum_lin += 2 * jf[i][k * 3 + l] * wr[l];
    CHECK(trace[i] == doctest::Approx(want_trace).epsilon(1e-7));
    CHECK(scalar_trace[i] == doctest::Approx(want_scalar).epsilon(1e-7));
    CHECK(sum_lin[i] == doctest::Approx(want_sum_lin).epsilon(1e-7));
  }
}

TEST_CASE("keops spellings: pykeops's trace of a symbolic variable, and one left over") {
  // LazyTensor's trace_operator writes its variable as Var(-ind-1, dim, cat).
  const std::vector<std::string> aliases = {"x = Vi(3)", "y = Vj(3)"};
  const Genred traced(
      "TraceOperator(Grad(Grad(Exp(-SqDist(x, y)), x, IntCst(1)), x, "
      "Var(-1,3,0)), Var(-1,3,0))",
      aliases, "Sum", 1);
  const Genred laplacian("Laplacian(Exp(-SqDist(x, y)), x)", aliases, "Sum", 1);
  CHECK(traced.arg_count() == 2);
  const auto args = random_args<double>("x + y", aliases, 9, 11, 6);
  const auto a = traced(args.views), b = laplacian(args.views);
  REQUIRE(a.values.size() == b.values.size());
  for (size_t k = 0; k < a.values.size(); ++k)
    CHECK(a.values[k] == doctest::Approx(b.values[k]).epsilon(1e-12));
  CHECK(compare_with_reference<double>(traced.formula(), aliases, "Sum", 1, {}, args, 9, 11)
            .relative() <= 1e-12);
  CHECK_THROWS_WITH_AS(Genred("x * Var(-1,3,0)", {"x = Vi(3)"}, "Sum", 1),
                       doctest::Contains("collecting arguments: the formula still reads "
                                         "Var(-1,3,0), a symbolic variable (negative position)"),
                       Error);
}
