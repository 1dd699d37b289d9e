// The rest of the language through Genred: every op against the reference, then classic
// formulas against hand-written loops.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include <keops/keops.h>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/frontend/aliases.h"
#include "compiler/frontend/parser.h"
#include "compiler/ir/context.h"
#include "compiler/jit/cpu_compile.h"

#include "tests/support/reference_check.h"

namespace {

using keops::Genred;
using keops::test::compare_with_reference;
using keops::test::random_args;

const std::vector<std::string> kReal = {"x = Vi(3)", "y = Vj(3)", "a = Vi(1)", "b = Vj(1)",
                                        "p = Pm(1)"};
const std::vector<std::string> kComplex = {"z = Vi(4)", "w = Vj(4)", "c = Vj(2)",
                                           "u = Vi(2)", "a = Vi(1)", "b = Vj(1)"};
const std::vector<std::string> kTensor = {"f = Vi(6)", "g = Vj(6)", "h = Vj(12)"};
const std::vector<std::string> kSpline = {"k = Vj(7)", "t = Vi(1)", "q = Pm(6)"};
const std::vector<std::string> kDtw = {"x = Vi(3)", "v = Vj(4)", "p = Pm(1)"};

struct Case {
  std::string formula;
  const std::vector<std::string>* aliases;
  double lo, hi;             // the range of the random data
  bool sorted_rows = false;  // each argument row sorted (knot vectors)
};

// The ranges keep each op in its domain, and ops with discontinuities (Round, Floor, OneHot,
// ArgMax, comparisons) act on raw data, where float and the float64 reference agree exactly.
const std::vector<Case> kCases = {
    {"Powf(x, y - 0.5)", &kReal, 0.1, 2},
    {"Powf(x - y, Round(3 * b, 0))", &kReal, -1, 1},  // negative bases, integer exponents
    {"Asin(x * y)", &kReal, -1, 1},
    {"Acos(x * y)", &kReal, -1, 1},
    {"Atan(3 * (x - y))", &kReal, -1, 1},
    {"Atan2(x - a, y - b)", &kReal, -1, 1},
    {"XLogX(Step(x - y) * x)", &kReal, 0, 1},  // exact zeros: 0 at 0
    {"SinXDivX(Step(x - y) * 3 * x)", &kReal, -1, 1},
    {"Round(x, 0) * b + Round(y, 2) * a + Round(x, -1)", &kReal, -30, 30},
    {"Floor(x) * y", &kReal, -3, 3},
    {"Mod(x, 0.7, -0.2) + y", &kReal, -3, 3},
    {"Clamp(x - y, a, b + 1)", &kReal, -1, 1},
    {"ClampInt(3 * (x - y), -1, 2)", &kReal, -1, 1},
    {"Equal(Round(x, 0), Round(y, 0)) + NotEqual(Round(a, 0), b) + LessThan(x, y)", &kReal, -2, 2},
    {"LessOrEqual(Round(x, 0), Round(y, 0)) * (x - y)", &kReal, -2, 2},
    {"Max(x - y) + Min(x * y)", &kReal, -1, 1},
    {"ArgMax(x) * b + ArgMin(y) * a", &kReal, -1, 1},
    {"WeightedSqNorm(a, x - y) + WeightedSqNorm(y, x) + WeightedSqDist(Concat(x, Concat(y, x)) * "
     "b, x, y)",
     &kReal, -1, 1},
    {"ElemT(a - b, 5, 1) + ExtractT(x - y, 1, 5) * b + SumT(a * b, 5) * p", &kReal, -1, 1},
    {"OneHot(b, 5) * a + OneHot(a, 5) * b", &kReal, -2, 5.5},  // out of range selects none
    {"MatVecMult(Concat(x, Concat(y, x)), y) + VecMatMult(x, Concat(x, Concat(y, y)))", &kReal, -1,
     1},
    {"TensorProd(x, y - a)", &kReal, -1, 1},
    {"ComplexAdd(z, w) + ComplexAdd(c, z) + ComplexSubtract(z, c) + ComplexSubtract(c, w)",
     &kComplex, -1, 1},
    {"ComplexMult(z, w) + ComplexMult(c, z) + ComplexMult(z, Concat(a, b))", &kComplex, -1, 1},
    {"ComplexDivide(z, w) + ComplexDivide(u, w) + ComplexDivide(z, c)", &kComplex, 0.5, 1.5},
    {"ComplexExp(z - w) + Conj(ComplexMult(z, w))", &kComplex, -1, 1},
    {"ComplexReal(z * w) + ComplexImag(z - w) + ComplexAbs(z - w) + ComplexSquareAbs(z + w)",
     &kComplex, -1, 1},
    {"ComplexAngle(z - w) + ComplexAngle(Concat(a, b))", &kComplex, -1, 1},
    {"Real2Complex(a - b) + Imag2Complex(a * b) + ComplexExp1j(3 * (a - b))", &kComplex, -1, 1},
    {"ComplexSumT(ComplexSum(ComplexMult(z, w)), 4) + ComplexSumT(ComplexMult(u, c), 4) + "
     "ComplexRealScal(a - b, z)",
     &kComplex, -1, 1},
    {"TensorDot(f, g, (2, 3), (3, 2), (1), (0))", &kTensor, -1, 1},
    {"TensorDot(f, h, (2, 3), (3, 4), (1), (0), (1, 0))", &kTensor, -1, 1},
    {"TensorDot(f, h, (2, 3), (2, 2, 3), (0, 1), (1, 2))", &kTensor, -1, 1},
    {"TensorDot(f, g, (2, 3), (6), (), (), (2, 0, 1))", &kTensor, -1, 1},
    {"Kron(f, g, (2, 3), (3, 2)) + Kron(Extract(f, 0, 3), h, (3), (12))", &kTensor, -1, 1},
    {"BSpline(k, t, 2) + BSpline(q, t, 1)", &kSpline, 0, 1, true},
    {"Concat(BSpline(k, t, 0), BSpline(k, t, 3)) + "
     "Concat(BSpline(q, t, 0), Concat(BSpline(q, t, 2), BSpline(q, t, 4)))",
     &kSpline, 0, 1, true},
    {"BSpline(k, t, 2)", &kSpline, 0, 1},  // unsorted knots: empty spans give 0
    {"SoftDTW_SqDist(x, v, p)", &kDtw, 0.1, 1},
    {"SoftDTW_SqDist_Grad(x, v, p)", &kDtw, 0.1, 1},
};

template <class T>
double tolerance() {
  return sizeof(T) == 4 ? 1e-5 : 1e-12;
}

template <class T>
void check_case(const Case& c, int64_t nx, int64_t ny, int64_t edge_rows) {
  auto args = random_args<T>(c.formula, *c.aliases, nx, ny, 7 + uint64_t(nx * 13 + ny), c.lo, c.hi);
  if (c.sorted_rows)
    for (size_t k = 0; k < args.data.size(); ++k)
      for (int64_t r = 0; r < args.views[k].rows; ++r) {
        T* row = args.data[k].data() + r * args.views[k].cols;
        std::sort(row, row + args.views[k].cols);
      }
  for (int axis : {0, 1}) {
    CAPTURE(c.formula);
    CAPTURE(axis);
    CAPTURE(nx);
    CAPTURE(ny);
    const auto r =
        compare_with_reference<T>(c.formula, *c.aliases, "Sum", axis, {}, args, nx, ny, edge_rows);
    CHECK(r.relative() <= tolerance<T>());
  }
}

// Formulas of x and y only, summed over a single j: each output row is F at one row, so the
// NaNs and infinities of every op are compared with the reference's (math_extra_test.cpp
// checks signed zeros).
const std::vector<std::string> kPointwise = {
    "Sign(x) + Step(y) + ReLU(x) + Abs(y)",
    "Floor(x) + Round(y, 0) + Round(x, 1) + ClampInt(y, -1, 2)",
    "Mod(x, y, 0.5)",
    "Clamp(x, y, Elem(y, 0) + 1)",
    "IfElse(x, y, x)",
    "Equal(x, y) + 2 * NotEqual(x, y) + 4 * LessThan(x, y) + 8 * LessOrEqual(x, y)",
    "Concat(Max(x), Min(x)) + Concat(ArgMax(x), ArgMin(x))",
    "Concat(XLogX(x), SinXDivX(y))",
    "Powf(x, y)",
    "Atan2(x, y)",
    "Concat(Atan(x), Asin(y)) + Concat(Acos(x), y)",
    "OneHot(Elem(x, 0), 3) + Rsqrt(y) + Normalize(x)",
    "Inv(x) + Exp(y) + Log(x) + Sqrt(y)",
};

template <class T>
std::vector<T> uniform(size_t n, uint64_t seed, double lo, double hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<T> v(n);
  for (T& x : v) x = T(dist(rng));
  return v;
}

// Max-norm relative error of got against want.
template <class T>
double relative_error(const std::vector<T>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  double err = 0, scale = 0;
  for (size_t k = 0; k < want.size(); ++k) {
    err = std::max(err, std::fabs(double(got[k]) - want[k]));
    scale = std::max(scale, std::fabs(want[k]));
  }
  return err / scale;
}

}  // namespace

TEST_CASE_TEMPLATE("the rest of the language against the reference, sizes 0, 1, 7", T, float,
                   double) {
  for (const Case& c : kCases)
    for (int64_t nx : {0, 1, 7})
      for (int64_t ny : {0, 1, 7}) check_case<T>(c, nx, ny, 0);
}

TEST_CASE_TEMPLATE("the rest of the language against the reference, sizes 1031 and 1000", T, float,
                   double) {
  for (const Case& c : kCases) check_case<T>(c, 1031, 1000, /*edge_rows=*/80);
}

TEST_CASE_TEMPLATE("special values through every element-wise and component op", T, float, double) {
  const std::vector<double> specials = {0,   -0.0,     1,         -1,  0.5, -2.5,
                                        2.5, INFINITY, -INFINITY, NAN, 3};
  const std::vector<std::string> aliases = {"x = Vi(3)", "y = Vi(3)", "b = Vj(1)"};
  const int64_t rows = 600;
  keops::test::RandomArgs<T> args;
  std::mt19937_64 rng(99);
  for (int xy = 0; xy < 2; ++xy) {
    args.data.emplace_back(size_t(rows * 3));
    for (T& e : args.data.back()) e = T(specials[rng() % specials.size()]);
  }
  args.data.push_back({T(0)});
  args.views = {
      {args.data[0].data(), rows, 3}, {args.data[1].data(), rows, 3}, {args.data[2].data(), 1, 1}};
  for (const std::string& f : kPointwise) {
    CAPTURE(f);
    const auto r = compare_with_reference<T>(f, aliases, "Sum", 1, {}, args, rows, 1);
    CHECK(r.relative() <= tolerance<T>());
  }
}

TEST_CASE_TEMPLATE("Pow((X|Y),2)*((Elem(P,0)*X)+(Elem(P,1)*Y)) against a loop", T, float, double) {
  const int64_t nx = 100, ny = 150;
  const auto x = uniform<T>(nx * 3, 1, -1, 1), y = uniform<T>(ny * 3, 2, -1, 1);
  const std::vector<T> p = {T(0.75), T(-1.5)};
  Genred op("Pow((X|Y),2)*((Elem(P,0)*X)+(Elem(P,1)*Y))", {"X = Vi(3)", "Y = Vj(3)", "P = Pm(2)"},
            "Sum", 1);
  const auto got = op({{x.data(), nx, 3}, {y.data(), ny, 3}, {p.data(), 1, 2}});
  std::vector<double> want(nx * 3, 0.0);
  for (int64_t i = 0; i < nx; ++i)
    for (int64_t j = 0; j < ny; ++j) {
      double dot = 0;
      for (int k = 0; k < 3; ++k) dot += double(x[i * 3 + k]) * y[j * 3 + k];
      for (int k = 0; k < 3; ++k)
        want[i * 3 + k] += dot * dot * (double(p[0]) * x[i * 3 + k] + double(p[1]) * y[j * 3 + k]);
    }
  CHECK(relative_error(got.values, want) <= tolerance<T>());
}

TEST_CASE_TEMPLATE("a raw Var(3,1,1) mixed with aliases", T, float, double) {
  const int64_t nx = 33, ny = 41;
  const auto x = uniform<T>(nx * 3, 3, -1, 1), y = uniform<T>(ny * 3, 4, -1, 1);
  const auto b = uniform<T>(ny, 5, 0, 1), extra = uniform<T>(ny, 6, 0, 1);
  Genred op("Exp(-SqDist(x, y)) * Var(3, 1, 1) + b", {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"}, "Sum",
            1);
  CHECK(op.arg_count() == 4);
  const auto got =
      op({{x.data(), nx, 3}, {y.data(), ny, 3}, {b.data(), ny, 1}, {extra.data(), ny, 1}});
  std::vector<double> want(nx, 0.0);
  for (int64_t i = 0; i < nx; ++i)
    for (int64_t j = 0; j < ny; ++j) {
      double d2 = 0;
      for (int k = 0; k < 3; ++k) d2 += std::pow(double(x[i * 3 + k]) - y[j * 3 + k], 2);
      want[i] += std::exp(-d2) * extra[j] + b[j];
    }
  CHECK(relative_error(got.values, want) <= tolerance<T>());
}

TEST_CASE("TensorDot with a permutation in float64, against a loop") {
  // f is 2 x 3 x 2, g is 3 x 4; contracting f's axis 1 with g's axis 0 keeps (a0, a1, c),
  // which the permutation (2, 0, 1) sends to output axes 2, 0, 1: out[a1][c][a0].
  const int64_t nx = 9, ny = 11;
  const auto f = uniform<double>(nx * 12, 7, -1, 1), g = uniform<double>(ny * 12, 8, -1, 1);
  Genred op("TensorDot(f, g, (2, 3, 2), (3, 4), (1), (0), (2, 0, 1))", {"f = Vi(12)", "g = Vj(12)"},
            "Sum", 1);
  const auto got = op({{f.data(), nx, 12}, {g.data(), ny, 12}});
  std::vector<double> want(nx * 16, 0.0);
  for (int64_t i = 0; i < nx; ++i)
    for (int64_t j = 0; j < ny; ++j)
      for (int a0 = 0; a0 < 2; ++a0)
        for (int a1 = 0; a1 < 2; ++a1)
          for (int c = 0; c < 4; ++c)
            for (int k = 0; k < 3; ++k)
              want[i * 16 + (a1 * 4 + c) * 2 + a0] +=
                  f[i * 12 + (a0 * 3 + k) * 2 + a1] * g[j * 12 + k * 4 + c];
  CHECK(relative_error(got.values, want) <= 1e-14);
}

TEST_CASE_TEMPLATE("Kron against a loop", T, float, double) {
  // numpy.kron of a 2 x 3 and a 2 x 2 matrix: a 4 x 6 matrix of blocks f[i0][i1] g.
  const int64_t nx = 5, ny = 7;
  const auto f = uniform<T>(nx * 6, 9, -1, 1), g = uniform<T>(ny * 4, 10, -1, 1);
  Genred op("Kron(f, g, (2, 3), (2, 2))", {"f = Vi(6)", "g = Vj(4)"}, "Sum", 0);
  const auto got = op({{f.data(), nx, 6}, {g.data(), ny, 4}});
  std::vector<double> want(ny * 24, 0.0);
  for (int64_t j = 0; j < ny; ++j)
    for (int64_t i = 0; i < nx; ++i)
      for (int i0 = 0; i0 < 2; ++i0)
        for (int i1 = 0; i1 < 3; ++i1)
          for (int j0 = 0; j0 < 2; ++j0)
            for (int j1 = 0; j1 < 2; ++j1)
              want[j * 24 + (i0 * 2 + j0) * 6 + i1 * 2 + j1] +=
                  double(f[i * 6 + i0 * 3 + i1]) * g[j * 4 + j0 * 2 + j1];
  CHECK(relative_error(got.values, want) <= tolerance<T>());
}

TEST_CASE_TEMPLATE("Clamp against a loop", T, float, double) {
  const int64_t nx = 50, ny = 60;
  const auto x = uniform<T>(nx * 2, 11, -2, 2), y = uniform<T>(ny * 2, 12, -2, 2);
  const auto lo = uniform<T>(nx, 13, -1, 0), hi = uniform<T>(ny, 14, 0, 1);
  Genred op("Clamp(x - y, lo, hi)", {"x = Vi(2)", "y = Vj(2)", "lo = Vi(1)", "hi = Vj(1)"}, "Sum",
            1);
  const auto got =
      op({{x.data(), nx, 2}, {y.data(), ny, 2}, {lo.data(), nx, 1}, {hi.data(), ny, 1}});
  std::vector<double> want(nx * 2, 0.0);
  for (int64_t i = 0; i < nx; ++i)
    for (int64_t j = 0; j < ny; ++j)
      for (int k = 0; k < 2; ++k) {
        const T v = x[i * 2 + k] - y[j * 2 + k];
        want[i * 2 + k] += v < lo[i] ? lo[i] : (v > hi[j] ? hi[j] : v);
      }
  CHECK(relative_error(got.values, want) <= tolerance<T>());
}

TEST_CASE_TEMPLATE("a complex DFT: sum_i x_i exp(-2 pi i t_i f_j)", T, float, double) {
  const int64_t n = 64, frequencies = 40;
  const auto signal = uniform<T>(n * 2, 15, -1, 1);
  std::vector<T> times(n), freqs(frequencies);
  for (int64_t i = 0; i < n; ++i) times[i] = T(double(i) / double(n));
  for (int64_t j = 0; j < frequencies; ++j) freqs[j] = T(j);
  Genred op("ComplexMult(s, ComplexExp1j(-6.283185307179586 * t * fr))",
            {"s = Vi(2)", "t = Vi(1)", "fr = Vj(1)"}, "Sum", 0);
  const auto got =
      op({{signal.data(), n, 2}, {times.data(), n, 1}, {freqs.data(), frequencies, 1}});
  std::vector<double> want(frequencies * 2, 0.0);
  for (int64_t j = 0; j < frequencies; ++j)
    for (int64_t i = 0; i < n; ++i) {
      const double phase = -2 * std::numbers::pi * double(i) * double(j) / double(n);
      const double re = signal[i * 2], im = signal[i * 2 + 1];
      want[j * 2] += re * std::cos(phase) - im * std::sin(phase);
      want[j * 2 + 1] += re * std::sin(phase) + im * std::cos(phase);
    }
  // float: the phase (up to 2 pi 39) is rounded to float before its cosine.
  CHECK(relative_error(got.values, want) <= (sizeof(T) == 4 ? 2e-5 : 1e-13));
}

TEST_CASE("the new ops' host machine code calls no function (no libm)") {
  const std::string formula =
      "Powf(x, y) + Asin(x * y) + Acos(x - y) + Atan(x) + Atan2(x, y) + XLogX(x) + SinXDivX(y) + "
      "Round(x, 2) + Floor(y) + Mod(x, y, 0.5) + Sum(OneHot(Elem(x, 0), 3)) + "
      "ComplexAngle(Concat(x, y)) + ComplexAbs(ComplexExp(Concat(x, y))) + "
      "SoftDTW_SqDist(x, Extract(y, 0, 2), Elem(x, 0))";
  for (auto dtype : {keops::ir::DType::F32, keops::ir::DType::F64}) {
    keops::ir::Context ctx;
    keops::codegen::KernelSpec spec;
    const auto aliases = keops::frontend::AliasTable::parse({"x = Vi(3)", "y = Vj(3)"});
    spec.formula = keops::frontend::parse_formula(formula, aliases, ctx, dtype);
    spec.dtype = dtype;
    spec.args = {{3, keops::ir::CatI}, {3, keops::ir::CatJ}};
    spec.target = keops::codegen::CpuTarget::host();
    const std::string assembly = keops::jit::cpu_kernel_assembly(spec);
    CHECK_FALSE(std::regex_search(assembly, std::regex("\\bcall")));
    CHECK_FALSE(std::regex_search(assembly, std::regex("\\bjmp\\s+[a-z_]")));
  }
}
