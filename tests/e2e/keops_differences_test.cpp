// Where KeOps 2.3 is wrong and we differ (docs/KEOPS_PARITY.md): each result against an
// independent computation written here.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <keops/keops.h>

using keops::Genred;

namespace {

// One j row: the formulas below have no j argument.
keops::Options one_j() {
  keops::Options o;
  o.ny = 1;
  return o;
}

// Soft-DTW of two series under the squared difference: r(i, j) = (x_i - y_j)^2 plus the
// soft minimum (-gamma log sum exp(-r/gamma)) of the existing neighbours among r(i-1, j-1),
// r(i-1, j), r(i, j-1); the first row and column have one neighbour, a plain sum.
long double soft_dtw(const double* x, int n, const double* y, int m, double gamma) {
  std::vector<std::vector<long double>> r(size_t(n), std::vector<long double>(size_t(m), 0));
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < m; ++j) {
      const long double d = (long double)(x[i]) - y[j];
      std::vector<long double> before;
      if (i > 0) before.push_back(r[size_t(i - 1)][size_t(j)]);
      if (j > 0) before.push_back(r[size_t(i)][size_t(j - 1)]);
      if (i > 0 && j > 0) before.push_back(r[size_t(i - 1)][size_t(j - 1)]);
      long double soft_min = 0;
      if (before.size() == 1) soft_min = before[0];
      if (before.size() == 3) {
        long double sum = 0;
        for (long double v : before) sum += std::exp(-v / gamma);
        soft_min = -gamma * std::log(sum);
      }
      r[size_t(i)][size_t(j)] = d * d + soft_min;
    }
  return r[size_t(n - 1)][size_t(m - 1)];
}

// The B-spline basis function B_{i,k} at x (Cox-de Boor), 0/0 spans giving 0.
long double bspline(const std::vector<double>& t, int i, int k, double x) {
  if (k == 0) return t[size_t(i)] <= x && x < t[size_t(i + 1)] ? 1 : 0;
  auto w = [&](int j) -> long double {
    const long double span = (long double)(t[size_t(j + k)]) - t[size_t(j)];
    return span > 0 ? (x - (long double)(t[size_t(j)])) / span : 0;
  };
  return w(i) * bspline(t, i, k - 1, x) + (1 - w(i + 1)) * bspline(t, i + 1, k - 1, x);
}

}  // namespace

TEST_CASE("keops differences: SoftDTW_SqDist is the soft-DTW recursion") {
  // One pair: KeOps 2.3's CPU code gives -0.93584084; the recursion gives -0.7109625859...
  const std::vector<double> x1 = {0.1, 0.5, 0.9}, y1 = {0.2, 0.4, 0.6, 0.8}, g = {0.3};
  const std::vector<std::string> aliases = {"x = Vi(3)", "y = Vj(4)", "g = Pm(1)"};
  const Genred op("SoftDTW_SqDist(x, y, g)", aliases, "Sum", 1);
  const auto one = op({{x1.data(), 1, 3}, {y1.data(), 1, 4}, {g.data(), 1, 1}});
  CHECK(one.values[0] == doctest::Approx(-0.7109625859633455).epsilon(1e-15));
  // Many rows: each output row sums its own pairs.
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> x(9 * 3), y(7 * 4);
  for (double& v : x) v = u(rng);
  for (double& v : y) v = u(rng);
  const auto many = op({{x.data(), 9, 3}, {y.data(), 7, 4}, {g.data(), 1, 1}});
  for (int i = 0; i < 9; ++i) {
    long double want = 0;
    for (int j = 0; j < 7; ++j) want += soft_dtw(&x[size_t(3 * i)], 3, &y[size_t(4 * j)], 4, g[0]);
    CHECK(many.values[size_t(i)] == doctest::Approx(double(want)).epsilon(1e-14));
  }
}

TEST_CASE("SoftDTW_SqDist of long series: loops over the table, the recursion's values") {
  // Tables of more than 64 cells are computed by loops (18 s to compile 32 x 32 unrolled).
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  const std::vector<double> g = {0.2};
  struct Table {
    int n, m;
    const char* y_cat;
  };
  for (const Table& table : {Table{13, 11, "Vj"}, {32, 32, "Vj"}, {40, 5, "Pm"}}) {
    const int n = table.n, m = table.m;
    const char* y_cat = table.y_cat;
    CAPTURE(n);
    CAPTURE(m);
    const int64_t rows = 9, cols = std::string(y_cat) == "Pm" ? 1 : 7;
    std::vector<double> x(size_t(rows * n)), y(size_t(cols * m));
    for (double& v : x) v = u(rng);
    for (double& v : y) v = u(rng);
    const std::vector<std::string> aliases = {
        "x = Vi(" + std::to_string(n) + ")",
        "y = " + std::string(y_cat) + "(" + std::to_string(m) + ")", "g = Pm(1)"};
    keops::Options o;
    o.ny = 7;
    const Genred op("SoftDTW_SqDist(x, y, g)", aliases, "Sum", 1, o);
    const auto got = op({{x.data(), rows, n}, {y.data(), cols, m}, {g.data(), 1, 1}});
    const std::vector<float> xf(x.begin(), x.end()), yf(y.begin(), y.end()), gf(g.begin(), g.end());
    const auto got32 = op({{xf.data(), rows, n}, {yf.data(), cols, m}, {gf.data(), 1, 1}});
    for (int64_t i = 0; i < rows; ++i) {
      long double want = 0;
      for (int64_t j = 0; j < 7; ++j)
        want += soft_dtw(&x[size_t(n * i)], n, &y[size_t(m * (cols == 1 ? 0 : j))], m, g[0]);
      CHECK(got.values[size_t(i)] == doctest::Approx(double(want)).epsilon(1e-12));
      CHECK(got32.values[size_t(i)] == doctest::Approx(double(want)).epsilon(1e-5));
    }
  }
}

// d/dx_k (k < n), d/dy_k (k >= n) or d/dgamma (k = n + m) of the reference, by central
// differences.
double soft_dtw_slope(std::vector<double> x, std::vector<double> y, double gamma, size_t k) {
  const double h = 1e-5;
  const size_t n = x.size(), m = y.size();
  double& v = k < n ? x[k] : k < n + m ? y[k - n] : gamma;
  const double at = v;
  v = at + h;
  const long double up = soft_dtw(x.data(), int(n), y.data(), int(m), gamma);
  v = at - h;
  const long double down = soft_dtw(x.data(), int(n), y.data(), int(m), gamma);
  return double((up - down) / (2 * h));
}

TEST_CASE("SoftDTW_SqDist's gradient of long series: loops, the recursion's slopes") {
  // Over 64 cells the derivative is SoftDTW_SqDist_Grad, the recursion run backwards by loops
  // (the unrolled derivative of 16 x 16 cells took 3.3 s to compile, 32 x 32 was refused).
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  const int n = 12, m = 9;
  const std::vector<std::string> aliases = {"x = Vi(12)", "y = Vj(9)", "g = Pm(1)"};
  std::vector<double> x(2 * n), y(3 * m), g = {0.3}, e = {1.5, -0.5};
  for (double& v : x) v = u(rng);
  for (double& v : y) v = u(rng);
  const Genred op("SoftDTW_SqDist(x, y, g)", aliases, "Sum", 1);
  const std::vector<keops::View<const double>> args = {
      {x.data(), 2, n}, {y.data(), 3, m}, {g.data(), 1, 1}, {e.data(), 2, 1}};
  const auto dx = op.grad("x")(args), dy = op.grad("y")(args), dg = op.grad("g")(args);
  CHECK(op.grad("x").formula().find("SoftDTW_SqDist_Grad") != std::string::npos);
  // Each against the slopes of the reference, summed over the pairs with their weights e_i.
  double want_g = 0;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      const std::vector<double> xi(x.begin() + i * n, x.begin() + (i + 1) * n),
          yj(y.begin() + j * m, y.begin() + (j + 1) * m);
      want_g += e[size_t(i)] * soft_dtw_slope(xi, yj, g[0], size_t(n + m));
    }
  CHECK(dg.values[0] == doctest::Approx(want_g).epsilon(1e-7));
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < n; ++k) {
      double want = 0;
      for (int j = 0; j < 3; ++j)
        want += e[size_t(i)] * soft_dtw_slope({x.begin() + i * n, x.begin() + (i + 1) * n},
                                              {y.begin() + j * m, y.begin() + (j + 1) * m}, g[0],
                                              size_t(k));
      CHECK(dx.values[size_t(i * n + k)] == doctest::Approx(want).epsilon(1e-7));
    }
  for (int j = 0; j < 3; ++j)
    for (int k = 0; k < m; ++k) {
      double want = 0;
      for (int i = 0; i < 2; ++i)
        want += e[size_t(i)] * soft_dtw_slope({x.begin() + i * n, x.begin() + (i + 1) * n},
                                              {y.begin() + j * m, y.begin() + (j + 1) * m}, g[0],
                                              size_t(n + k));
      CHECK(dy.values[size_t(j * m + k)] == doctest::Approx(want).epsilon(1e-7));
    }
  // float32: the same, within float32's rounding.
  const std::vector<float> xf(x.begin(), x.end()), yf(y.begin(), y.end()), gf(g.begin(), g.end()),
      ef(e.begin(), e.end());
  const auto dx32 =
      op.grad("x")({{xf.data(), 2, n}, {yf.data(), 3, m}, {gf.data(), 1, 1}, {ef.data(), 2, 1}});
  for (size_t q = 0; q < dx.values.size(); ++q)
    CHECK(dx32.values[q] == doctest::Approx(dx.values[q]).epsilon(1e-4).scale(1));
  // A second derivative of a long series is refused, naming the limit.
  CHECK_THROWS_WITH_AS(op.grad("x").grad("x"),
                       doctest::Contains("derivatives of SoftDTW_SqDist of order 2 and more are "
                                         "supported for series of at most 64 cells, not 12 x 9"),
                       keops::Error);
}

TEST_CASE("SoftDTW_SqDist_Grad equals the unrolled derivative, and compiles fast at 32 x 32") {
  // 8 x 8 cells: the unrolled derivative (Genred::grad), against the looped op written out.
  std::mt19937_64 rng(13);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> x(8), y(8), g = {0.25}, e = {1.0};
  for (double& v : x) v = u(rng);
  for (double& v : y) v = u(rng);
  const std::vector<std::string> aliases = {"x = Vi(8)", "y = Vj(8)", "g = Pm(1)"};
  const std::vector<keops::View<const double>> args = {
      {x.data(), 1, 8}, {y.data(), 1, 8}, {g.data(), 1, 1}, {e.data(), 1, 1}};
  const Genred op("SoftDTW_SqDist(x, y, g)", aliases, "Sum", 1);
  const auto unrolled_x = op.grad("x")(args), unrolled_g = op.grad("g")(args);
  const auto looped = Genred("SoftDTW_SqDist_Grad(x, y, g)", aliases, "Sum",
                             1)({{x.data(), 1, 8}, {y.data(), 1, 8}, {g.data(), 1, 1}});
  for (int k = 0; k < 8; ++k)
    CHECK(looped.values[size_t(k)] == doctest::Approx(unrolled_x.values[size_t(k)]).epsilon(1e-12));
  CHECK(looped.values[16] == doctest::Approx(unrolled_g.values[0]).epsilon(1e-12));
  // 32 x 32 cells (refused before): compiled and run in about a second on the CPU.
  const std::vector<std::string> long_aliases = {"x = Vi(32)", "y = Vj(32)", "g = Pm(1)"};
  std::vector<float> lx(32), ly(32), lg = {0.5f}, le = {1.0f};
  for (float& v : lx) v = float(u(rng));
  for (float& v : ly) v = float(u(rng));
  keops::Options cpu;
  cpu.backend = keops::Backend::CPU;
  const auto start = std::chrono::steady_clock::now();
  const auto d =
      Genred("SoftDTW_SqDist(x, y, g)", long_aliases, "Sum", 1, cpu)
          .grad("x")(
              {{lx.data(), 1, 32}, {ly.data(), 1, 32}, {lg.data(), 1, 1}, {le.data(), 1, 1}});
  MESSAGE("SoftDTW_SqDist's gradient, 32 x 32 cells: compiled and run in ",
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), " s");
  CHECK(d.values.size() == 32);
  CHECK(std::all_of(d.values.begin(), d.values.end(), [](float v) { return std::isfinite(v); }));
}

TEST_CASE("keops differences: Grad of Clamp with the lower bound above the upper") {
  // Clamp(x, a, b) with a = 1 > b = 0 is a where x < a, else b: constant in x. KeOps 2.3
  // gives d/dx = 1 at x = 0.5 and d/da = 1 in all (it differentiates a formula that only
  // holds for a < b); the derivatives are 0, and 2 (x = 0.5 and -0.5 take a).
  const std::vector<double> x = {0.5, 1.5, -0.5}, a = {1.0}, b = {0.0}, e = {1, 1, 1};
  const std::vector<std::string> aliases = {"x = Vi(1)", "a = Pm(1)", "b = Pm(1)", "e = Vi(1)"};
  const std::vector<keops::View<const double>> args = {
      {x.data(), 3, 1}, {a.data(), 1, 1}, {b.data(), 1, 1}, {e.data(), 3, 1}};
  CHECK(Genred("Grad(Clamp(x, a, b), x, e)", aliases, "Sum", 1, one_j())(args).values ==
        std::vector<double>{0, 0, 0});
  CHECK(Genred("Grad(Clamp(x, a, b), a, e)", aliases, "Sum", 0, one_j())(args).values ==
        std::vector<double>{2});
  CHECK(Genred("Grad(Clamp(x, a, b), b, e)", aliases, "Sum", 0, one_j())(args).values ==
        std::vector<double>{1});
  // And against central differences of Sum_i Clamp(x_i, a, b), in a and in b.
  const Genred value("Clamp(x, a, b)", {"x = Vi(1)", "a = Pm(1)", "b = Pm(1)"}, "Sum", 0, one_j());
  auto total = [&](double da, double db) {
    const double a2 = a[0] + da, b2 = b[0] + db;
    return value({{x.data(), 3, 1}, {&a2, 1, 1}, {&b2, 1, 1}}).values[0];
  };
  const double h = 1e-6;
  CHECK((total(h, 0) - total(-h, 0)) / (2 * h) == doctest::Approx(2));
  CHECK((total(0, h) - total(0, -h)) / (2 * h) == doctest::Approx(1));
}

TEST_CASE("keops differences: float64 Powf is computed in float64") {
  // KeOps 2.3 computes Powf in float precision: 5.7e-7 relative error on this range; ours,
  // exp(y log x) in double, a few ulp (1.3e-15 for y = 7.3).
  std::vector<double> x(1000);
  for (size_t k = 0; k < x.size(); ++k) x[k] = 0.5 + 2.5 * double(k) / double(x.size() - 1);
  for (double y : {7.3, -2.71, 0.5}) {
    const auto out = Genred("Powf(x, y)", {"x = Vi(1)", "y = Pm(1)"}, "Sum", 1,
                            one_j())({{x.data(), int64_t(x.size()), 1}, {&y, 1, 1}});
    double worst = 0;
    for (size_t k = 0; k < x.size(); ++k) {
      const long double want = std::pow((long double)(x[k]), (long double)(y));
      worst = std::max(worst, double(std::fabs((out.values[k] - want) / want)));
    }
    CAPTURE(y);
    CHECK(worst < 4e-15);
  }
}

TEST_CASE("keops differences: BSpline runs in float64") {
  // KeOps 2.3 fails to generate float64 BSpline code ("subtraction of two c_variable is
  // only possible with same dtype").
  std::mt19937_64 rng(8);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> knots(5 * 7), t(11);
  for (double& v : knots) v = u(rng);
  for (int r = 0; r < 5; ++r) std::sort(knots.begin() + 7 * r, knots.begin() + 7 * r + 7);
  for (double& v : t) v = u(rng);
  for (int order : {0, 2, 3}) {
    const int dim = 7 - order - 1;
    const auto out =
        Genred("BSpline(k, t, " + std::to_string(order) + ")", {"k = Vj(7)", "t = Vi(1)"}, "Sum",
               1)({{knots.data(), 5, 7}, {t.data(), 11, 1}});
    REQUIRE(out.cols == dim);
    for (int i = 0; i < 11; ++i)
      for (int c = 0; c < dim; ++c) {
        long double want = 0;
        for (int j = 0; j < 5; ++j) {
          const std::vector<double> row(knots.begin() + 7 * j, knots.begin() + 7 * j + 7);
          want += bspline(row, c, order, t[size_t(i)]);
        }
        CAPTURE(order);
        CHECK(out.values[size_t(i * dim + c)] == doctest::Approx(double(want)).epsilon(1e-13));
      }
  }
}
