// Every reduction kind through Genred against the float64 reference: shapes, ties, NaN and inf.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/reference_check.h"

namespace {

using keops::Options;
using keops::test::compare_with_reference;
using keops::test::random_args;

const std::vector<std::string> kAliases = {"x = Vi(3)", "y = Vj(3)", "a = Vi(1)", "b = Vj(1)",
                                           "p = Pm(1)"};

struct Case {
  std::string formula;
  std::string reduction;
  int k = 0;
  std::string formula2 = "";
};

// Floor(3 * ...) takes few values on data in [0.1, 1], so ties are common and must keep the
// lowest index; K = 10 exceeds the small reduced sizes, leaving empty (+inf, -1) ranks.
const std::vector<Case> kCases = {
    {"Exp(-SqDist(x, y)) * b", "Sum"},
    {"x * y - b", "Max"},
    {"x * y - b", "Min"},
    {"Floor(3 * SqDist(x, y))", "Max"},
    {"Floor(3 * SqDist(x, y))", "Min"},
    {"x * y - b", "ArgMax"},
    {"x * y - b", "ArgMin"},
    {"Floor(3 * x * y)", "ArgMax"},
    {"Floor(3 * SqDist(x, y))", "ArgMin"},
    {"x * y - b", "Max_ArgMax"},
    {"Floor(3 * x * y)", "Max_ArgMax"},
    {"x * y - b", "Min_ArgMin"},
    {"Floor(3 * SqDist(x, y))", "Min_ArgMin"},
    {"SqDist(x, y)", "KMin", 1},
    {"x * y - b", "KMin", 3},
    {"Floor(3 * x * y)", "KMin", 10},
    {"SqDist(x, y)", "ArgKMin", 3},
    {"Floor(3 * SqDist(x, y))", "ArgKMin", 3},
    {"x * y - b", "ArgKMin", 10},
    {"Floor(3 * x * y)", "KMin_ArgKMin", 1},
    {"Floor(3 * x * y)", "KMin_ArgKMin", 3},
    {"SqDist(x, y)", "KMin_ArgKMin", 10},
    {"Square(p - a) * Exp(-SqNorm2(x - y))", "LogSumExp"},
    {"-10 * SqDist(x, y) + b", "LogSumExp"},
    {"Floor(3 * SqDist(x, y))", "LogSumExp"},
    {"-SqDist(x, y)", "LogSumExpWeight", 0, "Exp(y)"},
    {"-SqDist(x, y) * p", "Max_SumShiftExp"},
    {"-SqDist(x, y)", "Max_SumShiftExpWeight", 0, "y"},
    {"-SqDist(x, y)", "SumSoftMaxWeight", 0, "y"},
    {"Floor(3 * SqDist(x, y))", "SumSoftMaxWeight", 0, "Concat(y, b)"},
};

template <class T>
double tolerance() {
  return sizeof(T) == 4 ? 1e-5 : 1e-12;
}

Options options_of(const Case& c) {
  Options o;
  o.k = c.k;
  o.formula2 = c.formula2;
  return o;
}

template <class T>
void check_case(const Case& c, const Options& options, const keops::test::RandomArgs<T>& args,
                int64_t nx, int64_t ny, int64_t edge_rows = 0) {
  for (int axis : {0, 1}) {
    CAPTURE(c.formula);
    CAPTURE(c.reduction);
    CAPTURE(c.k);
    CAPTURE(axis);
    CAPTURE(nx);
    CAPTURE(ny);
    const auto r = compare_with_reference<T>(c.formula, kAliases, c.reduction, axis, options, args,
                                             nx, ny, edge_rows);
    CHECK(r.relative() <= tolerance<T>());
    CHECK(r.indices_equal);
  }
}

// Random data on a grid of 1/64: float32 and the float64 reference then compute the same
// Floor(3 * SqDist) values exactly, so ties are ties in both and indices can be compared.
template <class T>
keops::test::RandomArgs<T> grid_args(const std::string& formula, int64_t nx, int64_t ny,
                                     uint64_t seed) {
  auto args = random_args<T>(formula, kAliases, nx, ny, seed);
  for (auto& arg : args.data)
    for (T& v : arg) v = std::round(v * 64) / 64;
  return args;
}

// Random data where every fifth entry of argument `only` (of every argument if -1) is
// NaN, +inf or -inf in turn.
template <class T>
keops::test::RandomArgs<T> args_with_special_values(const std::string& formula, int64_t nx,
                                                    int64_t ny, int only = -1) {
  auto args = random_args<T>(formula, kAliases, nx, ny, 3, -1.0, 1.0);
  const T specials[] = {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                        -std::numeric_limits<T>::infinity()};
  for (size_t a = 0; a < args.data.size(); ++a)
    if (only < 0 || size_t(only) == a)
      for (size_t k = 0; k < args.data[a].size(); k += 5) args.data[a][k] = specials[(k / 5) % 3];
  return args;
}

}  // namespace

TEST_CASE_TEMPLATE("every reduction against the reference, sizes 0, 1, 7", T, float, double) {
  for (const Case& c : kCases)
    for (int64_t nx : {0, 1, 7})
      for (int64_t ny : {0, 1, 7})
        check_case<T>(c, options_of(c), grid_args<T>(c.formula, nx, ny, 11), nx, ny);
}

TEST_CASE_TEMPLATE("every reduction against the reference, sizes 1031 and 1000", T, float, double) {
  const int64_t nx = 1031, ny = 1000;
  for (const Case& c : kCases)
    check_case<T>(c, options_of(c), grid_args<T>(c.formula, nx, ny, 12), nx, ny, 80);
}

TEST_CASE_TEMPLATE("every sum scheme and accumulator against the reference", T, float, double) {
  const Case c{"Exp(-SqDist(x, y)) * b - 0.3 * a", "Sum"};
  const int64_t nx = 1031, ny = 1000;
  const auto args = random_args<T>(c.formula, kAliases, nx, ny, 13);
  for (auto scheme : {keops::SumScheme::Direct, keops::SumScheme::Block, keops::SumScheme::Kahan})
    for (bool float64_accumulator : {false, true}) {
      CAPTURE(int(scheme));
      CAPTURE(float64_accumulator);
      Options o;
      o.sum_scheme = scheme;
      o.float64_accumulator = float64_accumulator;
      check_case<T>(c, o, args, nx, ny, 80);
    }
}

TEST_CASE_TEMPLATE("NaN and inf in the data give what the reference gives", T, float, double) {
  // Every fifth entry of every argument is special: NaN, +inf or -inf in turn.
  const std::vector<Case> cases = {
      {"a - y", "Min"},
      {"a - y", "Max"},
      {"a - y", "ArgMin"},
      {"a - y", "ArgMax"},
      {"a - y", "Min_ArgMin"},
      {"a - y", "KMin", 3},
      {"a - y", "KMin_ArgKMin", 3},
      {"a - b", "LogSumExp"},
      {"a - b", "Max_SumShiftExp"},
      {"a * b", "LogSumExp"},
      {"a - b", "SumSoftMaxWeight", 0, "y"},
      {"a - y", "Sum"},
  };
  for (const Case& c : cases)
    for (auto [nx, ny] : {std::pair<int64_t, int64_t>{7, 7}, {37, 300}}) {
      // Options::sum_scheme Kahan for Sum: its compensation must survive an infinite term.
      Options o = options_of(c);
      if (c.reduction == "Sum") o.sum_scheme = keops::SumScheme::Kahan;
      check_case<T>(c, o, args_with_special_values<T>(c.formula, nx, ny), nx, ny);
    }
}

TEST_CASE_TEMPLATE("the exponential forms of rows of -inf, +inf and NaN are the reference's", T,
                   float, double) {
  // Only a (argument 2) is special: whole rows of F = a + b are then -inf (a tie of -inf
  // terms, counted as exp(0) each), +inf (likewise) or NaN, with no other special term.
  const std::vector<Case> cases = {
      {"a + b", "LogSumExp"},
      {"a + b", "LogSumExpWeight", 0, "Exp(y)"},
      {"a + b", "Max_SumShiftExp"},
      {"a + b", "Max_SumShiftExpWeight", 0, "y"},
      {"a + b", "SumSoftMaxWeight", 0, "y"},
  };
  for (const Case& c : cases)
    for (auto [nx, ny] : {std::pair<int64_t, int64_t>{7, 7}, {37, 300}})
      check_case<T>(c, options_of(c), args_with_special_values<T>(c.formula, nx, ny, 2), nx, ny);
}

TEST_CASE("ArgKMin with K = 3 on SqDist(x, y) matches a hand-written selection") {
  const int64_t nx = 50, ny = 200;
  const auto args = random_args<double>("SqDist(x, y)", {"x = Vi(3)", "y = Vj(3)"}, nx, ny, 5);
  keops::Options o;
  o.k = 3;
  keops::Genred op("SqDist(x, y)", {"x = Vi(3)", "y = Vj(3)"}, "ArgKMin", 1, o);
  const auto got = op(args.views);
  REQUIRE(got.index_cols == 3);
  const std::vector<double>& x = args.data[0];
  const std::vector<double>& y = args.data[1];
  for (int64_t i = 0; i < nx; ++i) {
    std::vector<double> d(size_t(ny), 0.0);
    for (int64_t j = 0; j < ny; ++j)
      for (int c = 0; c < 3; ++c)
        d[size_t(j)] += (x[size_t(3 * i + c)] - y[size_t(3 * j + c)]) *
                        (x[size_t(3 * i + c)] - y[size_t(3 * j + c)]);
    std::vector<int64_t> order(static_cast<size_t>(ny));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t u, int64_t v) { return d[size_t(u)] < d[size_t(v)]; });
    for (int r = 0; r < 3; ++r) CHECK(got.indices[size_t(3 * i + r)] == order[size_t(r)]);
  }
}

TEST_CASE("reductions that do not fit their formula are keops::Error at construction") {
  CHECK_THROWS_WITH_AS(
      keops::Genred("x - y", kAliases, "LogSumExp", 1),
      doctest::Contains("the reduction LogSumExp needs a scalar formula, but it has dim 3"),
      keops::Error);
  CHECK_THROWS_WITH_AS(keops::Genred("SqDist(x, y)", kAliases, "KMin", 1),
                       doctest::Contains("the reduction KMin needs K >= 1 (Options::k), got 0"),
                       keops::Error);
  CHECK_THROWS_WITH_AS(
      keops::Genred("-SqDist(x, y)", kAliases, "SumSoftMaxWeight", 1),
      doctest::Contains("the reduction SumSoftMaxWeight needs the weights G (Options::formula2)"),
      keops::Error);
}
