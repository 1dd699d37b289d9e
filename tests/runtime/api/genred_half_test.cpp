// Genred on float16 and bfloat16 arrays: every reduction, both axes, gradients (one kernel and
// several), batch dims, block-sparse ranges and the errors, against float64 runs on the same
// values; on the CPU and, where one is usable, on the GPU.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <keops/keops.h>

#include "tests/support/backends.h"
#include "tests/support/rounded_once.h"

namespace {

using keops::Backend;
using keops::bfloat16;
using keops::Error;
using keops::Genred;
using keops::half;
using keops::Options;
using keops::View;

// Random values of H (normal, scale 0.7), and their exact widening to double.
template <class H>
struct Array {
  std::vector<H> stored;
  std::vector<double> wide;
  int64_t rows, cols;
  Array(int64_t r, int64_t c, std::mt19937& rng) : rows(r), cols(c) {
    std::normal_distribution<float> normal(0.0f, 0.7f);
    for (int64_t q = 0; q < r * c; ++q) {
      stored.push_back(H(normal(rng)));
      wide.push_back(double(float(stored.back())));
    }
  }
  View<const H> view() const { return {stored.data(), rows, cols}; }
  View<const double> wide_view() const { return {wide.data(), rows, cols}; }
};

struct Case {
  const char* formula;
  const char* reduction;
  int k = 0;
  const char* formula2 = "";
};

const Case kReductions[] = {
    {"Exp(-SqDist(x, y)) * v", "Sum"},
    {"(x | y) + b", "LogSumExp"},
    {"(x | y)", "SumSoftMaxWeight", 0, "v"},
    {"SqDist(x, y)", "Min"},
    {"SqDist(x, y)", "Max"},
    {"SqDist(x, y)", "Min_ArgMin"},
    {"Abs(x - y) + b", "Max_ArgMax"},
    {"SqDist(x, y)", "KMin", 4},
    {"SqDist(x, y)", "KMin_ArgKMin", 3},
    {"(x | y) + b", "Max_SumShiftExp"},
};

// Checks the values of `g` on 16-bit arrays against g on their float64 widenings (indices:
// the ArgKMin test below; 16-bit data make ties).
template <class H>
void check_reduction(const Genred& g, const std::vector<Array<H>>& arrays) {
  std::vector<View<const H>> views;
  std::vector<View<const double>> wide;
  for (const auto& a : arrays) {
    views.push_back(a.view());
    wide.push_back(a.wide_view());
  }
  const keops::Result<H> r = g(views);
  const keops::Result<double> w = g(wide);
  CHECK(r.rows == w.rows);
  CHECK(r.cols == w.cols);
  CHECK(r.index_cols == w.index_cols);
  keops::test::check_rounded_once(r.values, w.values);
}

template <class H>
void every_reduction(Backend backend) {
  std::mt19937 rng(17);
  const int64_t nx = 61, ny = 45;  // ragged: not multiples of lanes or tiles
  for (int axis : {1, 0})
    for (const Case& c : kReductions) {
      CAPTURE(c.reduction);
      CAPTURE(axis);
      Options o;
      o.backend = backend;
      o.k = c.k;
      o.formula2 = c.formula2;
      const Genred g(c.formula, {"x = Vi(5)", "y = Vj(5)", "b = Vj(1)", "v = Vj(3)"}, c.reduction,
                     axis, o);
      check_reduction<H>(g, {Array<H>(nx, 5, rng), Array<H>(ny, 5, rng), Array<H>(ny, 1, rng),
                             Array<H>(ny, 3, rng)});
    }
}

template <class H>
void gradients(Backend backend) {
  std::mt19937 rng(23);
  const int64_t nx = 40, ny = 33;
  Options o;
  o.backend = backend;
  const std::vector<std::string> aliases = {"x = Vi(3)", "y = Vj(3)", "b = Vj(2)", "p = Pm(1)"};
  const Genred gauss("Exp(-p * SqDist(x, y)) * b", aliases, "Sum", 1, o);
  const Genred lse("(x | y) * p", aliases, "LogSumExp", 1, o);
  Options k_o = o;
  k_o.k = 2;
  const Genred kmin("SqDist(x, y) * p", aliases, "KMin", 1, k_o);
  struct Grad {
    const Genred& g;
    const char* var;
    int64_t e_cols;
  };
  // One kernel (w.r.t. x), a parameter's (rows summed), several kernels (LogSumExp w.r.t.
  // y), and a selection's (picked pairs).
  for (const Grad& d : {Grad{gauss, "x", 2}, Grad{gauss, "p", 2}, Grad{lse, "y", 1},
                        Grad{lse, "p", 1}, Grad{kmin, "x", 2}}) {
    CAPTURE(d.var);
    CAPTURE(d.g.formula());
    std::vector<Array<H>> arrays{Array<H>(nx, 3, rng), Array<H>(ny, 3, rng), Array<H>(ny, 2, rng),
                                 Array<H>(1, 1, rng), Array<H>(nx, d.e_cols, rng)};
    check_reduction<H>(d.g.grad(d.var), arrays);
  }
}

}  // namespace

TEST_CASE("every reduction on float16 arrays is its float64 result rounded once") {
  keops::test::for_each_backend(every_reduction<half>);
}

TEST_CASE("every reduction on bfloat16 arrays is its float64 result rounded once") {
  keops::test::for_each_backend(every_reduction<bfloat16>);
}

TEST_CASE("gradients of 16-bit reductions, of one kernel or several, are rounded once") {
  keops::test::for_each_backend([](Backend b) {
    gradients<half>(b);
    gradients<bfloat16>(b);
  });
}

TEST_CASE("16-bit indices pick values as good as float64's, and index-only reductions run") {
  keops::test::for_each_backend([](Backend backend) {
    std::mt19937 rng(29);
    Options o;
    o.backend = backend;
    o.k = 3;
    const Genred g("SqDist(x, y)", {"x = Vi(4)", "y = Vj(4)"}, "ArgKMin", 1, o);
    const Array<half> x(50, 4, rng), y(70, 4, rng);
    const keops::Result<half> r = g({x.view(), y.view()});
    REQUIRE(r.cols == 0);
    REQUIRE(r.index_cols == 3);
    // The k-th smallest float64 distance of each row equals the distance at its k-th index
    // (16-bit data make ties, so indices alone may differ from float64's).
    int wrong = 0;
    for (int64_t i = 0; i < 50; ++i) {
      std::vector<double> d;
      for (int64_t j = 0; j < 70; ++j) {
        double s = 0;
        for (int c = 0; c < 4; ++c) {
          const double t = x.wide[size_t(i * 4 + c)] - y.wide[size_t(j * 4 + c)];
          s += t * t;
        }
        d.push_back(s);
      }
      std::vector<double> sorted = d;
      std::sort(sorted.begin(), sorted.end());
      for (int k = 0; k < 3; ++k)
        wrong += std::fabs(d[size_t(r.indices[size_t(i * 3 + k)])] - sorted[size_t(k)]) >
                 1e-6 * (1 + sorted[size_t(k)]);
    }
    CHECK(wrong == 0);
  });
}

TEST_CASE("16-bit arrays with batch dims, block-sparse ranges, and float16 overflow") {
  keops::test::for_each_backend([](Backend backend) {
    std::mt19937 rng(31);
    Options o;
    o.backend = backend;
    const Genred g("Exp(-SqDist(x, y)) * b", {"x = Vi(2)", "y = Vj(2)", "b = Vj(1)"}, "Sum", 1, o);
    // Batch dims (2): one run per element, pointers offset in 16-bit elements.
    const Array<bfloat16> x(2 * 9, 2, rng), y(2 * 7, 2, rng), b(2 * 7, 1, rng);
    auto batched = [](const auto& a, int64_t rows) {
      auto v = a.view();
      v.rows = rows;
      v.batch = {1, {2}};
      return v;
    };
    auto wide_batched = [](const auto& a, int64_t rows) {
      auto v = a.wide_view();
      v.rows = rows;
      v.batch = {1, {2}};
      return v;
    };
    const keops::Result<bfloat16> r = g({batched(x, 9), batched(y, 7), batched(b, 7)});
    const keops::Result<double> w = g({wide_batched(x, 9), wide_batched(y, 7), wide_batched(b, 7)});
    keops::test::check_rounded_once(r.values, w.values);
    // Block-sparse ranges: rows 0-4 meet j 0-2, rows 5-8 meet j 3-6.
    keops::Ranges ranges;
    ranges.ranges_i = {{0, 5}, {5, 9}};
    ranges.slices_i = {1, 2};
    ranges.redranges_j = {{0, 3}, {3, 7}};
    ranges.ranges_j = {{0, 3}, {3, 7}};
    ranges.slices_j = {1, 2};
    ranges.redranges_i = {{0, 5}, {5, 9}};
    Options sparse = o;
    sparse.ranges = ranges;
    const Genred s = g.with_options(sparse);
    const Array<half> hx(9, 2, rng), hy(7, 2, rng), hb(7, 1, rng);
    keops::test::check_rounded_once(s({hx.view(), hy.view(), hb.view()}).values,
                                    s({hx.wide_view(), hy.wide_view(), hb.wide_view()}).values);
    // A float16 sum past 65504 is infinite; bfloat16 holds it.
    const Genred total("b", {"b = Vj(1)"}, "Sum", 1, [&] {
      Options n = o;
      n.nx = 1;
      return n;
    }());
    const std::vector<half> big(3, half(30000.0f));
    CHECK(std::isinf(float(total({View<const half>{big.data(), 3, 1}}).values[0])));
    const std::vector<bfloat16> big_bf(3, bfloat16(30000.0f));
    CHECK(float(total({View<const bfloat16>{big_bf.data(), 3, 1}}).values[0]) ==
          float(bfloat16(3 * float(big_bf[0]))));
  });
}

TEST_CASE("16-bit calls check their arrays as float32 calls do") {
  const Genred g("SqDist(x, y)", {"x = Vi(3)", "y = Vj(3)"}, "Min", 1);
  const std::vector<half> x(6), y(6);
  CHECK_THROWS_WITH_AS(g({View<const half>{x.data(), 2, 2}, View<const half>{y.data(), 2, 3}}),
                       "Genred: argument 0 (x) has 2 cols, but its dim is 3", Error);
  std::vector<half> out(3);
  CHECK_THROWS_WITH_AS(g.run({View<const half>{x.data(), 2, 3}, View<const half>{y.data(), 2, 3}},
                             View<half>{out.data(), 3, 1}),
                       "Genred::run: values is 3 x 1, expected 2 x 1", Error);
}
