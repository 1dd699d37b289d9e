// The reference evaluator: every op of ops.def against hand-computed values, and evaluate().
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <numbers>

#include "compiler/ir/evaluator.h"
#include "keops/error.h"
#include "tests/compiler/ir/test_util.h"

namespace keops::ir {
namespace {

using testing::check_values;
using testing::Ir;
using V = std::vector<double>;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kPi = std::numbers::pi;

TEST_CASE("eval_op: arithmetic, with broadcasting of dim-1 arguments") {
  Ir ir;
  check_values(ir.fold(Op::Add, {{1, 2}, {10, 20}}), {11, 22});
  check_values(ir.fold(Op::Add, {{1, 2, 3}, {10}}), {11, 12, 13});
  check_values(ir.fold(Op::Add, {{10}, {1, 2, 3}}), {11, 12, 13});
  check_values(ir.fold(Op::Subtract, {{1, 2, 3}, {1}}), {0, 1, 2});
  check_values(ir.fold(Op::Subtract, {{1}, {1, 2, 3}}), {0, -1, -2});
  check_values(ir.fold(Op::Mult, {{2}, {1, -2, 3}}), {2, -4, 6});
  check_values(ir.fold(Op::Divide, {{1, -1, 0}, {0}}), {kInf, -kInf, kNaN});
  check_values(ir.fold(Op::Divide, {{6}, {2, 3}}), {3, 2});
  check_values(ir.fold(Op::Minus, {{1, -2}}), {-1, 2});
}

TEST_CASE("eval_op: exp, log, powers and roots") {
  Ir ir;
  check_values(ir.fold(Op::Exp, {{0, 1}}), {1, std::exp(1.0)});
  check_values(ir.fold(Op::Log, {{1, 0, -1}}), {0, -kInf, kNaN});
  check_values(ir.fold(Op::Inv, {{2, 0}}), {0.5, kInf});
  check_values(ir.fold(Op::Sqrt, {{4, 0}}), {2, 0});
  SUBCASE("Rsqrt is 0 at 0") { check_values(ir.fold(Op::Rsqrt, {{4, 0}}), {0.5, 0}); }
  check_values(ir.fold(Op::Square, {{-3}}), {9});
  check_values(ir.fold(Op::Pow, {{2, -3}}, {3}), {8, -27});
  check_values(ir.fold(Op::Pow, {{2}}, {-1}), {0.5});
  check_values(ir.fold(Op::Pow, {{5}}, {0}), {1});
  check_values(ir.fold(Op::Powf, {{4, 9}, {0.5}}), {2, 3});
  check_values(ir.fold(Op::Powf, {{2}, {3, -1}}), {8, 0.5});
}

TEST_CASE("eval_op: sign-like functions at 0 and NaN follow keopscore's branches") {
  Ir ir;
  check_values(ir.fold(Op::Abs, {{-2, 3}}), {2, 3});
  check_values(ir.fold(Op::Sign, {{-2, 0, 3, kNaN}}), {-1, 0, 1, 0});
  // (x < 0) ? 0 : 1, so Step(0) = 1 and Step(NaN) = 1.
  check_values(ir.fold(Op::Step, {{-1, 0, 2, kNaN}}), {0, 1, 1, 1});
  check_values(ir.fold(Op::ReLU, {{-1, 0, 2, kNaN}}), {0, 0, 2, kNaN});
}

TEST_CASE("eval_op: trigonometry") {
  Ir ir;
  check_values(ir.fold(Op::Sin, {{0, kPi / 2}}), {0, 1});
  check_values(ir.fold(Op::Cos, {{0, kPi}}), {1, -1});
  check_values(ir.fold(Op::Asin, {{1, 2}}), {kPi / 2, kNaN});
  check_values(ir.fold(Op::Acos, {{-1}}), {kPi});
  check_values(ir.fold(Op::Atan, {{1}}), {kPi / 4});
  check_values(ir.fold(Op::Atan2, {{1, -1}, {-1}}), {3 * kPi / 4, -3 * kPi / 4});
  SUBCASE("XLogX is 0 at 0") {
    check_values(ir.fold(Op::XLogX, {{0, std::exp(1.0), 1}}), {0, std::exp(1.0), 0});
  }
  SUBCASE("SinXDivX is 1 at 0") {
    check_values(ir.fold(Op::SinXDivX, {{0, kPi / 2}}), {1, 2 / kPi});
  }
}

TEST_CASE("eval_op: rounding, modulo and clamping") {
  Ir ir;
  check_values(ir.fold(Op::Floor, {{-1.5, 1.5, 2}}), {-2, 1, 2});
  SUBCASE("Round rounds half away from zero, to d decimals") {
    check_values(ir.fold(Op::Round, {{2.5, -2.5, 1.4}}, {0}), {3, -3, 1});
    check_values(ir.fold(Op::Round, {{1.2345, -1.2355}}, {2}), {1.23, -1.24});
    check_values(ir.fold(Op::Round, {{123, 155}}, {-1}), {120, 160});
  }
  SUBCASE("Mod(x, n, offset) lands in [offset, offset + n)") {
    check_values(ir.fold(Op::Mod, {{7, -1, 3}, {3}, {0}}), {1, 2, 0});
    check_values(ir.fold(Op::Mod, {{5}, {3}, {-1}}), {-1});
    check_values(ir.fold(Op::Mod, {{2.5}, {2}, {0.5, 1}}), {0.5, 2.5});
  }
  check_values(ir.fold(Op::Clamp, {{-5, 0.5, 5}, {0}, {1}}), {0, 0.5, 1});
  check_values(ir.fold(Op::Clamp, {{2}, {0, 3}, {1, 4}}), {1, 3});
  check_values(ir.fold(Op::ClampInt, {{-5, 0.5, 5}}, {0, 1}), {0, 0.5, 1});
}

TEST_CASE("eval_op: IfElse and comparisons") {
  Ir ir;
  // a where c >= 0 (0 included), else b; NaN picks b.
  check_values(ir.fold(Op::IfElse, {{1, 0, -1, kNaN}, {10, 20, 30, 40}, {-1}}), {10, 20, -1, -1});
  check_values(ir.fold(Op::IfElse, {{-1}, {1, 2}, {3, 4}}), {3, 4});
  check_values(ir.fold(Op::Equal, {{1, 2, kNaN}, {2, 2, kNaN}}), {0, 1, 0});
  check_values(ir.fold(Op::NotEqual, {{1, 2, kNaN}, {2, 2, kNaN}}), {1, 0, 1});
  check_values(ir.fold(Op::LessThan, {{1, 2, 3}, {2}}), {1, 0, 0});
  check_values(ir.fold(Op::LessOrEqual, {{1, 2, 3}, {2}}), {1, 1, 0});
}

TEST_CASE("eval_op: reductions over components") {
  Ir ir;
  check_values(ir.fold(Op::Sum, {{1, 2, 3.5}}), {6.5});
  check_values(ir.fold(Op::Max, {{1, 3, 3, -1}}), {3});
  check_values(ir.fold(Op::Min, {{1, -3, 3, -3}}), {-3});
  SUBCASE("ties go to the lowest index") {
    check_values(ir.fold(Op::ArgMax, {{1, 3, 3, -1}}), {1});
    check_values(ir.fold(Op::ArgMin, {{1, -3, 3, -3}}), {1});
    check_values(ir.fold(Op::ArgMax, {{2, 2}}), {0});
  }
  SUBCASE("a NaN after the first component is never selected") {
    check_values(ir.fold(Op::Max, {{1, kNaN, 2}}), {2});
    check_values(ir.fold(Op::ArgMin, {{1, kNaN, 0}}), {2});
  }
  check_values(ir.fold(Op::ArgMax, {{5}}), {0});
}

TEST_CASE("eval_op: norms and distances") {
  Ir ir;
  check_values(ir.fold(Op::SqNorm2, {{3, 4}}), {25});
  check_values(ir.fold(Op::Norm2, {{3, 4}}), {5});
  check_values(ir.fold(Op::Normalize, {{3, 4}}), {0.6, 0.8});
  check_values(ir.fold(Op::Normalize, {{0, 0}}), {0, 0});
  check_values(ir.fold(Op::SqDist, {{1, 2}, {4, 6}}), {25});
  check_values(ir.fold(Op::Scalprod, {{1, 2, 3}, {4, 5, 6}}), {32});
  SUBCASE("WeightedSqNorm: isotropic, diagonal and full weights") {
    check_values(ir.fold(Op::WeightedSqNorm, {{2}, {1, 2}}), {10});
    check_values(ir.fold(Op::WeightedSqNorm, {{2, 3}, {1, 2}}), {2 + 12});
    // f^T S f with S = [[1, 2], [3, 4]] row-major: 1*1 + 2*1*2 + 3*2*1 + 4*2*2.
    check_values(ir.fold(Op::WeightedSqNorm, {{1, 2, 3, 4}, {1, 2}}), {1 + 4 + 6 + 16});
    check_values(ir.fold(Op::WeightedSqNorm, {{3}, {2}}), {12});
  }
  check_values(ir.fold(Op::WeightedSqDist, {{2, 3}, {2, 3}, {1, 1}}), {2 + 12});
  check_values(ir.fold(Op::WeightedSqDist, {{1, 2, 3, 4}, {1, 2}, {0, 0}}), {27});
}

TEST_CASE("eval_op: slicing and injection") {
  Ir ir;
  check_values(ir.fold(Op::Concat, {{1}, {2, 3}}), {1, 2, 3});
  check_values(ir.fold(Op::Elem, {{1, 2, 3}}, {2}), {3});
  check_values(ir.fold(Op::Extract, {{1, 2, 3, 4}}, {1, 2}), {2, 3});
  check_values(ir.fold(Op::ElemT, {{7}}, {4, 2}), {0, 0, 7, 0});
  check_values(ir.fold(Op::ExtractT, {{7, 8}}, {1, 4}), {0, 7, 8, 0});
  check_values(ir.fold(Op::SumT, {{7}}, {3}), {7, 7, 7});
  SUBCASE("OneHot(f, n) sets component (int)(f + 0.5); out of range gives zeros") {
    check_values(ir.fold(Op::OneHot, {{2}}, {4}), {0, 0, 1, 0});
    check_values(ir.fold(Op::OneHot, {{1.6}}, {4}), {0, 0, 1, 0});
    check_values(ir.fold(Op::OneHot, {{1.4}}, {4}), {0, 1, 0, 0});
    check_values(ir.fold(Op::OneHot, {{-0.7}}, {3}), {1, 0, 0});  // C truncation of -0.2
    check_values(ir.fold(Op::OneHot, {{3}}, {3}), {0, 0, 0});
    check_values(ir.fold(Op::OneHot, {{-2}}, {3}), {0, 0, 0});
    check_values(ir.fold(Op::OneHot, {{kNaN}}, {2}), {0, 0});
  }
}

TEST_CASE("eval_op: matrix products, row-major") {
  Ir ir;
  // A = [[1, 2, 3], [4, 5, 6]].
  check_values(ir.fold(Op::MatVecMult, {{1, 2, 3, 4, 5, 6}, {1, 0, -1}}), {-2, -2});
  check_values(ir.fold(Op::VecMatMult, {{1, -1}, {1, 2, 3, 4, 5, 6}}), {-3, -3, -3});
  check_values(ir.fold(Op::TensorProd, {{1, 2}, {3, 4, 5}}), {3, 4, 5, 6, 8, 10});
}

// ints of TensorDot: nf, dims_f, ng, dims_g, nc, contract_f, contract_g, np, perm.
std::vector<int64_t> tensordot_ints(std::vector<int64_t> df, std::vector<int64_t> dg,
                                    std::vector<int64_t> cf, std::vector<int64_t> cg,
                                    std::vector<int64_t> perm) {
  std::vector<int64_t> ints{int64_t(df.size())};
  ints.insert(ints.end(), df.begin(), df.end());
  ints.push_back(int64_t(dg.size()));
  ints.insert(ints.end(), dg.begin(), dg.end());
  ints.push_back(int64_t(cf.size()));
  ints.insert(ints.end(), cf.begin(), cf.end());
  ints.insert(ints.end(), cg.begin(), cg.end());
  ints.push_back(int64_t(perm.size()));
  ints.insert(ints.end(), perm.begin(), perm.end());
  return ints;
}

TEST_CASE("eval_op: TensorDot with numpy.tensordot meaning") {
  Ir ir;
  const V a{1, 2, 3, 4, 5, 6};   // 2 x 3
  const V b{1, 0, 0, 1, 2, -1};  // 3 x 2
  SUBCASE("a matrix product") {
    // a @ b = [[1 + 6, 2 - 3], [4 + 12, 5 - 6]].
    check_values(ir.fold(Op::TensorDot, {a, b}, tensordot_ints({2, 3}, {3, 2}, {1}, {0}, {})),
                 {7, -1, 16, -1});
  }
  SUBCASE("a full contraction over two axes, in the given pairing") {
    // sum_kl a[k][l] c[l][k] with c = a^T laid out 3 x 2: the squared norm of a.
    const V at{1, 4, 2, 5, 3, 6};
    check_values(
        ir.fold(Op::TensorDot, {a, at}, tensordot_ints({2, 3}, {3, 2}, {0, 1}, {1, 0}, {})), {91});
  }
  SUBCASE("no contraction is the outer product") {
    check_values(ir.fold(Op::TensorDot, {{1, 2}, {3, 4, 5}}, tensordot_ints({2}, {3}, {}, {}, {})),
                 {3, 4, 5, 6, 8, 10});
  }
  SUBCASE("permute [1, 0] transposes the result") {
    check_values(ir.fold(Op::TensorDot, {a, b}, tensordot_ints({2, 3}, {3, 2}, {1}, {0}, {1, 0})),
                 {7, 16, -1, -1});
  }
  SUBCASE("permute sends kept axis q to output axis perm[q] (keopscore's convention)") {
    // f: 2 x 3, g: 4, no contraction: T[p][q][r] = f[p][q] g[r]. perm [1, 2, 0] puts axis 0
    // at position 1, axis 1 at 2 and axis 2 at 0: out has shape 4 x 2 x 3, out[r][p][q].
    const V g{1, 10, 100, 1000};
    const V got = ir.fold(Op::TensorDot, {a, g}, tensordot_ints({2, 3}, {4}, {}, {}, {1, 2, 0}));
    V want;
    for (int r = 0; r < 4; ++r)
      for (int p = 0; p < 2; ++p)
        for (int q = 0; q < 3; ++q) want.push_back(a[size_t(p * 3 + q)] * g[size_t(r)]);
    check_values(got, want);
  }
}

TEST_CASE("eval_op: Kron with numpy.kron meaning") {
  Ir ir;
  check_values(ir.fold(Op::Kron, {{1, 2}, {1, 10, 100}}, {1, 2, 3}), {1, 10, 100, 2, 20, 200});
  // kron([[1, 2], [3, 4]], [[0, 5], [6, 7]]).
  check_values(ir.fold(Op::Kron, {{1, 2, 3, 4}, {0, 5, 6, 7}}, {2, 2, 2, 2, 2}),
               {0, 5, 0, 10, 6, 7, 12, 14, 0, 15, 0, 20, 18, 21, 24, 28});
  SUBCASE("equals keopscore's TensorDot definition, for a rank-3 non-involutive permutation") {
    V f(4), g(6);
    for (size_t k = 0; k < f.size(); ++k) f[k] = double(k + 1);
    for (size_t k = 0; k < g.size(); ++k) g[k] = double(10 * (k + 1));
    const V kron = ir.fold(Op::Kron, {f, g}, {3, 2, 1, 2, 1, 3, 2});
    const V dot = ir.fold(Op::TensorDot, {f, g},
                          tensordot_ints({2, 1, 2}, {1, 3, 2}, {}, {}, {0, 2, 4, 1, 3, 5}));
    check_values(kron, dot);
    // One entry by hand: out shape (2, 3, 4); out[1][2][3] = f[1][0][1] g[0][2][1].
    CHECK(kron[size_t(1 * 12 + 2 * 4 + 3)] == f[3] * g[5]);
  }
}

TEST_CASE("eval_op: complex arithmetic, with a single complex number broadcast") {
  Ir ir;
  check_values(ir.fold(Op::ComplexAdd, {{1, 2, 3, 4}, {10, 20}}), {11, 22, 13, 24});
  check_values(ir.fold(Op::ComplexAdd, {{10, 20}, {1, 2, 3, 4}}), {11, 22, 13, 24});
  check_values(ir.fold(Op::ComplexSubtract, {{1, 2, 3, 4}, {1, 1}}), {0, 1, 2, 3});
  check_values(ir.fold(Op::ComplexSubtract, {{1, 1}, {1, 2, 3, 4}}), {0, -1, -2, -3});
  // (1 + 2i)(3 + 4i) = -5 + 10i; (1 + 2i) i = -2 + i.
  check_values(ir.fold(Op::ComplexMult, {{1, 2, 1, 2}, {3, 4, 0, 1}}), {-5, 10, -2, 1});
  check_values(ir.fold(Op::ComplexMult, {{0, 1}, {1, 2, 3, 4}}), {-2, 1, -4, 3});
  check_values(ir.fold(Op::ComplexDivide, {{-5, 10, 2, 0}, {3, 4}}), {1, 2, 0.24, -0.32});
  check_values(ir.fold(Op::ComplexDivide, {{1, 0}, {0, 2, 1, 1}}), {0, -0.5, 0.5, -0.5});
}

TEST_CASE("eval_op: complex functions") {
  Ir ir;
  const V e = ir.fold(Op::ComplexExp, {{0, kPi, std::log(2.0), kPi / 2}});
  CHECK(e[0] == doctest::Approx(-1));
  CHECK(std::abs(e[1]) < 1e-15);
  CHECK(std::abs(e[2]) < 1e-15);
  CHECK(e[3] == doctest::Approx(2));
  check_values(ir.fold(Op::Conj, {{1, 2, 3, -4}}), {1, -2, 3, 4});
  check_values(ir.fold(Op::ComplexReal, {{1, 2, 3, 4}}), {1, 3});
  check_values(ir.fold(Op::ComplexImag, {{1, 2, 3, 4}}), {2, 4});
  check_values(ir.fold(Op::ComplexAbs, {{3, 4, 0, -2}}), {5, 2});
  check_values(ir.fold(Op::ComplexSquareAbs, {{3, 4, 0, -2}}), {25, 4});
  check_values(ir.fold(Op::ComplexAngle, {{0, 1, -1, 0, 1, -1}}), {kPi / 2, kPi, -kPi / 4});
  check_values(ir.fold(Op::Real2Complex, {{1, 2}}), {1, 0, 2, 0});
  check_values(ir.fold(Op::Imag2Complex, {{1, 2}}), {0, 1, 0, 2});
  const V u = ir.fold(Op::ComplexExp1j, {{0, kPi / 2}});
  check_values({u[0], u[1], u[3]}, {1, 0, 1});
  CHECK(std::abs(u[2]) < 1e-15);
  check_values(ir.fold(Op::ComplexSum, {{1, 2, 3, 4, 5, 6}}), {9, 12});
  // keopscore's ComplexSumT(f, dim): dim is the output dim, dim / 2 copies of f.
  check_values(ir.fold(Op::ComplexSumT, {{1, 2}}, {6}), {1, 2, 1, 2, 1, 2});
  check_values(ir.fold(Op::ComplexRealScal, {{2}, {1, 2, 3, 4}}), {2, 4, 6, 8});
}

TEST_CASE("eval_op: BSpline (Cox-de Boor, half-open spans)") {
  Ir ir;
  const V knots{0, 1, 2, 3};
  check_values(ir.fold(Op::BSpline, {knots, {1.5}}, {0}), {0, 1, 0});
  check_values(ir.fold(Op::BSpline, {knots, {1}}, {0}), {0, 1, 0});
  check_values(ir.fold(Op::BSpline, {knots, {3}}, {0}), {0, 0, 0});
  // Hat functions on [0, 2] and [1, 3].
  check_values(ir.fold(Op::BSpline, {knots, {1.5}}, {1}), {0.5, 0.5});
  check_values(ir.fold(Op::BSpline, {knots, {0.25}}, {1}), {0.25, 0});
  // The uniform quadratic B-spline is (-2x^2 + 6x - 3) / 2 on [1, 2].
  check_values(ir.fold(Op::BSpline, {knots, {1.5}}, {2}), {0.75});
  check_values(ir.fold(Op::BSpline, {knots, {0.5}}, {2}), {0.125});
  // Repeated knots (empty spans give ratio 0): the linear Bernstein basis (1 - x, x).
  check_values(ir.fold(Op::BSpline, {{0, 0, 1, 1}, {0.25}}, {1}), {0.75, 0.25});
}

TEST_CASE("eval_op: SoftDTW_SqDist") {
  Ir ir;
  check_values(ir.fold(Op::SoftDTW_SqDist, {{0}, {3}, {1}}), {9});
  // First row and column are plain cumulative sums: x = [0, 1, 2] against y = [0].
  check_values(ir.fold(Op::SoftDTW_SqDist, {{0, 1, 2}, {0}, {1}}), {5});
  check_values(ir.fold(Op::SoftDTW_SqDist, {{0}, {0, 1, 2}, {1}}), {5});
  // r00 = 0, r10 = r01 = 1, r11 = 0 + softmin_1(0, 1, 1) = -log(1 + 2 / e).
  check_values(ir.fold(Op::SoftDTW_SqDist, {{0, 1}, {0, 1}, {1}}),
               {-std::log(1 + 2 * std::exp(-1.0))});
  // With a small gamma, the soft minimum tends to the DTW distance.
  const V hard = ir.fold(Op::SoftDTW_SqDist, {{0, 1, 1, 2}, {0, 1, 2}, {1e-3}});
  CHECK(std::abs(hard[0]) < 1e-6);
  // x = [0, 2], y = [1, 3], gamma = 2: r00 = 1, r10 = 1 + 1 = 2, r01 = 9 + 1 = 10,
  // r11 = 1 + softmin_2(1, 2, 10).
  const double lo = 1, g = 2;
  const double want =
      1 + lo -
      g * std::log(std::exp((lo - 1) / g) + std::exp((lo - 2) / g) + std::exp((lo - 10) / g));
  check_values(ir.fold(Op::SoftDTW_SqDist, {{0, 2}, {1, 3}, {2}}), {want});
}

TEST_CASE("eval_op can be called directly on a node and its argument values") {
  Ir ir;
  const Expr x = ir.vi(0, 3), y = ir.vj(1, 1);
  const Expr sum = ir.op(Op::Add, {x, y});
  const double xv[] = {1, 2, 3}, yv[] = {10};
  double out[3];
  eval_op(*sum, {xv, yv}, out);
  check_values({out[0], out[1], out[2]}, {11, 12, 13});
}

TEST_CASE("evaluate runs a formula for one (i, j) pair") {
  Ir ir;
  const Expr x = ir.vi(0, 2), y = ir.vj(2, 2), p = ir.pm(3, 1);
  // Exp(-p |x - y|^2) * (x - y), sharing x - y.
  const Expr diff = ir.op(Op::Subtract, {x, y});
  const Expr f =
      ir.op(Op::Mult,
            {ir.op(Op::Exp, {ir.op(Op::Minus, {ir.op(Op::Mult, {p, ir.op(Op::SqNorm2, {diff})})})}),
             diff});
  const double xv[] = {1, 2}, yv[] = {0, 0}, pv[] = {0.5};
  // Argument 1 is not used and may be null.
  const V got = evaluate(f, {xv, nullptr, yv, pv});
  const double w = std::exp(-0.5 * 5);
  check_values(got, {w * 1, w * 2});
  SUBCASE("a constant formula needs no data") { check_values(evaluate(ir.k({1, 2}), {}), {1, 2}); }
  SUBCASE("a Var alone is its row") { check_values(evaluate(y, {nullptr, nullptr, yv}), {0, 0}); }
  SUBCASE("missing data for a used argument is an error") {
    CHECK_THROWS_WITH_AS(evaluate(f, {xv, nullptr, nullptr, pv}),
                         doctest::Contains("no data for argument 2"), keops::Error);
    CHECK_THROWS_AS(evaluate(f, {xv}), keops::Error);
  }
}

TEST_CASE("evaluate handles deep graphs without recursion") {
  Ir ir;
  Expr f = ir.vi(0, 1);
  for (int k = 0; k < 100000; ++k) f = ir.op(Op::Add, {f, ir.k({1})});
  const double x[] = {0.5};
  check_values(evaluate(f, {x}), {100000.5});
}

}  // namespace
}  // namespace keops::ir
