// Block-sparse reductions (Options::ranges) on the CPU and the GPU, against dense runs and loops.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <keops/keops.h>
#include <keops/ranges.h>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/frontend/aliases.h"
#include "compiler/frontend/parser.h"
#include "compiler/ir/context.h"
#include "compiler/jit/ptx.h"
#include "tests/support/backends.h"
#include "tests/support/ptxas.h"
#include "tests/support/scratch.h"

using keops::Backend;
using keops::Error;
using keops::Genred;
using keops::Options;
using keops::Ranges;
using keops::RowRange;
using keops::View;

namespace {

const std::vector<std::string> kAliases = {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"};
const char* kGauss = "Exp(-SqDist(x, y)) * b";
const double kInf = std::numeric_limits<double>::infinity();

template <class T>
std::vector<T> uniform(int64_t n, uint64_t seed, double lo = 0, double hi = 1) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<T> v(static_cast<size_t>(n));
  for (T& t : v) t = T(u(rng));
  return v;
}

// Points in the unit cube around a few centres: data that clusters.
template <class T>
std::vector<T> blobs(int64_t n, int centres, double spread, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> g(0, spread);
  std::vector<double> c(size_t(centres) * 3);
  for (double& v : c) v = u(rng);
  std::vector<T> p(size_t(n) * 3);
  for (int64_t r = 0; r < n; ++r) {
    const size_t k = size_t(rng() % uint64_t(centres));
    for (int d = 0; d < 3; ++d) p[size_t(r * 3 + d)] = T(c[k * 3 + size_t(d)] + g(rng));
  }
  return p;
}

// The problem: x (nx x 3), y (ny x 3), b (ny x 1).
template <class T>
struct Data {
  int64_t nx, ny;
  std::vector<T> x, y, b;
  Data(int64_t nx_, int64_t ny_, uint64_t seed)
      : nx(nx_),
        ny(ny_),
        x(uniform<T>(nx_ * 3, seed)),
        y(uniform<T>(ny_ * 3, seed + 1)),
        b(uniform<T>(ny_, seed + 2, 0.5, 1.5)) {}
  std::vector<View<const T>> views() const {
    return {{x.data(), nx, 3}, {y.data(), ny, 3}, {b.data(), ny, 1}};
  }
  double sqdist(int64_t i, int64_t j) const {
    double s = 0;
    for (int d = 0; d < 3; ++d) {
      const double t = double(x[size_t(i * 3 + d)]) - double(y[size_t(j * 3 + d)]);
      s += t * t;
    }
    return s;
  }
};

// For each output row of `axis`, the reduced rows its cluster's ranges visit (none for a
// row in no cluster), read by hand from the triple of the axis.
std::vector<std::vector<int64_t>> visited(const Ranges& r, int axis, int64_t out_rows) {
  const auto& clusters = axis == 1 ? r.ranges_i : r.ranges_j;
  const auto& slices = axis == 1 ? r.slices_i : r.slices_j;
  const auto& reduced = axis == 1 ? r.redranges_j : r.redranges_i;
  std::vector<std::vector<int64_t>> rows(static_cast<size_t>(out_rows));
  for (size_t c = 0; c < clusters.size(); ++c)
    for (int64_t o = clusters[c][0]; o < clusters[c][1]; ++o)
      for (int64_t s = c == 0 ? 0 : slices[c - 1]; s < slices[c]; ++s)
        for (int64_t k = reduced[size_t(s)][0]; k < reduced[size_t(s)][1]; ++k)
          rows[size_t(o)].push_back(k);
  for (auto& list : rows) std::sort(list.begin(), list.end());
  return rows;
}

Options on(Backend backend, std::optional<Ranges> ranges = std::nullopt, int k = 0) {
  Options o;
  o.backend = backend;
  o.ranges = std::move(ranges);
  o.k = k;
  return o;
}

// Random clusters of [0, n): chunks of 1 to max_len rows, some left out when `holes`.
std::vector<RowRange> random_clusters(int64_t n, int64_t max_len, bool holes,
                                      std::mt19937_64& rng) {
  std::vector<RowRange> out;
  for (int64_t start = 0; start < n;) {
    const int64_t end = std::min(n, start + 1 + int64_t(rng() % uint64_t(max_len)));
    if (!holes || rng() % 5 != 0) out.push_back({start, end});
    start = end;
  }
  std::shuffle(out.begin(), out.end(), rng);  // clusters may come in any order
  return out;
}

// A random block pattern of about `density` over random clusters of both axes.
Ranges random_pattern(int64_t nx, int64_t ny, double density, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const auto ci = random_clusters(nx, 70, true, rng), cj = random_clusters(ny, 90, true, rng);
  std::bernoulli_distribution keep_one(density);
  std::vector<bool> keep(ci.size() * cj.size());
  for (size_t k = 0; k < keep.size(); ++k) keep[k] = keep_one(rng);
  return keops::from_matrix(ci, cj, keep);
}

// Checks a Genred of `reduction` on d under ranges against loops over the visited pairs.
template <class T>
void check_against_loops(const Data<T>& d, const Ranges& ranges, Backend backend, int axis) {
  const int64_t out_rows = axis == 1 ? d.nx : d.ny;
  const auto rows = visited(ranges, axis, out_rows);
  const double tol = sizeof(T) == 4 ? 2e-5 : 1e-12;
  auto dist = [&](int64_t o, int64_t k) {  // SqDist at output row o, reduced row k
    return axis == 1 ? d.sqdist(o, k) : d.sqdist(k, o);
  };
  CAPTURE(axis);
  {
    const auto r = Genred(kGauss, kAliases, "Sum", axis, on(backend, ranges))(d.views());
    for (int64_t o = 0; o < out_rows; ++o) {
      double ref = 0, scale = 0;
      for (int64_t k : rows[size_t(o)]) {
        const double term = std::exp(-dist(o, k)) * double(d.b[size_t(axis == 1 ? k : o)]);
        ref += term;
        scale += std::fabs(term);
      }
      CAPTURE(o);
      CHECK(std::fabs(double(r.values[size_t(o)]) - ref) <= tol * std::max(scale, 1e-30));
    }
  }
  {
    const auto r =
        Genred("-SqDist(x, y)", kAliases, "LogSumExp", axis, on(backend, ranges))(d.views());
    for (int64_t o = 0; o < out_rows; ++o) {
      double m = -kInf, s = 0;
      for (int64_t k : rows[size_t(o)]) m = std::max(m, -dist(o, k));
      for (int64_t k : rows[size_t(o)]) s += std::exp(-dist(o, k) - m);
      const double ref = rows[size_t(o)].empty() ? -kInf : m + std::log(s);
      CAPTURE(o);
      if (std::isinf(ref))
        CHECK(double(r.values[size_t(o)]) == ref);
      else
        CHECK(double(r.values[size_t(o)]) == doctest::Approx(ref).epsilon(tol * 10));
    }
  }
  {
    constexpr int K = 3;
    const auto r =
        Genred("SqDist(x, y)", kAliases, "KMin_ArgKMin", axis, on(backend, ranges, K))(d.views());
    for (int64_t o = 0; o < out_rows; ++o) {
      std::vector<std::pair<double, int64_t>> terms;
      for (int64_t k : rows[size_t(o)]) terms.push_back({dist(o, k), k});
      std::sort(terms.begin(), terms.end());
      CAPTURE(o);
      for (int s = 0; s < K; ++s) {
        const int64_t index = r.indices[size_t(o * K + s)];
        const double value = double(r.values[size_t(o * K + s)]);
        if (size_t(s) >= terms.size()) {  // fewer terms than K: the identity's slots
          CHECK(index == -1);
          CHECK(value == kInf);
          continue;
        }
        CHECK(value == doctest::Approx(terms[size_t(s)].first).epsilon(tol * 10));
        // The kept index, or one at a tie of the float32 values.
        CHECK(std::binary_search(rows[size_t(o)].begin(), rows[size_t(o)].end(), index));
        if (index != terms[size_t(s)].second)
          CHECK(dist(o, index) == doctest::Approx(terms[size_t(s)].first).epsilon(tol * 10));
      }
    }
  }
}

// Every block kept: the dense result, Min and ArgKMin to the bit, Sum within rounding.
template <class T>
void check_all_kept(Backend backend) {
  const Data<T> d(600, 700, 7);
  std::mt19937_64 rng(3);
  const auto ci = random_clusters(d.nx, 50, false, rng), cj = random_clusters(d.ny, 80, false, rng);
  const Ranges all = keops::from_matrix(ci, cj, std::vector<bool>(ci.size() * cj.size(), true));
  for (int axis : {0, 1}) {
    CAPTURE(axis);
    const int64_t out_rows = axis == 1 ? d.nx : d.ny;
    for (const char* red : {"Min", "ArgKMin"}) {
      const int k = std::string(red) == "ArgKMin" ? 4 : 0;
      const auto dense = Genred("SqDist(x, y)", kAliases, red, axis, on(backend, {}, k))(d.views());
      const auto sparse =
          Genred("SqDist(x, y)", kAliases, red, axis, on(backend, all, k))(d.views());
      CHECK(sparse.values == dense.values);
      CHECK(sparse.indices == dense.indices);
    }
    const auto dense = Genred(kGauss, kAliases, "Sum", axis, on(backend))(d.views());
    const auto sparse = Genred(kGauss, kAliases, "Sum", axis, on(backend, all))(d.views());
    for (int64_t o = 0; o < out_rows; ++o)
      CHECK(sparse.values[size_t(o)] ==
            doctest::Approx(dense.values[size_t(o)]).epsilon(sizeof(T) == 4 ? 1e-5 : 1e-13));
  }
}

// Gradients: each stage runs with the triple of its axis (the swapped one for y and b).
void check_gradients(Backend backend) {
  const Data<double> d(300, 400, 11);
  const Ranges r = random_pattern(d.nx, d.ny, 0.4, 5);
  const auto by_i = visited(r, 1, d.nx);
  const std::vector<double> e = uniform<double>(d.nx, 13, -1, 1);
  auto args = d.views();
  args.push_back({e.data(), d.nx, 1});
  const Genred sum(kGauss, kAliases, "Sum", 1, on(backend, r));
  const Genred lse("-SqDist(x, y)", kAliases, "LogSumExp", 1, on(backend, r));
  std::vector<double> gx(size_t(d.nx * 3)), gy(size_t(d.ny * 3)), gb(size_t(d.ny));
  std::vector<double> lgy(size_t(d.ny * 3));
  for (int64_t i = 0; i < d.nx; ++i) {
    double m = -kInf, s = 0;
    for (int64_t j : by_i[size_t(i)]) m = std::max(m, -d.sqdist(i, j));
    for (int64_t j : by_i[size_t(i)]) s += std::exp(-d.sqdist(i, j) - m);
    for (int64_t j : by_i[size_t(i)]) {
      const double k = std::exp(-d.sqdist(i, j)), soft = std::exp(-d.sqdist(i, j) - m) / s;
      for (int c = 0; c < 3; ++c) {
        const double diff = d.x[size_t(i * 3 + c)] - d.y[size_t(j * 3 + c)];
        gx[size_t(i * 3 + c)] += -2 * diff * k * d.b[size_t(j)] * e[size_t(i)];
        gy[size_t(j * 3 + c)] += 2 * diff * k * d.b[size_t(j)] * e[size_t(i)];
        lgy[size_t(j * 3 + c)] += 2 * diff * soft * e[size_t(i)];
      }
      gb[size_t(j)] += k * e[size_t(i)];
    }
  }
  auto check = [](const std::vector<double>& got, const std::vector<double>& ref) {
    REQUIRE(got.size() == ref.size());
    for (size_t k = 0; k < ref.size(); ++k) CHECK(got[k] == doctest::Approx(ref[k]).epsilon(1e-10));
  };
  check(sum.grad("x")(args).values, gx);
  check(sum.grad("y")(args).values, gy);
  check(sum.grad("b")(args).values, gb);
  check(lse.grad("y")(args).values, lgy);  // a hidden LogSumExp over j, then a sum over i

  Ranges only_i = r;  // no triple for reductions over i: the gradient in y cannot run
  only_i.ranges_j.clear();
  only_i.slices_j.clear();
  only_i.redranges_i.clear();
  const Genred forward(kGauss, kAliases, "Sum", 1, on(backend, only_i));
  CHECK(forward(d.views()).values == sum(d.views()).values);
  CHECK_THROWS_WITH_AS(forward.grad("y")(args),
                       "Genred: Options::ranges: a reduction over i (axis 0) needs ranges_j, "
                       "slices_j and redranges_i, which are empty (keops::from_matrix gives both "
                       "axes' arrays)",
                       Error);
}

// Output rows in no cluster, or in a cluster without ranges, get the reduction's identity.
void check_identity(Backend backend) {
  const Data<float> d(40, 30, 17);
  Ranges r;
  r.ranges_i = {{5, 10}, {20, 25}};  // rows 0-4, 10-19 and 25-39 in no cluster
  r.slices_i = {1, 1};               // cluster 1 has no range
  r.redranges_j = {{0, 30}};
  const auto in_cluster = [](int64_t i) { return i >= 5 && i < 10; };
  const auto sum = Genred(kGauss, kAliases, "Sum", 1, on(backend, r))(d.views());
  const auto lse = Genred("-SqDist(x, y)", kAliases, "LogSumExp", 1, on(backend, r))(d.views());
  const auto min = Genred("SqDist(x, y)", kAliases, "Min_ArgMin", 1, on(backend, r))(d.views());
  const auto dense_min = Genred("SqDist(x, y)", kAliases, "Min_ArgMin", 1, on(backend))(d.views());
  const auto max = Genred("SqDist(x, y)", kAliases, "Max", 1, on(backend, r))(d.views());
  for (int64_t i = 0; i < d.nx; ++i) {
    CAPTURE(i);
    if (in_cluster(i)) {
      CHECK(sum.values[size_t(i)] > 0);
      CHECK(min.values[size_t(i)] == dense_min.values[size_t(i)]);
      CHECK(min.indices[size_t(i)] == dense_min.indices[size_t(i)]);
      continue;
    }
    CHECK(sum.values[size_t(i)] == 0.0f);
    CHECK(lse.values[size_t(i)] == -std::numeric_limits<float>::infinity());
    CHECK(min.values[size_t(i)] == std::numeric_limits<float>::infinity());
    CHECK(min.indices[size_t(i)] == -1);
    CHECK(max.values[size_t(i)] == -std::numeric_limits<float>::infinity());
  }
}

// Hand-made ranges: clusters out of order, a cluster's ranges out of order, empty and
// touching ranges; both axes checked against the loops.
Ranges hand_made() {
  Ranges r;
  r.ranges_i = {{100, 180}, {0, 37}, {37, 40}, {250, 300}};
  r.slices_i = {3, 6, 6, 8};
  r.redranges_j = {{200, 260}, {10, 10}, {5, 60}, {300, 330}, {330, 331}, {0, 5}, {0, 400}, {0, 0}};
  r.ranges_j = {{390, 400}, {0, 250}};
  r.slices_j = {2, 3};
  r.redranges_i = {{290, 300}, {0, 2}, {0, 300}};
  return r;
}

}  // namespace

TEST_CASE("ranges: every block kept is the dense reduction, both axes, float32 and float64") {
  check_all_kept<float>(Backend::CPU);
  check_all_kept<double>(Backend::CPU);
}

TEST_CASE("ranges: random block patterns match loops over the kept blocks, both axes") {
  for (uint64_t seed : {1, 2}) {
    CAPTURE(seed);
    const Data<float> f(700, 900, seed);
    const Data<double> d(500, 350, seed + 10);
    const Ranges rf = random_pattern(f.nx, f.ny, 0.3, seed);
    const Ranges rd = random_pattern(d.nx, d.ny, 0.3, seed + 20);
    for (int axis : {0, 1}) {
      check_against_loops(f, rf, Backend::CPU, axis);
      check_against_loops(d, rd, Backend::CPU, axis);
    }
  }
  const Data<float> f(300, 400, 3);
  for (int axis : {0, 1}) check_against_loops(f, hand_made(), Backend::CPU, axis);
}

TEST_CASE("ranges: results do not depend on the thread count") {
  const Data<float> d(2000, 1500, 4);
  const Ranges r = random_pattern(d.nx, d.ny, 0.2, 9);
  for (int axis : {0, 1}) {
    Options one = on(Backend::CPU, r), three = on(Backend::CPU, r);
    one.threads = 1;
    three.threads = 3;
    CHECK(Genred(kGauss, kAliases, "Sum", axis, one)(d.views()).values ==
          Genred(kGauss, kAliases, "Sum", axis, three)(d.views()).values);
  }
}

TEST_CASE("ranges: rows in no cluster get the reduction's identity") {
  check_identity(Backend::CPU);
}

TEST_CASE("ranges: gradients use the triple of their axis (the swapped one for j variables)") {
  check_gradients(Backend::CPU);
}

TEST_CASE("ranges: a truncated Gaussian on clustered points stays within 0.2% of dense") {
  const int64_t n = 6000;
  std::vector<float> x = blobs<float>(n, 12, 0.05, 21), y = blobs<float>(n, 12, 0.05, 22);
  const std::vector<float> b0 = uniform<float>(n, 23, 0.5, 1.5);
  // Blocks whose centroids are 5 sigma apart (less up to two voxel radii for their points).
  const float voxel = 0.1f, sigma = 0.05f, cutoff = 5 * sigma;
  auto xs = keops::sort_clusters(View<const float>{x.data(), n, 3},
                                 keops::grid_cluster(View<const float>{x.data(), n, 3}, voxel));
  auto ys = keops::sort_clusters(View<const float>{y.data(), n, 3},
                                 keops::grid_cluster(View<const float>{y.data(), n, 3}, voxel));
  const std::vector<float> b =
      keops::permute_rows(View<const float>{b0.data(), n, 1}, ys.permutation);
  const auto cx =
      keops::cluster_ranges_centroids(View<const float>{xs.points.data(), n, 3}, xs.labels);
  const auto cy =
      keops::cluster_ranges_centroids(View<const float>{ys.points.data(), n, 3}, ys.labels);
  const size_t mi = cx.ranges.size(), mj = cy.ranges.size();
  std::vector<bool> keep(mi * mj);
  double kept_pairs = 0;
  for (size_t k = 0; k < mi; ++k)
    for (size_t l = 0; l < mj; ++l) {
      double dist = 0;
      for (int c = 0; c < 3; ++c) {
        const double t = cx.centroids[k * 3 + size_t(c)] - cy.centroids[l * 3 + size_t(c)];
        dist += t * t;
      }
      keep[k * mj + l] = std::sqrt(dist) < cutoff;
      if (keep[k * mj + l]) kept_pairs += double(cx.weights[k]) * double(cy.weights[l]);
    }
  const double density = kept_pairs / double(n * n);
  MESSAGE("truncated Gaussian: " << mi << " x " << mj << " clusters, block density " << density);
  CHECK(density < 0.05);
  const std::vector<View<const float>> args = {
      {xs.points.data(), n, 3}, {ys.points.data(), n, 3}, {b.data(), n, 1}};
  const std::string formula =
      "Exp(-SqDist(x, y) * " + std::to_string(1 / (2 * sigma * sigma)) + ") * b";
  Options sparse = on(Backend::CPU, keops::from_matrix(cx.ranges, cy.ranges, keep));
  const auto dense_r = Genred(formula, kAliases, "Sum", 1, on(Backend::CPU))(args);
  const auto sparse_r = Genred(formula, kAliases, "Sum", 1, sparse)(args);
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < n; ++i) {
    diff += std::fabs(double(sparse_r.values[size_t(i)]) - double(dense_r.values[size_t(i)]));
    norm += std::fabs(double(dense_r.values[size_t(i)]));
  }
  MESSAGE("relative L1 error of the truncation: " << diff / norm);
  CHECK(diff / norm < 2e-3);
  CHECK(diff / norm > 1e-5);  // the blocks left out were left out
}

TEST_CASE("ranges: malformed ranges are errors that name the array and the entry") {
  const Data<float> d(100, 50, 1);
  auto fails = [&](const Ranges& r, const std::string& message, int axis = 1) {
    CAPTURE(message);
    CHECK_THROWS_WITH_AS(Genred(kGauss, kAliases, "Sum", axis, on(Backend::CPU, r))(d.views()),
                         ("Genred: Options::ranges: " + message).c_str(), Error);
  };
  Ranges ok;
  ok.ranges_i = {{0, 60}, {60, 100}};
  ok.slices_i = {1, 3};
  ok.redranges_j = {{0, 20}, {10, 20}, {30, 50}};
  CHECK_NOTHROW(Genred(kGauss, kAliases, "Sum", 1, on(Backend::CPU, ok))(d.views()));

  Ranges r = ok;
  r.ranges_i[1] = {70, 60};
  fails(r, "ranges_i[1] = [70, 60) has start > end");
  r = ok;
  r.ranges_i[1] = {60, 101};
  fails(r, "ranges_i[1] = [60, 101) is out of bounds: nx = 100");
  r = ok;
  r.ranges_i[0] = {-1, 60};
  fails(r, "ranges_i[0] = [-1, 60) is out of bounds: nx = 100");
  r = ok;
  r.redranges_j[2] = {30, 51};
  fails(r, "redranges_j[2] = [30, 51) is out of bounds: ny = 50");
  r = ok;
  r.slices_i = {3};
  fails(r, "slices_i has 1 entries, but ranges_i has 2 clusters (one entry each)");
  r = ok;
  r.slices_i = {2, 1};
  fails(r, "slices_i[1] = 1 is less than slices_i[0] = 2: slices must not decrease");
  r = ok;
  r.slices_i = {-1, 3};
  fails(r, "slices_i[0] = -1 is less than 0: slices must not decrease");
  r = ok;
  r.slices_i = {1, 2};
  fails(r, "slices_i ends at 2, but redranges_j has 3 ranges: the last slice must be their count");
  r = ok;
  r.ranges_i = {{0, 60}, {50, 100}};
  fails(r, "ranges_i[1] = [50, 100) overlaps ranges_i[0] = [0, 60): clusters must be disjoint");
  r = ok;
  r.redranges_j = {{0, 20}, {30, 50}, {10, 31}};
  fails(r,
        "redranges_j[2] = [10, 31) overlaps redranges_j[1] = [30, 50), both ranges of "
        "ranges_i[1]: a cluster's ranges must be disjoint");
  // The other axis's triple is checked too, against the other sizes.
  r = ok;
  r.ranges_j = {{0, 50}};
  r.slices_j = {1};
  r.redranges_i = {{90, 120}};
  fails(r, "redranges_i[0] = [90, 120) is out of bounds: nx = 100");
  fails(ok,
        "a reduction over i (axis 0) needs ranges_j, slices_j and redranges_i, which are empty "
        "(keops::from_matrix gives both axes' arrays)",
        0);
}

TEST_CASE("ranges on the GPU: block-sparse PTX assembles, the dense kernel keeps its signature") {
  keops::ir::Context ctx;
  const auto aliases = keops::frontend::AliasTable::parse(kAliases);
  keops::codegen::KernelSpec spec;
  spec.formula = keops::frontend::parse_formula(kGauss, aliases, ctx, keops::ir::DType::F32);
  spec.reduction.kind = keops::ir::ReductionKind::Sum;
  spec.args = {{3, keops::ir::CatI}, {3, keops::ir::CatJ}, {1, keops::ir::CatJ}};
  spec.target = keops::codegen::GpuTarget{90};
  const std::string dense = keops::jit::gpu_kernel_ptx(spec);
  spec.gpu().scheme = keops::codegen::GpuScheme::BlockSparse;
  const std::string sparse = keops::jit::gpu_kernel_ptx(spec);
  auto params = [](const std::string& ptx) {
    const size_t open = ptx.find(".entry"), close = ptx.find(')', open);
    const std::string list = ptx.substr(open, close - open);
    return std::count(list.begin(), list.end(), ',') + 1;
  };
  CHECK(params(dense) == 5);
  CHECK(params(sparse) == 7);
  CHECK(dense != sparse);
  const std::string ptxas = keops::test::find_ptxas();
  if (ptxas.empty()) {
    MESSAGE("ptxas not found: block-sparse PTX not assembled");
    return;
  }
  CHECK(keops::test::assemble_ptx(ptxas, sparse, 90) == "");
}

TEST_CASE("ranges on the GPU: the CPU's checks, in float32 and float64") {
  if (!keops::test::gpu_usable()) return;
  check_all_kept<float>(Backend::GPU);
  check_all_kept<double>(Backend::GPU);
  for (int axis : {0, 1}) {
    const Data<float> f(3000, 2500, 31);  // clusters of up to 70 rows: blocks partly full
    check_against_loops(f, random_pattern(f.nx, f.ny, 0.3, 7), Backend::GPU, axis);
    const Data<double> d(700, 600, 32);
    check_against_loops(d, random_pattern(d.nx, d.ny, 0.3, 8), Backend::GPU, axis);
    check_against_loops(Data<float>(300, 400, 3), hand_made(), Backend::GPU, axis);
  }
  check_identity(Backend::GPU);
  check_gradients(Backend::GPU);
}
