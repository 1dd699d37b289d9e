// Genred::grad twice (and thrice): Hessian-vector products of every reduction vs differences.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <keops/keops.h>

#include "tests/support/backends.h"
#include "tests/support/grad_check.h"

using keops::Backend;
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

// The name of argument k of op when it has no alias (a cotangent): its Var text.
std::string var_name(const Arrays& args, size_t k, int cat) {
  return "Var(" + std::to_string(k) + "," + std::to_string(args.arrays[k].cols) + "," +
         std::to_string(cat) + ")";
}

// One thread: the arrays are tiny, and thread start-ups would cost more than the sums.
Options on(Backend backend) {
  Options o;
  o.backend = backend;
  o.threads = 1;
  return o;
}

const char* kNames[] = {"x", "y", "p"};

struct Case {
  const char* reduction;
  const char* formula;
  int k = 0;
  const char* formula2 = "";
};

const Case kCases[] = {
    {"Sum", kVectorF},
    {"Max", kVectorF},
    {"Min", kVectorF},
    {"ArgMax", kVectorF},
    {"ArgMin", kVectorF},
    {"Max_ArgMax", kVectorF},
    {"Min_ArgMin", kVectorF},
    {"KMin", kVectorF, 3},
    {"ArgKMin", kVectorF, 3},
    {"KMin_ArgKMin", kVectorF, 3},
    {"LogSumExp", kScalarF},
    {"LogSumExpWeight", kScalarF, 0, kWeights},
    {"SumSoftMaxWeight", kScalarF, 0, kWeights},
    {"Max_SumShiftExp", kScalarF},
    {"Max_SumShiftExpWeight", kScalarF, 0, kWeights},
};

// x (5 x 2), y (6 x 2), p (1 x 1): continuous random values, so the selections are away
// from ties (a gap below the difference step would flip them).
Arrays random_inputs(std::mt19937_64& rng) {
  Arrays a;
  a.add_random(5, 2, rng).add_random(6, 2, rng).add_random(1, 1, rng, 0.5, 1.5);
  return a;
}

// G.grad(u).grad(v) for every reduction, axis, u in {x, y, p} and v in {x, y, p, e1},
// e1 the cotangent of the first gradient.
void check_second_order(Backend backend) {
  std::mt19937_64 rng(17);
  for (const Case& c : kCases)
    for (int axis : {0, 1}) {
      Options options = on(backend);
      options.k = c.k;
      options.formula2 = c.formula2;
      const Genred op(c.formula, kGradAliases, c.reduction, axis, options);
      Arrays args = random_inputs(rng);
      const auto out = op(args.views());
      args.add_random(out.rows, out.cols, rng);  // e1
      for (size_t u = 0; u < 3; ++u) {
        const Genred first = op.grad(kNames[u]);
        for (size_t v = 0; v < 4; ++v) {
          if (v == 3 && out.cols == 0) continue;  // an index-only e1 holds no values
          const std::string var = v < 3 ? kNames[v] : var_name(args, 3, 1 - axis);
          const std::string reduction = c.reduction, first_var = kNames[u];
          CAPTURE(reduction);
          CAPTURE(axis);
          CAPTURE(first_var);
          CAPTURE(var);
          CHECK(gradient_error(first, args, var, v, rng) < 1e-6);
        }
      }
    }
}

// G.grad(u).grad(v).grad(w) for w in {x, y, p, e1, e2}: LogSumExp for several (u, v) and
// both axes, and two selections through their cotangent (v = e1: terms written per slot).
void check_third_order(Backend backend) {
  const Case lse = {"LogSumExp", kScalarF};
  const Case kmin = {"KMin_ArgKMin", kVectorF, 3};
  const Case shift = {"Max_SumShiftExpWeight", kScalarF, 0, kWeights};
  struct Order3 {
    const Case* c;
    int axis;
    size_t u, v;  // 0, 1, 2: x, y, p; 3: e1
  };
  const Order3 orders[] = {{&lse, 0, 1, 0}, {&lse, 0, 0, 1},  {&lse, 0, 2, 1},
                           {&lse, 1, 1, 1}, {&lse, 1, 0, 2},  {&lse, 1, 2, 0},
                           {&lse, 1, 1, 3}, {&kmin, 1, 1, 3}, {&shift, 0, 0, 3}};
  std::mt19937_64 rng(23);
  for (const Order3& o : orders) {
    Options options = on(backend);
    options.k = o.c->k;
    options.formula2 = o.c->formula2;
    const Genred op(o.c->formula, kGradAliases, o.c->reduction, o.axis, options);
    Arrays args = random_inputs(rng);
    const auto out = op(args.views());
    args.add_random(out.rows, out.cols, rng);  // e1
    const std::string v = o.v < 3 ? kNames[o.v] : var_name(args, 3, 1 - o.axis);
    const Genred second = op.grad(kNames[o.u]).grad(v);
    args.add_random(args.arrays[o.u].rows, args.arrays[o.u].cols, rng);  // e2: u's shape
    for (size_t w = 0; w < 5; ++w) {
      const std::string var = w < 3    ? kNames[w]
                              : w == 3 ? var_name(args, 3, 1 - o.axis)
                                       : var_name(args, 4, int(o.u));
      const std::string reduction = o.c->reduction, u = kNames[o.u];
      CAPTURE(reduction);
      CAPTURE(o.axis);
      CAPTURE(u);
      CAPTURE(v);
      CAPTURE(var);
      CHECK(gradient_error(second, args, var, w, rng) < 1e-6);
    }
  }
}

// out_i = log sum_j exp(x_i y_j): d/dx_i = E_p[y], d2/dx_i2 = Var_p(y), p_ij the softmax;
// out_i = min_j (x_i - y_j)^2: d/dx_i = 2 (x_i - y_j*), so d2/dx_i2 = 2 and
// d2/dx_i dy_j* = -2.
void check_by_hand(Backend backend) {
  const std::vector<double> x = {0.3, -0.2, 0.7}, y = {0.1, 0.55, -0.4, 0.9},
                            e1 = {0.5, -1.25, 2.0}, e2 = {1.5, 0.75, -0.5};
  const std::vector<View<const double>> args = {
      {x.data(), 3, 1}, {y.data(), 4, 1}, {e1.data(), 3, 1}, {e2.data(), 3, 1}};
  const std::vector<std::string> aliases = {"x = Vi(1)", "y = Vj(1)"};
  const Genred lse("x * y", aliases, "LogSumExp", 1, on(backend));
  const auto dxx = lse.grad("x").grad("x")(args);
  REQUIRE(dxx.values.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    double norm = 0, mean = 0, square = 0;
    for (double yj : y) norm += std::exp(x[i] * yj);
    for (double yj : y) {
      const double p = std::exp(x[i] * yj) / norm;
      mean += p * yj;
      square += p * yj * yj;
    }
    CHECK(dxx.values[i] == doctest::Approx(e1[i] * e2[i] * (square - mean * mean)).epsilon(1e-12));
  }
  const Genred closest("Square(x - y)", aliases, "Min", 1, on(backend));
  const auto mxx = closest.grad("x").grad("x")(args);
  for (size_t i = 0; i < 3; ++i) CHECK(mxx.values[i] == doctest::Approx(2 * e1[i] * e2[i]));
  const auto mxy = closest.grad("x").grad("y")(args);
  std::vector<double> expected(4, 0.0);
  for (size_t i = 0; i < 3; ++i) {
    size_t best = 0;
    for (size_t j = 1; j < 4; ++j)
      if (std::fabs(x[i] - y[j]) < std::fabs(x[i] - y[best])) best = j;
    expected[best] += -2 * e1[i] * e2[i];
  }
  for (size_t j = 0; j < 4; ++j) CHECK(mxy.values[j] == doctest::Approx(expected[j]));
}

}  // namespace

TEST_CASE("grad2: every reduction's second-order gradient matches differences of the first") {
  keops::test::for_each_backend(check_second_order);
}

TEST_CASE("grad2: third-order gradients match differences of the second") {
  keops::test::for_each_backend(check_third_order);
}

TEST_CASE("grad2: LogSumExp and Min Hessians by hand") {
  keops::test::for_each_backend(check_by_hand);
}
