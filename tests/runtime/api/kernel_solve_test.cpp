// KernelSolve: conjugate gradient against dense solves, its reports, errors and gradients.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <keops/keops.h>

#include "runtime/cuda/memory.h"
#include "tests/support/backends.h"

using keops::Backend;
using keops::Error;
using keops::KernelSolve;
using keops::Options;
using keops::SolveInfo;
using keops::View;

namespace {

const char* kGauss = "Exp(-SqDist(x, y)) * b";

Options on(Backend backend) {
  Options o;
  o.backend = backend;
  return o;
}

std::vector<double> uniform(size_t n, uint64_t seed, double lo = 0.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(n);
  for (double& x : v) x = u(rng);
  return v;
}

template <class T>
std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

// The dense n x n Gaussian kernel exp(-g |x_i - x_j|^2) of points in R^3.
std::vector<double> gauss_matrix(const std::vector<double>& x, double g = 1.0) {
  const size_t n = x.size() / 3;
  std::vector<double> k(n * n);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) {
      double d2 = 0;
      for (size_t c = 0; c < 3; ++c)
        d2 += (x[3 * i + c] - x[3 * j + c]) * (x[3 * i + c] - x[3 * j + c]);
      k[i * n + j] = std::exp(-g * d2);
    }
  return k;
}

std::vector<double> matvec(const std::vector<double>& m, const std::vector<double>& v) {
  const size_t n = v.size();
  std::vector<double> out(n, 0.0);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) out[i] += m[i * n + j] * v[j];
  return out;
}

// alpha I + m.
std::vector<double> shifted(std::vector<double> m, double alpha) {
  const size_t n = size_t(std::lround(std::sqrt(double(m.size()))));
  for (size_t i = 0; i < n; ++i) m[i * n + i] += alpha;
  return m;
}

// Solves m x = rhs (m symmetric positive definite) by Cholesky.
std::vector<double> cholesky_solve(const std::vector<double>& m, const std::vector<double>& rhs) {
  const size_t n = rhs.size();
  std::vector<double> l(n * n, 0.0);
  for (size_t j = 0; j < n; ++j) {
    double d = m[j * n + j];
    for (size_t k = 0; k < j; ++k) d -= l[j * n + k] * l[j * n + k];
    REQUIRE(d > 0);
    l[j * n + j] = std::sqrt(d);
    for (size_t i = j + 1; i < n; ++i) {
      double s = m[i * n + j];
      for (size_t k = 0; k < j; ++k) s -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = s / l[j * n + j];
    }
  }
  std::vector<double> y(n), x(n);
  for (size_t i = 0; i < n; ++i) {
    double s = rhs[i];
    for (size_t k = 0; k < i; ++k) s -= l[i * n + k] * y[k];
    y[i] = s / l[i * n + i];
  }
  for (size_t i = n; i-- > 0;) {
    double s = y[i];
    for (size_t k = i + 1; k < n; ++k) s -= l[k * n + i] * x[k];
    x[i] = s / l[i * n + i];
  }
  return x;
}

// Textbook CG on a dense matrix, same stopping rule: the reference for step counts.
struct DenseCg {
  std::vector<double> a;
  int iterations = 0;
};
DenseCg dense_cg(const std::vector<double>& m, const std::vector<double>& b, double tol,
                 int max_iterations) {
  const size_t n = b.size();
  auto dot = [](const std::vector<double>& u, const std::vector<double>& v) {
    double s = 0;
    for (size_t k = 0; k < u.size(); ++k) s += u[k] * v[k];
    return s;
  };
  DenseCg out{std::vector<double>(n, 0.0), 0};
  std::vector<double> r = b, p = b;
  double rr = dot(r, r);
  const double threshold = tol * std::sqrt(rr);
  while (std::sqrt(rr) > threshold && out.iterations < max_iterations) {
    const std::vector<double> mp = matvec(m, p);
    const double step = rr / dot(p, mp);
    for (size_t k = 0; k < n; ++k) {
      out.a[k] += step * p[k];
      r[k] -= step * mp[k];
    }
    const double next = dot(r, r);
    for (size_t k = 0; k < n; ++k) p[k] = r[k] + next / rr * p[k];
    rr = next;
    ++out.iterations;
  }
  return out;
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

template <class T>
double max_rel_diff(const std::vector<T>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  double m = 0;
  for (size_t k = 0; k < got.size(); ++k) m = std::max(m, std::fabs(double(got[k]) - want[k]));
  return m / max_abs(want);
}

// ||b - (alpha I + K) a|| / ||b|| with the dense K.
template <class T>
double dense_residual(const std::vector<double>& m, const std::vector<double>& b,
                      const std::vector<T>& a) {
  const std::vector<double> ma = matvec(m, std::vector<double>(a.begin(), a.end()));
  double r = 0, nb = 0;
  for (size_t k = 0; k < b.size(); ++k) {
    r += (b[k] - ma[k]) * (b[k] - ma[k]);
    nb += b[k] * b[k];
  }
  return std::sqrt(r / nb);
}

// N points, their Gaussian kernel and a right-hand side, for the solve of x, x, b.
struct Problem {
  int64_t n;
  std::vector<double> x, b, k;
  explicit Problem(int64_t n_, uint64_t seed = 7)
      : n(n_),
        x(uniform(size_t(3 * n_), seed)),
        b(uniform(size_t(n_), seed + 1, -1, 1)),
        k(gauss_matrix(x)) {}
};

// The float64 solve of N = 500 against Cholesky, on one backend.
void check_dense_solve(Backend backend, int axis) {
  const Problem p(500);
  const double alpha = 0.1;
  const std::vector<std::string> aliases =
      axis == 1 ? std::vector<std::string>{"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"}
                : std::vector<std::string>{"x = Vi(3)", "y = Vj(3)", "b = Vi(1)"};
  KernelSolve solve(kGauss, aliases, "b", axis, on(backend));
  SolveInfo info;
  auto a = solve({{p.x.data(), p.n, 3}, {p.x.data(), p.n, 3}, {p.b.data(), p.n, 1}}, alpha, 1e-10,
                 0, &info);
  CHECK(a.rows == p.n);
  CHECK(a.cols == 1);
  const std::vector<double> m = shifted(p.k, alpha);
  CHECK(max_rel_diff(a.values, cholesky_solve(m, p.b)) < 1e-7);
  CHECK(info.converged);
  CHECK(info.iterations > 5);
  CHECK(info.iterations < p.n);
  CHECK(info.residual < 1e-9);
  CHECK(info.residual == doctest::Approx(dense_residual(m, p.b, a.values)).epsilon(1e-3));
  // The same steps as textbook CG on the dense matrix (rounding may shift the last by one).
  CHECK(std::abs(info.iterations - dense_cg(m, p.b, 1e-10, 500).iterations) <= 1);
}

}  // namespace

TEST_CASE("KernelSolve matches a dense Cholesky solve in float64 on the CPU, both axes") {
  check_dense_solve(Backend::CPU, 1);
  check_dense_solve(Backend::CPU, 0);
}

TEST_CASE("KernelSolve matches a dense Cholesky solve in float64 on the GPU") {
  if (!keops::test::gpu_usable()) return;
  check_dense_solve(Backend::GPU, 1);
  check_dense_solve(Backend::GPU, 0);
  // Arguments already in GPU memory are used in place; b is read back to the host.
  const Problem p(300);
  std::vector<keops::runtime::cuda::DeviceBuffer> on_gpu;
  for (const auto* v : {&p.x, &p.b}) {
    on_gpu.emplace_back(0, v->size() * sizeof(double));
    on_gpu.back().upload(v->data(), on_gpu.back().bytes());
  }
  KernelSolve solve(kGauss, {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"}, "b", 1, on(Backend::GPU));
  SolveInfo info;
  auto a = solve({{on_gpu[0].as<const double>(), p.n, 3, 0},
                  {p.x.data(), p.n, 3},
                  {on_gpu[1].as<const double>(), p.n, 1, 0}},
                 0.1, 1e-10, 0, &info);
  CHECK(max_rel_diff(a.values, cholesky_solve(shifted(p.k, 0.1), p.b)) < 1e-7);
  CHECK(info.converged);
}

TEST_CASE("KernelSolve in float32: CG in float64 around float32 products") {
  const Problem p(400, 11);
  const std::vector<float> x = cast<float>(p.x), b = cast<float>(p.b);
  // The reference solves the float32-rounded data.
  const std::vector<double> xr(x.begin(), x.end()), br(b.begin(), b.end());
  const std::vector<double> m = shifted(gauss_matrix(xr), 1.0);
  keops::test::for_each_backend([&](Backend backend) {
    KernelSolve solve(kGauss, {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"}, "b", 1, on(backend));
    SolveInfo info;
    auto a =
        solve({{x.data(), p.n, 3}, {x.data(), p.n, 3}, {b.data(), p.n, 1}}, 1.0, 1e-5, 0, &info);
    CHECK(info.converged);
    CHECK(info.residual < 1e-4);
    CHECK(info.residual == doctest::Approx(dense_residual(m, br, a.values)).epsilon(0.05));
    CHECK(max_rel_diff(a.values, cholesky_solve(m, br)) < 1e-3);
  });
}

TEST_CASE("KernelSolve solves several cols as one CG, also for a K that mixes them") {
  const Problem p(200, 21);
  const std::vector<double> b2 = uniform(size_t(2 * p.n), 5, -1, 1);
  const size_t n = size_t(p.n);
  SUBCASE("a scalar kernel acts on each col: each col is the dense solve of that col") {
    KernelSolve solve(kGauss, {"x = Vi(3)", "y = Vj(3)", "b = Vj(2)"}, "b", 1, on(Backend::CPU));
    SolveInfo info;
    auto a = solve({{p.x.data(), p.n, 3}, {p.x.data(), p.n, 3}, {b2.data(), p.n, 2}}, 0.5, 1e-11, 0,
                   &info);
    CHECK(a.cols == 2);
    const std::vector<double> m = shifted(p.k, 0.5);
    for (size_t c = 0; c < 2; ++c) {
      std::vector<double> col(n), got(n);
      for (size_t i = 0; i < n; ++i) {
        col[i] = b2[2 * i + c];
        got[i] = a.values[2 * i + c];
      }
      CHECK(max_rel_diff(got, cholesky_solve(m, col)) < 1e-8);
    }
    CHECK(info.converged);
  }
  SUBCASE("a matrix-valued kernel K(x, y) A mixes the cols: the Kronecker system") {
    const std::vector<double> A = {2.0, 0.5, 0.5, 1.0};  // symmetric positive definite
    KernelSolve solve("Exp(-SqDist(x, y)) * MatVecMult(A, b)",
                      {"x = Vi(3)", "y = Vj(3)", "b = Vj(2)", "A = Pm(4)"}, "b", 1,
                      on(Backend::CPU));
    SolveInfo info;
    auto a =
        solve({{p.x.data(), p.n, 3}, {p.x.data(), p.n, 3}, {b2.data(), p.n, 2}, {A.data(), 1, 4}},
              0.5, 1e-11, 0, &info);
    std::vector<double> m(4 * n * n);
    for (size_t i = 0; i < n; ++i)
      for (size_t c = 0; c < 2; ++c)
        for (size_t j = 0; j < n; ++j)
          for (size_t d = 0; d < 2; ++d)
            m[(2 * i + c) * 2 * n + 2 * j + d] = p.k[i * n + j] * A[2 * c + d];
    CHECK(max_rel_diff(a.values, cholesky_solve(shifted(m, 0.5), b2)) < 1e-8);
    CHECK(info.converged);
  }
}

TEST_CASE("KernelSolve honours max_iterations and reports the steps and the true residual") {
  const Problem p(150, 31);
  KernelSolve solve(kGauss, {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"}, "b", 1, on(Backend::CPU));
  const std::vector<View<const double>> args = {
      {p.x.data(), p.n, 3}, {p.x.data(), p.n, 3}, {p.b.data(), p.n, 1}};
  const std::vector<double> m = shifted(p.k, 0.01);
  SolveInfo info;
  auto a = solve(args, 0.01, 1e-12, 3, &info);
  CHECK(info.iterations == 3);
  CHECK_FALSE(info.converged);
  // Exactly three CG steps: those of the dense CG, and the residual of that iterate.
  CHECK(max_rel_diff(a.values, dense_cg(m, p.b, 1e-12, 3).a) < 1e-10);
  CHECK(info.residual == doctest::Approx(dense_residual(m, p.b, a.values)).epsilon(1e-8));
  CHECK(info.residual > 1e-3);
  // A loose tolerance stops early, converged; its residual honours it.
  a = solve(args, 0.01, 1e-2, 0, &info);
  CHECK(info.converged);
  CHECK(info.iterations == dense_cg(m, p.b, 1e-2, 150).iterations);
  CHECK(info.residual <= 1e-2);
  // max_iterations = 0 means b's rows: tolerance 0 runs them all.
  a = solve(args, 0.01, 0.0, 0, &info);
  CHECK(info.iterations == p.n);
  // b = 0: a = 0 without a step.
  const std::vector<double> zeros(size_t(p.n), 0.0);
  a = solve({args[0], args[1], {zeros.data(), p.n, 1}}, 0.01, 1e-6, 0, &info);
  CHECK(info.iterations == 0);
  CHECK(info.converged);
  CHECK(info.residual == 0);
  CHECK(max_abs(std::vector<double>(a.values.begin(), a.values.end())) == 0);
}

TEST_CASE("KernelSolve construction errors") {
  const std::vector<std::string> aliases = {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"};
  auto fails = [&](const char* formula, const char* var, const char* message, int axis = 1,
                   std::vector<std::string> a = {}) {
    CHECK_THROWS_WITH_AS(KernelSolve(formula, a.empty() ? aliases : a, var, axis),
                         doctest::Contains(message), Error);
  };
  fails(kGauss, "c", "KernelSolve: no argument is named 'c'; the arguments are x = Var(0,3,0)");
  fails(kGauss, "x", "KernelSolve: 'x' must be a Vj variable (axis 1 reduces over j)");
  fails(kGauss, "b", "KernelSolve: 'b' must be a Vi variable (axis 0 reduces over i)", 0);
  fails("Exp(-SqDist(x, y)) * Sum(b)", "b",
        "KernelSolve: the formula has dim 1, but 'b' has dim 2: K must map 'b' onto arrays", 1,
        {"x = Vi(3)", "y = Vj(3)", "b = Vj(2)"});
  fails("Exp(-SqDist(x, y))", "b", "KernelSolve: the formula does not depend on 'b'");
  fails("Exp(-SqDist(x, y)) * b * b", "b",
        "KernelSolve: the formula is not linear in 'b': its derivative with respect to 'b' "
        "depends on 'b'");
  fails("Exp(-SqDist(x, y)) * b + 1", "b",
        "KernelSolve: the formula is not linear in 'b': it is not 0 where 'b' is 0");
  fails("Exp(-SqDist(x, y)) * (b + Sign(b))", "b",
        "KernelSolve: the formula is not linear in 'b': it passes 'b' through Sign, which is "
        "piecewise constant in it");
  fails("Exp(-SqDist(x, y)) * Abs(b)", "b", "its derivative with respect to 'b' depends on 'b'");
  // The Genred's own errors, told as the solver's.
  fails(kGauss, "b", "KernelSolve: axis must be 0 (reduce over i) or 1 (reduce over j), not 2", 2);
  fails("Exp(-SqDist(x, y) * b", "b", "KernelSolve: ");
  CHECK_THROWS_WITH_AS(KernelSolve("Exp(-SqDist(x, y) * b", aliases, "b", 1),
                       doctest::Contains("Exp(-SqDist(x, y) * b"), Error);
  // Linear formulas beyond K(x, y) * b pass the check.
  const std::vector<std::string> two = {"x = Vi(3)", "y = Vj(3)", "b = Vj(2)"};
  for (const char* linear :
       {"Exp(-SqDist(x, y)) * b / 2 + (x | y) * b", "-(Exp(-Norm2(x - y)) * (b * 3 - b))",
        "Exp(-SqDist(x, y)) * Concat(Elem(b, 1), Elem(b, 0))",
        "IfElse(SqDist(x, y) - 0.5, 0, Exp(-SqDist(x, y))) * b",
        "Exp(-SqDist(x, y)) * Sum(b) * Exp(Extract(x, 0, 2))"}) {
    CAPTURE(linear);
    CHECK_NOTHROW(KernelSolve(linear, two, "b", 1));
  }
  // var may also be given as Var(position,dim,cat).
  CHECK(KernelSolve(kGauss, aliases, "Var(2, 1, 1)", 1).var_position() == 2);
}

TEST_CASE("KernelSolve call errors") {
  const Problem p(20, 41);
  const std::vector<std::string> aliases = {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"};
  KernelSolve solve(kGauss, aliases, "b", 1, on(Backend::CPU));
  const View<const double> x{p.x.data(), p.n, 3}, b{p.b.data(), p.n, 1};
  auto fails = [&](const std::vector<View<const double>>& args, double alpha, double tol,
                   int max_it, const char* message) {
    CHECK_THROWS_WITH_AS(solve(args, alpha, tol, max_it), doctest::Contains(message), Error);
  };
  fails({x, x}, 0.1, 1e-6, 0, "KernelSolve: expected 3 argument(s), got 2");
  fails({x, x, b}, -0.5, 1e-6, 0, "KernelSolve: alpha must be finite and >= 0, not -0.5");
  fails({x, x, b}, NAN, 1e-6, 0, "KernelSolve: alpha must be finite and >= 0, not nan");
  fails({x, x, b}, 0.1, INFINITY, 0, "KernelSolve: tolerance must be finite and >= 0, not inf");
  fails({x, x, b}, 0.1, -1e-6, 0, "KernelSolve: tolerance must be finite and >= 0");
  fails({x, x, b}, 0.1, 1e-6, -1, "KernelSolve: max_iterations must be >= 0 (0: b's rows), not -1");
  fails({x, x, {p.b.data(), p.n / 2, 2}}, 0.1, 1e-6, 0,
        "KernelSolve: argument 2 (b), b, has 2 cols, but its dim is 1");
  fails({x, x, {nullptr, p.n, 1}}, 0.1, 1e-6, 0,
        "KernelSolve: argument 2 (b), b, has null data and 20 rows");
  fails({{p.x.data(), p.n - 1, 3}, x, b}, 0.1, 1e-6, 0,
        "KernelSolve: argument 0 (x) has 19 rows, but argument 2 (b), b, has 20: K must map b "
        "onto as many rows as it has");
  fails({x, x, {p.b.data(), p.n, 1, -1, {1, {1}}}}, 0.1, 1e-6, 0,
        "KernelSolve: argument 2 (b) has batch dims, which KernelSolve does not take");
  // The Genred's checks, as the solver's.
  fails(
      {x, {p.x.data(), p.n - 1, 3}, b}, 0.1, 1e-6, 0,
      "KernelSolve: argument 2 (b) has 20 rows, but argument 1 (y) of the same j category has 19");
  std::vector<double> bad = p.b;
  bad[3] = NAN;
  fails({x, x, {bad.data(), p.n, 1}}, 0.1, 1e-6, 0,
        "KernelSolve: argument 2 (b), b, holds a non-finite value");
  std::vector<double> bad_x = p.x;
  bad_x[4] = NAN;
  fails({{bad_x.data(), p.n, 3}, x, b}, 0.1, 1e-6, 0,
        "KernelSolve: conjugate gradient broke down at step 1: p^T (alpha I + K) p = ");
  fails({x, {p.x.data(), p.n, 3, 0}, b}, 0.1, 1e-6, 0,
        "KernelSolve: argument 1 (y) is in GPU memory, but this KernelSolve runs on the CPU");
  // A negative definite K breaks CG down at its first step.
  KernelSolve negative("-Exp(-SqDist(x, y)) * b", aliases, "b", 1, on(Backend::CPU));
  CHECK_THROWS_WITH_AS(negative({x, x, b}, 0.0), doctest::Contains("broke down at step 1"), Error);
}

namespace {

// L(args) = <solve(args), e> for the finite differences.
double objective(const KernelSolve& solve, const std::vector<std::vector<double>>& data,
                 const std::vector<int64_t>& rows, const std::vector<double>& e, double alpha) {
  std::vector<View<const double>> views;
  for (size_t k = 0; k < data.size(); ++k)
    views.push_back({data[k].data(), rows[k], int64_t(data[k].size()) / rows[k]});
  const auto a = solve(views, alpha, 1e-14, 1000);
  double s = 0;
  for (size_t k = 0; k < e.size(); ++k) s += a.values[k] * e[k];
  return s;
}

}  // namespace

TEST_CASE("KernelSolve::gradient matches finite differences of the solve") {
  const int64_t n = 25;
  const double alpha = 0.3;
  // x and y hold the same points: K is symmetric, as the gradient assumes.
  const std::vector<double> pts = uniform(size_t(3 * n), 51);
  std::vector<std::vector<double>> data = {pts, pts, uniform(size_t(n), 52, -1, 1), {1.5}};
  const std::vector<int64_t> rows = {n, n, n, 1};
  const std::vector<double> e = uniform(size_t(n), 53, -1, 1);
  KernelSolve solve("Exp(-SqDist(x, y) * g) * b",
                    {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)", "g = Pm(1)"}, "b", 1, on(Backend::CPU));
  std::vector<View<const double>> views;
  for (size_t k = 0; k < data.size(); ++k)
    views.push_back({data[k].data(), rows[k], int64_t(data[k].size()) / rows[k]});
  const auto a = solve(views, alpha, 1e-14, 1000);
  const View<const double> av{a.values.data(), n, 1}, ev{e.data(), n, 1};
  for (size_t w = 0; w < data.size(); ++w) {
    const std::string name = std::string(1, "xybg"[w]);
    CAPTURE(name);
    SolveInfo info;
    const auto g = solve.gradient(views, alpha, av, ev, name, 1e-14, 1000, &info);
    CHECK(info.converged);
    CHECK(g.rows == rows[w]);
    REQUIRE(g.values.size() == data[w].size());
    const double h = 1e-6;
    double err = 0, scale = 0;
    for (size_t q = 0; q < data[w].size(); ++q) {
      auto plus = data, minus = data;
      plus[w][q] += h;
      minus[w][q] -= h;
      const double fd =
          (objective(solve, plus, rows, e, alpha) - objective(solve, minus, rows, e, alpha)) /
          (2 * h);
      err = std::max(err, std::fabs(fd - g.values[q]));
      scale = std::max(scale, std::fabs(fd));
    }
    CHECK(scale > 1e-3);
    CHECK(err / scale < 1e-6);
  }
  CHECK_THROWS_WITH_AS(solve.gradient(views, alpha, av, ev, "z"),
                       doctest::Contains("KernelSolve::gradient: no argument is named 'z'"), Error);
  CHECK_THROWS_WITH_AS(
      solve.gradient(views, alpha, View<const double>{a.values.data(), n - 1, 1}, ev, "x"),
      doctest::Contains("KernelSolve::gradient: solution is 24 x 1, but b, argument 2 (b), is "
                        "25 x 1"),
      Error);
  CHECK_THROWS_WITH_AS(solve.gradient(views, alpha, av, View<const double>{nullptr, n, 1}, "x"),
                       doctest::Contains("KernelSolve::gradient: cotangent has null data"), Error);
  CHECK_THROWS_WITH_AS(solve.gradient(views, -1.0, av, ev, "x"),
                       doctest::Contains("KernelSolve::gradient: alpha must be finite"), Error);
}
