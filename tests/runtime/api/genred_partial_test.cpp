// Genred::accumulate and finish: parts of the reduced rows in turn give run's outputs.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "keops/error.h"
#include "keops/genred.h"
#include "keops/half.h"
#include "tests/support/backends.h"

namespace {

using keops::Genred;
using keops::Options;
using keops::ReductionStates;
using keops::Result;
using keops::View;

const std::vector<std::string> kAliases = {"x = Vi(3)", "y = Vj(3)", "a = Vi(2)", "b = Vj(2)"};
constexpr int64_t kN = 45, kM = 39;

template <class T>
std::vector<T> uniform(size_t count, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<T> v(count);
  for (T& x : v) x = T(static_cast<std::conditional_t<sizeof(T) == 2, float, double>>(u(rng)));
  return v;
}

// The reduction of `args` by parts of the reduced rows ([0, 11), [11, 11), [11, 30), the
// rest), through accumulate and finish.
template <class T>
Result<T> by_parts(const Genred& g, const std::vector<View<const T>>& args) {
  const std::vector<keops::ArgumentInfo> infos = g.arguments();
  const int reduced = g.axis() == 1 ? 1 : 0;
  const int64_t out_rows = g.axis() == 1 ? kN : kM, all = g.axis() == 1 ? kM : kN;
  Result<T> out;
  out.rows = out_rows;
  out.cols = g.value_cols();
  out.index_cols = g.index_cols();
  out.values.resize(size_t(out_rows * out.cols));
  out.indices.resize(size_t(out_rows * out.index_cols));
  ReductionStates states;
  const int64_t cuts[] = {0, 11, 11, 30, all};
  for (int p = 0; p < 4; ++p) {
    std::vector<View<const T>> part = args;
    for (size_t k = 0; k < infos.size(); ++k)
      if (infos[k].category == reduced)
        part[k] = {args[k].data + cuts[p] * args[k].cols, cuts[p + 1] - cuts[p], args[k].cols};
    if (p < 3)
      g.accumulate(part, cuts[p], states);
    else
      g.finish(part, cuts[p], states, {out.values.data(), out_rows, out.cols},
               {out.index_cols ? out.indices.data() : nullptr, out.index_cols ? out_rows : 0,
                out.index_cols});
  }
  CHECK_FALSE(states.started);
  return out;
}

struct Case {
  const char* reduction;
  const char* formula;
  int k;
  const char* formula2;
  bool exact;  // a selection: bit for bit
};

template <class T>
void check_every_reduction(double tolerance, keops::Backend backend = keops::Backend::CPU) {
  const Case cases[] = {{"Sum", "Exp(-SqDist(x, y)) * (a - b)", 0, "", false},
                        {"Min_ArgMin", "SqDist(x, y) + a - b", 0, "", true},
                        {"Max", "SqDist(x, y) + a - b", 0, "", true},
                        {"ArgKMin", "SqDist(x, y)", 5, "", true},
                        {"KMin_ArgKMin", "SqDist(x, y) + a - b", 3, "", true},
                        // Slots in memory (K > 12), their cells the slots' values and indices.
                        {"ArgKMin", "SqDist(x, y)", 20, "", true},
                        {"KMin_ArgKMin", "SqDist(x, y) + a - b", 16, "", true},
                        {"KMin", "a - b", 13, "", true},
                        {"LogSumExp", "-SqDist(x, y) + (a | b)", 0, "", false},
                        {"Max_SumShiftExp", "-SqDist(x, y)", 0, "", false},
                        {"SumSoftMaxWeight", "-SqDist(x, y)", 0, "a - b", false}};
  unsigned seed = 3;
  for (const Case& c : cases)
    for (int axis : {0, 1}) {
      CAPTURE(c.reduction);
      CAPTURE(axis);
      Options o;
      o.k = c.k;
      o.formula2 = c.formula2;
      o.backend = backend;
      const Genred g(c.formula, kAliases, c.reduction, axis, o);
      REQUIRE(g.accumulates());
      const std::vector<T> x = uniform<T>(3 * kN, seed++), y = uniform<T>(3 * kM, seed++),
                           a = uniform<T>(2 * kN, seed++), b = uniform<T>(2 * kM, seed++);
      const std::vector<View<const T>> args = {
          {x.data(), kN, 3}, {y.data(), kM, 3}, {a.data(), kN, 2}, {b.data(), kM, 2}};
      const Result<T> whole = g(args), parts = by_parts(g, args);
      CHECK(parts.indices == whole.indices);
      double error = 0, scale = 0;
      for (size_t v = 0; v < whole.values.size(); ++v) {
        error = std::max(error, std::abs(double(parts.values[v]) - double(whole.values[v])));
        scale = std::max(scale, std::abs(double(whole.values[v])));
      }
      if (c.exact)  // bit for bit (ArgKMin has no values: no pointers to compare)
        CHECK((whole.values.empty() || std::memcmp(parts.values.data(), whole.values.data(),
                                                   whole.values.size() * sizeof(T)) == 0));
      else
        CHECK(error <= tolerance * std::max(scale, 1.0));
    }
}

}  // namespace

TEST_CASE("accumulate and finish over parts of the reduced rows: run's outputs<float>") {
  check_every_reduction<float>(1e-6);
}
TEST_CASE("accumulate and finish over parts of the reduced rows: run's outputs<double>") {
  check_every_reduction<double>(1e-14);
}

TEST_CASE("accumulate and finish over float16 and bfloat16 arrays: float32 states, one rounding") {
  // Each part widened as run widens the arrays: selections bit for bit, sums within one unit
  // of the last place of the largest value (their float32 sums may round apart).
  check_every_reduction<keops::half>(2e-3);
  check_every_reduction<keops::bfloat16>(1.6e-2);
  if (!keops::test::gpu_usable()) return;
  check_every_reduction<keops::half>(2e-3, keops::Backend::GPU);
  check_every_reduction<keops::bfloat16>(1.6e-2, keops::Backend::GPU);
}

TEST_CASE("accumulate and finish on the GPU: its partial states merged, run's outputs") {
  if (!keops::test::gpu_usable()) return;
  check_every_reduction<float>(1e-6, keops::Backend::GPU);
  check_every_reduction<double>(1e-14, keops::Backend::GPU);
  Options several;
  several.backend = keops::Backend::GPU;
  several.devices = {0};
  several.k = 4;
  const Genred g("SqDist(x, y)", {"x = Vi(3)", "y = Vj(3)"}, "ArgKMin", 1, several);
  CHECK_FALSE(g.accumulates());
  ReductionStates states;
  const std::vector<float> x(30, 0.5f);
  CHECK_THROWS_WITH_AS(g.accumulate({{x.data(), 10, 3}, {x.data(), 10, 3}}, 0, states),
                       doctest::Contains("it runs on several GPUs (Options::devices)"),
                       keops::Error);
}

TEST_CASE("accumulate: ties go to the lowest index, whichever part holds it") {
  // y's rows repeat in every part: ArgMin and ArgKMin pick the first of equals, as run does.
  for (int k : {4, 20}) {  // slots unrolled, and in memory
    CAPTURE(k);
    Options o;
    o.k = k;
    o.backend = keops::Backend::CPU;
    const Genred g("SqDist(x, y)", {"x = Vi(3)", "y = Vj(3)"}, "ArgKMin", 1, o);
    std::vector<float> x = uniform<float>(3 * kN, 1), y(3 * kM);
    for (int64_t j = 0; j < kM; ++j)
      for (int c = 0; c < 3; ++c) y[size_t(3 * j + c)] = float((j % 5) * 0.25 + c);
    const std::vector<View<const float>> args = {{x.data(), kN, 3}, {y.data(), kM, 3}};
    CHECK(by_parts(g, args).indices == g(args).indices);
  }
}

TEST_CASE("accumulate's errors") {
  Options o;
  o.backend = keops::Backend::CPU;
  const Genred sum("Exp(-SqDist(x, y)) * b", {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"}, "Sum", 1, o);
  const std::vector<float> x(30, 0.5f), y(30, 0.25f), b(10, 1.0f);
  const std::vector<View<const float>> args = {
      {x.data(), 10, 3}, {y.data(), 10, 3}, {b.data(), 10, 1}};
  ReductionStates states;
  sum.accumulate(args, 10, states);
  CHECK(states.started);
  CHECK(states.next_reduced_row == 20);
  CHECK_THROWS_WITH_AS(
      sum.accumulate(args, 15, states),
      doctest::Contains("parts must come in increasing order of rows: this one "
                        "starts at row 15, before the end of the parts so far (20)"),
      keops::Error);
  const std::vector<View<const float>> fewer = {
      {x.data(), 9, 3}, {y.data(), 10, 3}, {b.data(), 10, 1}};
  CHECK_THROWS_WITH_AS(sum.accumulate(fewer, 20, states),
                       doctest::Contains("the states hold 10 output rows, but this call's "
                                         "arguments have 9"),
                       keops::Error);
  CHECK_THROWS_WITH_AS(sum.accumulate(args, -1, states),
                       doctest::Contains("first_reduced_row must be >= 0, not -1"), keops::Error);
  // States started by another reduction, or over another array type (float64 values would be
  // read from float32 cells): refused, not folded.
  const std::vector<double> xd(30, 0.5), yd(30, 0.25), bd(10, 1.0);
  CHECK_THROWS_WITH_AS(
      sum.accumulate({{xd.data(), 10, 3}, {yd.data(), 10, 3}, {bd.data(), 10, 1}}, 20, states),
      doctest::Contains("Genred::accumulate: these states were started by another reduction (Sum "
                        "over j, float32, CPU, Auto sums, formula #"),
      keops::Error);
  const Genred other("Exp(-SqDist(x, y)) * b * 2", {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"}, "Sum",
                     1, o);
  CHECK_THROWS_WITH_AS(other.accumulate(args, 20, states),
                       doctest::Contains("), not by this one (Sum over j, float32, CPU, Auto "
                                         "sums, formula #"),
                       keops::Error);
  // A float64 accumulator keeps a double in the cell where float32 sums keep a float.
  Options wide = o;
  wide.float64_accumulator = true;
  CHECK_THROWS_WITH_AS(sum.with_options(wide).accumulate(args, 20, states),
                       doctest::Contains("not by this one (Sum over j, float32, CPU, Auto sums in "
                                         "float64, formula #"),
                       keops::Error);
  // Reductions that are not one kernel on the CPU.
  const Genred lse("-SqDist(x, y)", {"x = Vi(3)", "y = Vj(3)"}, "LogSumExp", 1, o);
  CHECK_FALSE(lse.grad("y").accumulates());
  ReductionStates fresh;
  CHECK_THROWS_WITH_AS(
      lse.grad("y").accumulate({{x.data(), 10, 3}, {y.data(), 10, 3}, {b.data(), 10, 1}}, 0, fresh),
      doctest::Contains("Genred::accumulate: this reduction cannot be reduced a "
                        "part at a time: it runs several kernels"),
      keops::Error);
  Options ranged = o;
  ranged.ranges = keops::Ranges{{{0, 10}}, {1}, {{0, 10}}, {}, {}, {}};
  CHECK_THROWS_WITH_AS(sum.with_options(ranged).accumulate(args, 0, fresh),
                       doctest::Contains("it has block-sparse ranges"), keops::Error);
  // One part, finish alone: run's outputs.
  std::vector<float> out(10), whole(10);
  sum.finish(args, 0, fresh, {out.data(), 10, 1});
  sum.run(args, {whole.data(), 10, 1});
  CHECK(out == whole);
}
