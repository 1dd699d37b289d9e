// keops::mpi::reduce and run against one process's Genred on the whole arrays, on every rank.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "keops/error.h"
#include "keops/mpi.h"
#include "keops/ranges.h"
#include "tests/mpi/mpi_support.h"

namespace {

using keops::Genred;
using keops::Options;
using keops::Result;
using keops::View;
using keops::test::contains;
using keops::test::rank;
using keops::test::ranks;
using keops::test::shard;

// The same pseudo-random arrays on every rank.
template <class T>
std::vector<T> values(size_t count, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<T> v;
  for (size_t k = 0; k < count; ++k) v.push_back(T(u(rng)));
  return v;
}

const std::vector<std::string> kAliases = {"x = Vi(3)", "y = Vj(3)", "a = Vi(2)", "b = Vj(2)",
                                           "s = Pm(1)"};
constexpr int64_t kN = 37, kM = 29;

// The whole arguments of kAliases (and e, rows of the output, for a gradient), and this
// rank's rows of them.
template <class T>
struct Arrays {
  std::vector<std::vector<T>> whole;
  std::vector<View<const T>> all, mine;

  Arrays(const Genred& g, unsigned seed, bool last_only = false) {
    const auto i = shard(kN, last_only), j = shard(kM, last_only);
    for (const keops::ArgumentInfo& a : g.arguments()) {
      const int64_t rows = a.category == 0 ? kN : a.category == 1 ? kM : 1;
      whole.push_back(values<T>(size_t(rows * a.dim), seed++));
      if (a.name == "s") whole.back()[0] = T(1.5f);
    }
    const std::vector<keops::ArgumentInfo> infos = g.arguments();
    for (size_t k = 0; k < infos.size(); ++k) {
      const int c = infos[k].category;
      const int64_t rows = c == 0 ? kN : c == 1 ? kM : 1, dim = infos[k].dim;
      all.push_back({whole[k].data(), rows, dim});
      const std::array<int64_t, 2> r = c == 0 ? i : c == 1 ? j : std::array<int64_t, 2>{0, 1};
      mine.push_back({whole[k].data() + r[0] * dim, r[1] - r[0], dim});
    }
  }
};

// This rank's rows of one process's output rows [begin, end) of `out_cat` (0: i, 1: j).
template <class T>
std::array<int64_t, 2> own_rows(const Genred& g, bool last_only = false) {
  if (g.axis() == -1) return {0, 1};
  return g.axis() == 1 ? shard(kN, last_only) : shard(kM, last_only);
}

template <class T>
void check_equal_rows(const Genred& g, const Result<T>& whole, const Result<T>& mine,
                      bool last_only = false) {
  const auto rows = own_rows<T>(g, last_only);
  // (No REQUIRE: a rank that left the case would skip the collective calls that follow.)
  CHECK(mine.rows == rows[1] - rows[0]);
  CHECK(mine.cols == whole.cols);
  CHECK(mine.index_cols == whole.index_cols);
  if (mine.rows != rows[1] - rows[0] || mine.cols != whole.cols ||
      mine.index_cols != whole.index_cols)
    return;
  int64_t differ = 0;
  for (int64_t v = 0; v < mine.rows * mine.cols; ++v) {
    const T got = mine.values[size_t(v)], want = whole.values[size_t(rows[0] * whole.cols + v)];
    differ += !(got == want || (std::isnan(float(got)) && std::isnan(float(want))));
  }
  for (int64_t v = 0; v < mine.rows * mine.index_cols; ++v)
    differ += mine.indices[size_t(v)] != whole.indices[size_t(rows[0] * whole.index_cols + v)];
  CHECK(differ == 0);
}

template <class T>
void check_close(const Result<T>& whole, const Result<T>& mine, double tolerance) {
  CHECK(mine.values.size() == whole.values.size());
  if (mine.values.size() != whole.values.size()) return;
  double scale = 0, error = 0;
  for (size_t v = 0; v < mine.values.size(); ++v) {
    scale = std::max(scale, std::abs(double(whole.values[v])));
    error = std::max(error, std::abs(double(mine.values[v]) - double(whole.values[v])));
  }
  CHECK(error <= tolerance * std::max(scale, 1.0));
}

struct Case {
  const char* reduction;
  const char* formula;
  int k;
  const char* formula2;
};

const Case kCases[] = {
    {"Sum", "Exp(-s * SqDist(x, y)) * (a - b)", 0, ""},
    {"Min", "SqDist(x, y) * s + a - b", 0, ""},
    {"Max", "SqDist(x, y) * s + a - b", 0, ""},
    {"ArgMin", "SqDist(x, y) * s + a - b", 0, ""},
    {"ArgMax", "SqDist(x, y) * s + a - b", 0, ""},
    {"Min_ArgMin", "SqDist(x, y) * s + a - b", 0, ""},
    {"Max_ArgMax", "SqDist(x, y) * s + a - b", 0, ""},
    {"KMin", "SqDist(x, y) * s + a - b", 3, ""},
    {"ArgKMin", "SqDist(x, y) * s", 5, ""},
    {"KMin_ArgKMin", "SqDist(x, y) * s + a - b", 4, ""},
    {"LogSumExp", "-s * SqDist(x, y) + (a | b)", 0, ""},
    {"LogSumExpWeight", "-s * SqDist(x, y)", 0, "a - b"},
    {"Max_SumShiftExp", "-s * SqDist(x, y) + (a | b)", 0, ""},
    {"Max_SumShiftExpWeight", "-s * SqDist(x, y)", 0, "a - b"},
    {"SumSoftMaxWeight", "-s * SqDist(x, y)", 0, "a - b"},
    // K over 12: the slots in memory (a resumable kernel saves them to its cells).
    {"KMin_ArgKMin", "SqDist(x, y) * s + a - b", 20, ""},
};

Genred make(const Case& c, int axis, Options o = {}) {
  o.k = c.k;
  o.formula2 = c.formula2;
  o.backend = keops::Backend::CPU;
  return Genred(c.formula, kAliases, c.reduction, axis, o);
}

// check(c, g, arrays) for every case of kCases on both axes, arrays of T drawn from `seed`.
template <class T, class Check>
void for_every_case(unsigned seed, const Check& check) {
  for (const Case& c : kCases)
    for (int axis : {0, 1}) {
      CAPTURE(c.reduction);
      CAPTURE(axis);
      const Genred g = make(c, axis);
      const Arrays<T> a(g, seed += 10);
      check(c, g, a);
    }
}

template <class T>
void check_every_reduction() {
  for_every_case<T>(1, [](const Case&, const Genred& g, const Arrays<T>& a) {
    check_equal_rows(g, g(a.all), keops::mpi::reduce(g, MPI_COMM_WORLD, a.mine));
  });
}

}  // namespace

TEST_CASE("every reduction, both axes, ragged shards: one process's rows, bit for bit<float>") {
  check_every_reduction<float>();
}
TEST_CASE("every reduction, both axes, ragged shards: one process's rows, bit for bit<double>") {
  check_every_reduction<double>();
}

namespace {

bool is_selection(const std::string& reduction) {
  return reduction.find("Min") != std::string::npos || reduction == "Max" ||
         reduction == "ArgMax" || reduction == "Max_ArgMax";
}

// Scheme::Pipeline against one process: selections bit for bit, sums within rounding.
template <class T>
void check_pipeline(double tolerance) {
  const keops::mpi::Settings pipeline{keops::mpi::Scheme::Pipeline, nullptr};
  for_every_case<T>(900, [&](const Case& c, const Genred& g, const Arrays<T>& a) {
    keops::mpi::Stats stats;
    const Result<T> whole = g(a.all),
                    mine = keops::mpi::reduce(g, MPI_COMM_WORLD, a.mine, {pipeline.scheme, &stats});
    CHECK(stats.scheme == keops::mpi::Scheme::Pipeline);
    if (is_selection(c.reduction)) {
      check_equal_rows(g, whole, mine);
      return;
    }
    const auto rows = own_rows<T>(g);
    Result<T> expected = whole;
    expected.values.assign(whole.values.begin() + rows[0] * whole.cols,
                           whole.values.begin() + rows[1] * whole.cols);
    check_close(expected, mine, tolerance);
  });
  // A gradient of several steps: gathered whole instead.
  const Genred lse_y = make(kCases[10], 1).grad("y");
  Arrays<T> d(lse_y, 77);
  keops::mpi::Stats stats;
  check_equal_rows(lse_y, lse_y(d.all),
                   keops::mpi::reduce(lse_y, MPI_COMM_WORLD, d.mine, {pipeline.scheme, &stats}));
  CHECK(stats.scheme == keops::mpi::Scheme::AllGather);
}

}  // namespace

TEST_CASE("Scheme::Pipeline: selections bit for bit, sums within rounding<float>") {
  check_pipeline<float>(2e-6);
}
TEST_CASE("Scheme::Pipeline: selections bit for bit, sums within rounding<double>") {
  check_pipeline<double>(1e-14);
}
TEST_CASE("Scheme::Pipeline over float16 and bfloat16 arrays: states in float32, one rounding") {
  // A sum's parts may round differently in float32, which can move its 16-bit result by one
  // unit of the last place (2^-10 of float16's largest values, 2^-7 of bfloat16's).
  check_pipeline<keops::half>(2e-3);
  check_pipeline<keops::bfloat16>(1.6e-2);
}

TEST_CASE("no argument of the reduced axis: its rows from Options::ny, under either scheme") {
  Options o;
  o.ny = 7;
  o.backend = keops::Backend::CPU;
  const Genred g("Exp(-SqNorm2(x))", {"x = Vi(3)"}, "Sum", 1, o);
  const std::vector<float> x = values<float>(3 * kN, 5);
  const auto i = shard(kN);
  const std::vector<View<const float>> mine = {{x.data() + 3 * i[0], i[1] - i[0], 3}};
  const Result<float> whole = g({{x.data(), kN, 3}});
  for (auto scheme : {keops::mpi::Scheme::AllGather, keops::mpi::Scheme::Pipeline}) {
    keops::mpi::Stats stats;
    check_equal_rows(g, whole, keops::mpi::reduce(g, MPI_COMM_WORLD, mine, {scheme, &stats}));
    CHECK(stats.scheme == keops::mpi::Scheme::AllGather);  // nothing to pass around
  }
}

TEST_CASE("gradients of one and several steps, parameters' summed over both axes") {
  unsigned seed = 500;
  for (const std::string name : {"Sum", "LogSumExp", "Min", "SumSoftMaxWeight", "KMin"})
    for (int axis : {0, 1})
      for (const std::string wrt : {"x", "y", "b", "s"}) {
        CAPTURE(name);
        CAPTURE(axis);
        CAPTURE(wrt);
        const Case* c = nullptr;
        for (const Case& k : kCases)
          if (k.reduction == name) c = &k;
        const Genred g = make(*c, axis).grad(wrt);
        Arrays<double> a(g, seed += 10);
        const Result<double> whole = g(a.all), mine = keops::mpi::reduce(g, MPI_COMM_WORLD, a.mine);
        if (g.axis() == -1)
          check_close(whole, mine, 1e-12);
        else
          check_equal_rows(g, whole, mine);
      }
}

TEST_CASE("float16 and bfloat16 arrays: one process's rows, and sums over both axes") {
  for (int axis : {0, 1}) {
    const Genred sum = make(kCases[0], axis), knn = make(kCases[8], axis);
    Arrays<keops::half> h(sum, 7);
    check_equal_rows(sum, sum(h.all), keops::mpi::reduce(sum, MPI_COMM_WORLD, h.mine));
    Arrays<keops::bfloat16> k(knn, 9);
    check_equal_rows(knn, knn(k.all), keops::mpi::reduce(knn, MPI_COMM_WORLD, k.mine));
  }
  const Genred dp = make(kCases[0], 1).grad("s");
  Arrays<keops::bfloat16> p(dp, 11);
  check_close(dp(p.all), keops::mpi::reduce(dp, MPI_COMM_WORLD, p.mine), 1e-2);
}

TEST_CASE("block-sparse ranges in global rows, and every row on the last rank") {
  Options o;
  o.ranges = keops::from_matrix({{0, 10}, {10, 25}, {25, kN}}, {{0, 12}, {12, kM}},
                                {true, false, true, true, false, true});
  for (int axis : {0, 1}) {
    const Genred g = make(kCases[0], axis, o), m = make(kCases[5], axis, o);
    Arrays<float> a(g, 21);
    check_equal_rows(g, g(a.all), keops::mpi::reduce(g, MPI_COMM_WORLD, a.mine));
    check_equal_rows(m, m(a.all), keops::mpi::reduce(m, MPI_COMM_WORLD, a.mine));
    const Genred dy = g.grad("y");
    Arrays<float> d(dy, 31);
    check_equal_rows(dy, dy(d.all), keops::mpi::reduce(dy, MPI_COMM_WORLD, d.mine));
    Arrays<float> last(g, 41, true);
    check_equal_rows(g, g(last.all), keops::mpi::reduce(g, MPI_COMM_WORLD, last.mine), true);
  }
  Options bad = o;
  bad.ranges->ranges_i[2] = {25, kN + 1};
  const Genred g = make(kCases[0], 1, bad);
  Arrays<float> a(g, 51);
  CHECK_THROWS_WITH_AS(keops::mpi::reduce(g, MPI_COMM_WORLD, a.mine),
                       doctest::Contains("ranges_i[2] = [25, 38) is not within the global rows "
                                         "[0, 37)"),
                       keops::Error);
}

TEST_CASE("run writes this rank's rows into the caller's arrays") {
  const Genred g = make(kCases[9], 1);
  Arrays<float> a(g, 61);
  const Result<float> whole = g(a.all);
  const auto rows = own_rows<float>(g);
  Result<float> mine;
  mine.rows = rows[1] - rows[0];
  mine.cols = g.value_cols();
  mine.index_cols = g.index_cols();
  mine.values.assign(size_t(mine.rows * mine.cols), -7.0f);
  mine.indices.assign(size_t(mine.rows * mine.index_cols), -7);
  keops::mpi::Stats stats;
  keops::mpi::run(g, MPI_COMM_WORLD, a.mine, {mine.values.data(), mine.rows, mine.cols},
                  {mine.indices.data(), mine.rows, mine.index_cols},
                  {keops::mpi::Scheme::AllGather, &stats});
  check_equal_rows(g, whole, mine);
  // The gathered rows: y and b (3 + 2 floats), this rank's to every other rank.
  const auto j = shard(kM);
  CHECK(stats.bytes_sent == (j[1] - j[0]) * 20 * (ranks() - 1));
  CHECK(stats.bytes_received == (kM - (j[1] - j[0])) * 20);
  CHECK(stats.compute_s > 0);
  CHECK(stats.scheme == keops::mpi::Scheme::AllGather);
  CHECK((stats.check_s >= 0 && stats.gather_s >= 0 && stats.finish_s >= 0));
}

TEST_CASE("errors: the same keops::Error on every rank, naming the rank, never a hang") {
  const int last = ranks() - 1;
  const std::string who = "keops::mpi: rank " + std::to_string(last);
  // A rank's bad argument.
  {
    const Genred g = make(kCases[0], 1);
    Arrays<float> a(g, 71);
    std::vector<View<const float>> args = a.mine;
    if (rank() == last) args[1].cols = 2;
    CHECK_THROWS_WITH_AS(keops::mpi::reduce(g, MPI_COMM_WORLD, args),
                         contains(who + ": argument y is "), keops::Error);
    if (rank() == last) args.pop_back();
    args[1].cols = 3;
    CHECK_THROWS_WITH_AS(keops::mpi::reduce(g, MPI_COMM_WORLD, args),
                         contains(who + ": expected 5 argument(s), got 4"), keops::Error);
    std::vector<float> out(1000);
    const int64_t rows = rank() == last ? a.mine[0].rows + 1 : a.mine[0].rows;
    CHECK_THROWS_WITH_AS(keops::mpi::run(g, MPI_COMM_WORLD, a.mine, {out.data(), rows, 2}),
                         contains(who + ": values is "), keops::Error);
  }
  // A failure of the run itself on one rank: no i argument, and no Options::nx there.
  {
    Options o;
    o.nx = rank() == last ? -1 : 4;
    const Genred g("Exp(-SqNorm2(y)) * b", {"y = Vj(3)", "b = Vj(2)"}, "Sum", 1, o);
    const std::vector<float> y = values<float>(3 * kM, 81), b = values<float>(2 * kM, 82);
    const auto j = shard(kM);
    std::vector<float> out(8);
    const std::vector<View<const float>> args = {{y.data() + 3 * j[0], j[1] - j[0], 3},
                                                 {b.data() + 2 * j[0], j[1] - j[0], 2}};
    for (auto scheme : {keops::mpi::Scheme::AllGather, keops::mpi::Scheme::Pipeline})
      CHECK_THROWS_WITH_AS(
          keops::mpi::run(g, MPI_COMM_WORLD, args, {out.data(), 4, 2}, {}, {scheme, nullptr}),
          contains(who + ": Genred: the formula has no i argument, so its size must be given in "
                         "Options::nx"),
          keops::Error);
    // With nx everywhere: every rank's 4 rows are the sum over every rank's j.
    const Genred everywhere = g.with_options([] {
      Options all;
      all.nx = 4;
      return all;
    }());
    keops::mpi::run(everywhere, MPI_COMM_WORLD, args, {out.data(), 4, 2});
    const Result<float> whole = everywhere({{y.data(), kM, 3}, {b.data(), kM, 2}});
    CHECK(std::vector<float>(out.begin(), out.end()) == whole.values);
  }
  if (ranks() == 1) return;
  // Mismatches between ranks: formula, parameters, array type.
  {
    const Genred g = rank() == last ? make(kCases[1], 1) : make(kCases[0], 1);
    Arrays<float> a(g, 91);
    CHECK_THROWS_WITH_AS(keops::mpi::reduce(g, MPI_COMM_WORLD, a.mine),
                         contains(who + "'s formula differs from rank 0's"), keops::Error);
  }
  {
    // Another dim of y on the last rank: its arguments differ (and so its formula's text).
    std::vector<std::string> aliases = kAliases;
    if (rank() == last) aliases[1] = "y = Vj(4)";
    const Genred g("Exp(-s * SqNorm2(y)) * (a - b)", aliases, "Sum", 1);
    Arrays<float> a(g, 95);
    CHECK_THROWS_WITH_AS(keops::mpi::reduce(g, MPI_COMM_WORLD, a.mine),
                         contains(who + "'s formula differs from rank 0's"), keops::Error);
  }
  {
    const Genred g = make(kCases[0], 1);
    Arrays<float> a(g, 101);
    if (rank() == last) a.whole[4][0] = 2.5f;
    CHECK_THROWS_WITH_AS(keops::mpi::reduce(g, MPI_COMM_WORLD, a.mine),
                         contains(who + "'s parameter s differs from rank 0's"), keops::Error);
  }
  {
    const Genred g = make(kCases[0], 1);
    Arrays<float> a(g, 105);
    const auto scheme = rank() == last ? keops::mpi::Scheme::Pipeline : keops::mpi::Scheme::Auto;
    CHECK_THROWS_WITH_AS(keops::mpi::reduce(g, MPI_COMM_WORLD, a.mine, {scheme, nullptr}),
                         contains(who + "'s scheme differs from rank 0's: '2' against '0'"),
                         keops::Error);
  }
  {
    const Genred g = make(kCases[0], 1);
    Arrays<float> f(g, 111);
    Arrays<double> d(g, 111);
    auto call = [&] {
      return rank() == last ? keops::mpi::reduce(g, MPI_COMM_WORLD, d.mine).rows
                            : keops::mpi::reduce(g, MPI_COMM_WORLD, f.mine).rows;
    };
    CHECK_THROWS_WITH_AS(call(),
                         contains(who + "'s array type differs from rank 0's: "
                                        "'float64' against 'float32'"),
                         keops::Error);
  }
}
