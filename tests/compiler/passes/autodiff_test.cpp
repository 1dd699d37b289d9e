// Tests of symbolic differentiation: every differentiable op's Grad, Diff and Hessian-vector
// product against Richardson-extrapolated central differences through the reference
// evaluator, the conventions at non-differentiable points, the derived forms and errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <unordered_set>

#include "compiler/ir/context.h"
#include "compiler/ir/evaluator.h"
#include "compiler/ir/printer.h"
#include "compiler/ir/verifier.h"
#include "compiler/passes/autodiff.h"
#include "keops/error.h"

namespace keops::passes {
namespace {

using ir::Expr;
using ir::Op;
using V = std::vector<double>;

constexpr ir::DType F64 = ir::DType::F64;
// Positions of the gradient inputs and directions the checks create (formulas use 0..9).
constexpr int kCotangent = 20, kTangent = 21, kOuterCotangent = 22;
constexpr double kStep = 1e-3;
constexpr double kTolerance = 1e-6;

size_t node_count(Expr root) {
  std::unordered_set<Expr> seen;
  std::vector<Expr> stack{root};
  while (!stack.empty()) {
    const Expr n = stack.back();
    stack.pop_back();
    if (!seen.insert(n).second) continue;
    for (Expr a : n->args) stack.push_back(a);
  }
  return seen.size();
}

// The formula's text, or only its op and size when printing it as a tree would be huge.
std::string describe(Expr f) {
  const size_t nodes = node_count(f);
  if (nodes <= 64) return ir::print(f);
  return std::string(ir::op_info(f->op).spelling) + "(...) of " + std::to_string(nodes) + " nodes";
}

// ir::verify prints every node it checks, eagerly and as a tree, which is exponential on
// deep DAGs such as the unrolled SoftDTW derivatives: only smaller graphs are verified.
void verify_small(Expr f) {
  if (node_count(f) <= 256) ir::verify(f);
}

// A float64 context, argument values by position, and the finite-difference checks.
struct Harness {
  ir::Context ctx;
  std::map<int, V> values;
  std::mt19937 rng{12345};

  V random(int dim, double lo, double hi) {
    std::uniform_real_distribution<double> u(lo, hi);
    V v(static_cast<size_t>(dim), 0.0);
    for (double& x : v) x = u(rng);
    return v;
  }
  // Var(index, dim) over i with random values in [lo, hi].
  Expr var(int index, int dim, double lo = -1, double hi = 1) {
    values[index] = random(dim, lo, hi);
    return ctx.var(index, dim, ir::CatI, F64);
  }
  // Var(index) over i holding exactly these values.
  Expr given(int index, V fixed) {
    const int dim = int(fixed.size());
    values[index] = std::move(fixed);
    return ctx.var(index, dim, ir::CatI, F64);
  }
  Expr k(V v) { return ctx.constant(std::move(v), F64); }
  Expr op(Op o, std::vector<Expr> args, std::vector<int64_t> ints = {}) {
    return ctx.make(o, std::move(args), std::move(ints));
  }

  V eval(Expr f) {
    std::vector<const double*> rows(32, nullptr);
    for (auto& [index, v] : values) rows[size_t(index)] = v.data();
    return ir::evaluate(f, rows);
  }
  // f with variable v moved by t * direction.
  V eval_moved(Expr f, Expr v, const V& direction, double t) {
    V& x = values[v->var_index()];
    const V saved = x;
    for (size_t c = 0; c < x.size(); ++c) x[c] += t * direction[c];
    V out = eval(f);
    x = saved;
    return out;
  }
  // Richardson-extrapolated central difference of f along `direction` in v: O(h^4).
  V derivative(Expr f, Expr v, const V& direction) {
    auto central = [&](double h) {
      const V plus = eval_moved(f, v, direction, h), minus = eval_moved(f, v, direction, -h);
      V d(plus.size());
      for (size_t c = 0; c < d.size(); ++c) d[c] = (plus[c] - minus[c]) / (2 * h);
      return d;
    };
    const V coarse = central(kStep), fine = central(kStep / 2);
    V d(coarse.size());
    for (size_t c = 0; c < d.size(); ++c) d[c] = (4 * fine[c] - coarse[c]) / 3;
    return d;
  }

  static void check_close(const V& got, const V& want) {
    REQUIRE(got.size() == want.size());
    double scale = 1e-3;
    for (double w : want) scale = std::max(scale, std::fabs(w));
    for (size_t c = 0; c < got.size(); ++c) {
      CAPTURE(c);
      CAPTURE(got[c]);
      CAPTURE(want[c]);
      CHECK(std::fabs(got[c] - want[c]) <= kTolerance * scale);
    }
  }

  // Grad(f, v, e) against e . df/dv_c for each component c.
  void check_grad(Expr f, Expr v) {
    const Expr e = var(kCotangent, f->dim);
    const Expr g = grad(ctx, f, v, e);
    verify_small(g);
    REQUIRE(g->dim == v->dim);
    V want(size_t(v->dim));
    for (int c = 0; c < v->dim; ++c) {
      V unit(size_t(v->dim), 0.0);
      unit[size_t(c)] = 1;
      const V d = derivative(f, v, unit);
      for (size_t r = 0; r < d.size(); ++r) want[size_t(c)] += values[kCotangent][r] * d[r];
    }
    check_close(eval(g), want);
  }

  // Diff(f, v, u) against the directional derivative.
  void check_diff(Expr f, Expr v) {
    const Expr u = var(kTangent, v->dim);
    const Expr d = diff(ctx, f, v, u);
    verify_small(d);
    REQUIRE(d->dim == f->dim);
    check_close(eval(d), derivative(f, v, values[kTangent]));
  }

  // Grad, Diff, and the Hessian-vector product Grad(Grad(f, v, e1), v, e2) checked as the
  // gradient of the gradient, for each variable.
  void check(Expr f, std::vector<Expr> vars) {
    for (Expr v : vars) {
      CAPTURE(describe(f));
      CAPTURE(describe(v));
      check_grad(f, v);
      check_diff(f, v);
      const Expr e1 = var(kOuterCotangent, f->dim);
      check_grad(grad(ctx, f, v, e1), v);
    }
  }
};

TEST_CASE("autodiff: arithmetic, with broadcasting") {
  Harness h;
  const Expr x = h.var(0, 3), y = h.var(1, 3), p = h.var(2, 1, 0.5, 1.5);
  const Expr q = h.var(3, 3, 0.5, 1.5);
  h.check(h.op(Op::Add, {x, y}), {x, y});
  h.check(h.op(Op::Add, {x, p}), {x, p});
  h.check(h.op(Op::Subtract, {p, x}), {x, p});
  h.check(h.op(Op::Mult, {x, y}), {x, y});
  h.check(h.op(Op::Mult, {p, x}), {x, p});
  h.check(h.op(Op::Mult, {x, x}), {x});
  h.check(h.op(Op::Divide, {x, q}), {x, q});
  h.check(h.op(Op::Divide, {x, p}), {x, p});
  h.check(h.op(Op::Divide, {p, q}), {p, q});
  h.check(h.op(Op::Minus, {x}), {x});
  h.check(h.op(Op::Mult, {h.op(Op::Add, {x, h.k({2})}), h.op(Op::Subtract, {y, x})}), {x, y});
}

TEST_CASE("autodiff: element-wise math") {
  Harness h;
  const Expr x = h.var(0, 3), pos = h.var(1, 3, 0.3, 2), away = h.given(2, {-1.3, 0.4, 0.8});
  const Expr unit = h.var(3, 3, -0.9, 0.9), y = h.var(4, 3, 0.5, 1.5), p = h.var(5, 1, 0.3, 1.5);
  h.check(h.op(Op::Exp, {x}), {x});
  h.check(h.op(Op::Log, {pos}), {pos});
  h.check(h.op(Op::Inv, {pos}), {pos});
  h.check(h.op(Op::Sqrt, {pos}), {pos});
  h.check(h.op(Op::Rsqrt, {pos}), {pos});
  h.check(h.op(Op::Square, {x}), {x});
  for (int64_t n : {-2, 0, 1, 3, 4}) {
    CAPTURE(n);
    h.check(h.op(Op::Pow, {away}, {n}), {away});
  }
  h.check(h.op(Op::Powf, {pos, y}), {pos, y});
  h.check(h.op(Op::Powf, {pos, p}), {pos, p});
  h.check(h.op(Op::Powf, {p, x}), {p, x});
  h.check(h.op(Op::Abs, {away}), {away});
  h.check(h.op(Op::ReLU, {away}), {away});
  h.check(h.op(Op::Sin, {x}), {x});
  h.check(h.op(Op::Cos, {x}), {x});
  h.check(h.op(Op::Asin, {unit}), {unit});
  h.check(h.op(Op::Acos, {unit}), {unit});
  h.check(h.op(Op::Atan, {x}), {x});
  h.check(h.op(Op::Atan2, {x, y}), {x, y});
  h.check(h.op(Op::Atan2, {p, x}), {x, p});
  h.check(h.op(Op::XLogX, {pos}), {pos});
  const Expr around_zero = h.given(6, {-3.1, -0.4, 0.05, 0.3, 0.7, 2.2});  // series and closed form
  h.check(h.op(Op::SinXDivX, {around_zero}), {around_zero});
}

TEST_CASE("autodiff: piecewise ops away from their breaks") {
  Harness h;
  const Expr x = h.given(0, {-1.37, -0.21, 0.42, 1.73}), lo = h.given(1, {-0.5}),
             hi = h.given(2, {0.9});
  const Expr n = h.given(3, {0.7}), offset = h.given(4, {0.13});
  const Expr y = h.given(5, {0.31, -0.77, 0.12, 1.1});
  h.check(h.op(Op::Clamp, {x, lo, hi}), {x, lo, hi});
  h.check(h.op(Op::ClampInt, {x}, {-1, 1}), {x});
  h.check(h.op(Op::Mod, {x, n, offset}), {x, n, offset});
  h.check(h.op(Op::IfElse, {y, h.op(Op::Exp, {x}), h.op(Op::Sin, {x})}), {x, y});
  h.check(h.op(Op::IfElse, {x, lo, h.op(Op::Square, {x})}), {x, lo});
  for (Op zero : {Op::Sign, Op::Step, Op::Floor}) h.check(h.op(zero, {x}), {x});
  h.check(h.op(Op::Round, {x}, {1}), {x});
  for (Op compare : {Op::Equal, Op::NotEqual, Op::LessThan, Op::LessOrEqual})
    h.check(h.op(Op::Mult, {h.op(compare, {x, y}), x}), {x, y});
}

TEST_CASE("autodiff: vector ops") {
  Harness h;
  const Expr x = h.var(0, 4), y = h.var(1, 4), s = h.var(2, 1, 0.5, 1.5);
  const Expr diag = h.var(3, 4, 0.5, 1.5), full = h.var(4, 16), p = h.var(5, 1);
  h.check(h.op(Op::Sum, {x}), {x});
  h.check(h.op(Op::Mult, {h.op(Op::Max, {x}), h.op(Op::Sum, {y})}), {x, y});
  h.check(h.op(Op::Min, {x}), {x});
  h.check(h.op(Op::Mult, {h.op(Op::ArgMax, {x}), h.op(Op::OneHot, {p}, {4})}), {x, p});
  h.check(h.op(Op::SqNorm2, {x}), {x});
  h.check(h.op(Op::Norm2, {x}), {x});
  h.check(h.op(Op::Normalize, {x}), {x});
  h.check(h.op(Op::SqDist, {x, y}), {x, y});
  h.check(h.op(Op::Scalprod, {x, y}), {x, y});
  for (Expr w : {s, diag, full}) {
    CAPTURE(w->dim);
    h.check(h.op(Op::WeightedSqNorm, {w, x}), {w, x});
    h.check(h.op(Op::WeightedSqDist, {w, x, y}), {w, x, y});
  }
  h.check(h.op(Op::Concat, {x, p}), {x, p});
  h.check(h.op(Op::Elem, {x}, {2}), {x});
  h.check(h.op(Op::Extract, {x}, {1, 2}), {x});
  h.check(h.op(Op::ElemT, {p}, {3, 1}), {p});
  h.check(h.op(Op::ExtractT, {x}, {2, 7}), {x});
  h.check(h.op(Op::SumT, {p}, {3}), {p});
  // Compositions exercise the transposed ops' own rules at higher order.
  h.check(
      h.op(Op::Exp, {h.op(Op::Concat, {h.op(Op::Extract, {x}, {1, 2}), h.op(Op::Elem, {y}, {0})})}),
      {x, y});
}

TEST_CASE("autodiff: tensor algebra") {
  Harness h;
  const Expr A = h.var(0, 12), b = h.var(1, 4), c = h.var(2, 3), t = h.var(3, 24);
  const Expr u = h.var(4, 6);
  h.check(h.op(Op::MatVecMult, {A, b}), {A, b});
  h.check(h.op(Op::VecMatMult, {c, A}), {A, c});
  h.check(h.op(Op::TensorProd, {b, c}), {b, c});
  h.check(h.op(Op::Sin, {h.op(Op::TensorProd, {b, b})}), {b});
  SUBCASE("TensorDot: contractions, full contraction, outer products, permutations") {
    // (3,4) . (4,) -> (3,)
    h.check(h.op(Op::TensorDot, {A, b}, {2, 3, 4, 1, 4, 1, 1, 0, 0}), {A, b});
    // (2,3,4) . (3,2), f axis 1 with g axis 0: kept axes (2,4) then (2,), permuted
    h.check(h.op(Op::TensorDot, {t, u}, {3, 2, 3, 4, 2, 3, 2, 1, 1, 0, 3, 2, 0, 1}), {t, u});
    // (2,3,4) . (3,2), f axes (0,1) with g axes (1,0): only f's last axis is kept
    h.check(h.op(Op::TensorDot, {t, u}, {3, 2, 3, 4, 2, 3, 2, 2, 0, 1, 1, 0, 0}), {t, u});
    // (3,4) . (3,4) fully contracted: a scalar
    h.check(h.op(Op::TensorDot, {A, A}, {2, 3, 4, 2, 3, 4, 2, 0, 1, 0, 1, 0}), {A});
    // outer product (4,) x (3,) with the axes swapped
    h.check(h.op(Op::TensorDot, {b, c}, {1, 4, 1, 3, 0, 2, 1, 0}), {b, c});
  }
  SUBCASE("Kron") {
    h.check(h.op(Op::Kron, {b, c}, {1, 4, 3}), {b, c});
    h.check(h.op(Op::Kron, {A, u}, {2, 3, 4, 2, 3}), {A, u});
  }
}

TEST_CASE("autodiff: complex ops as real maps") {
  Harness h;
  const Expr z = h.var(0, 6), w = h.var(1, 6, 0.5, 1.5), one = h.var(2, 2, 0.5, 1.5);
  const Expr r = h.var(3, 3), s = h.var(4, 1);
  for (Op o : {Op::ComplexAdd, Op::ComplexSubtract, Op::ComplexMult, Op::ComplexDivide}) {
    CAPTURE(ir::op_info(o).spelling);
    h.check(h.op(o, {z, w}), {z, w});
    h.check(h.op(o, {one, z}), {z, one});
    h.check(h.op(o, {z, one}), {z, one});
  }
  for (Op o : {Op::ComplexExp, Op::Conj, Op::ComplexReal, Op::ComplexImag, Op::ComplexAbs,
               Op::ComplexSquareAbs, Op::ComplexAngle, Op::ComplexSum}) {
    CAPTURE(ir::op_info(o).spelling);
    h.check(h.op(o, {w}), {w});
  }
  for (Op o : {Op::Real2Complex, Op::Imag2Complex, Op::ComplexExp1j}) h.check(h.op(o, {r}), {r});
  h.check(h.op(Op::ComplexSumT, {one}, {6}), {one});
  h.check(h.op(Op::ComplexRealScal, {s, z}), {s, z});
  h.check(h.op(Op::ComplexAbs, {h.op(Op::ComplexMult, {z, h.op(Op::ComplexExp, {w})})}), {z, w});
}

TEST_CASE("autodiff: BSpline in its point, SoftDTW_SqDist in every argument") {
  Harness h;
  const Expr knots = h.given(0, {-1, -0.4, 0.1, 0.3, 0.9, 1.6, 2.0});
  for (double at : {-0.13, 0.21, 0.77}) {
    const Expr x = h.given(1, {at});
    for (int64_t order : {0, 1, 2, 3}) {
      CAPTURE(at);
      CAPTURE(order);
      h.check(h.op(Op::BSpline, {knots, x}, {order}), {x});
    }
  }
  SUBCASE("repeated knots: a ratio over an empty span is 0") {
    const Expr repeated = h.given(2, {0, 0, 0.5, 0.5, 1, 1.5});
    const Expr x = h.given(1, {0.3});
    h.check(h.op(Op::BSpline, {repeated, x}, {2}), {x});
  }
  const Expr x = h.var(3, 3), y = h.var(4, 4), gamma = h.given(5, {0.7});
  h.check(h.op(Op::SoftDTW_SqDist, {x, y, gamma}), {x, y, gamma});
  h.check(h.op(Op::SoftDTW_SqDist, {x, x, gamma}), {x});
}

TEST_CASE("autodiff: Hessian-vector products of a kernel, and third derivatives") {
  Harness h;
  const Expr x = h.var(0, 3), y = h.var(1, 3), b = h.var(2, 1);
  const Expr f = h.op(Op::Mult, {h.op(Op::Exp, {h.op(Op::Minus, {h.op(Op::SqDist, {x, y})})}), b});
  const Expr e1 = h.var(10, 1), e2 = h.var(11, 3);
  const Expr g1 = grad(h.ctx, f, x, e1);
  h.check(g1, {x, y, b});
  h.check(grad(h.ctx, g1, x, e2), {x, y});
  const Expr norm = h.op(Op::Norm2, {h.op(Op::Subtract, {x, y})});
  h.check(grad(h.ctx, h.op(Op::Mult, {h.op(Op::Log, {h.op(Op::Add, {h.k({1}), norm})}), b}), x, e1),
          {x, y});
}

TEST_CASE("autodiff: the Gaussian kernel's derivative graphs stay small") {
  ir::Context ctx;
  constexpr ir::DType F32 = ir::DType::F32;
  const Expr x = ctx.var(0, 3, ir::CatI, F32), y = ctx.var(1, 3, ir::CatJ, F32);
  const Expr b = ctx.var(2, 1, ir::CatJ, F32);
  const Expr f = ctx.make(
      Op::Mult, {ctx.make(Op::Exp, {ctx.make(Op::Minus, {ctx.make(Op::SqDist, {x, y})})}), b});
  const Expr g1 = grad(ctx, f, x, ctx.var(3, 1, ir::CatI, F32));
  const Expr g2 = grad(ctx, g1, x, ctx.var(4, 3, ir::CatI, F32));
  const Expr g3 = grad(ctx, g2, x, ctx.var(5, 3, ir::CatI, F32));
  MESSAGE("Gaussian kernel derivative nodes, orders 1-3: ", node_count(g1), ", ", node_count(g2),
          ", ", node_count(g3));
  CHECK(node_count(g1) <= 13);
  CHECK(node_count(g2) <= 22);
  CHECK(node_count(g3) <= 37);
}

TEST_CASE("autodiff: a gradient that vanishes is the zero constant") {
  ir::Context ctx;
  const Expr x = ctx.var(0, 3, ir::CatI, F64);
  const Expr sum = ctx.make(Op::Add, {x, ctx.var(1, 3, ir::CatJ, F64)});
  const Expr first = grad(ctx, sum, x, ctx.var(2, 3, ir::CatI, F64));
  const Expr second = grad(ctx, first, x, ctx.var(3, 3, ir::CatI, F64));
  CHECK(second->is_constant_value(0));
  CHECK(second->dim == 3);
  // A formula without the variable has a zero gradient and a zero differential.
  const Expr y = ctx.var(1, 3, ir::CatJ, F64);
  CHECK(grad(ctx, ctx.make(Op::Exp, {y}), x, ctx.var(2, 3, ir::CatI, F64))->is_constant_value(0));
  CHECK(diff(ctx, ctx.make(Op::Exp, {y}), x, x)->is_constant_value(0));
}

TEST_CASE("autodiff: conventions at non-differentiable points") {
  Harness h;
  const Expr x = h.given(0, {0.0});
  const Expr one = h.k({1});
  auto slope = [&](Expr f, Expr v) { return h.eval(grad(h.ctx, f, v, one))[0]; };
  CHECK(slope(h.op(Op::Abs, {x}), x) == 0);
  CHECK(slope(h.op(Op::ReLU, {x}), x) == 1);  // Step(0) = 1
  CHECK(slope(h.op(Op::Sign, {x}), x) == 0);
  CHECK(slope(h.op(Op::Step, {x}), x) == 0);
  CHECK(slope(h.op(Op::Sqrt, {x}), x) == 0);
  CHECK(slope(h.op(Op::Rsqrt, {x}), x) == 0);
  CHECK(slope(h.op(Op::SinXDivX, {x}), x) == 0);
  CHECK(h.eval(laplacian(h.ctx, h.op(Op::SinXDivX, {x}), x))[0] ==
        doctest::Approx(-1.0 / 3).epsilon(1e-15));
  CHECK(slope(h.op(Op::Floor, {h.given(1, {2.0})}), h.ctx.var(1, 1, ir::CatI, F64)) == 0);
  CHECK(slope(h.op(Op::Mod, {h.given(2, {1.0}), one, h.k({0})}), h.ctx.var(2, 1, ir::CatI, F64)) ==
        1);
  SUBCASE("Asin and Acos at 1, Norm2 and Normalize at 0") {
    const Expr edge = h.given(3, {1.0});
    CHECK(slope(h.op(Op::Asin, {edge}), edge) == 0);
    CHECK(slope(h.op(Op::Acos, {edge}), edge) == 0);
    const Expr origin = h.given(4, {0.0, 0.0});
    CHECK(h.eval(grad(h.ctx, h.op(Op::Norm2, {origin}), origin, one)) == V{0, 0});
    CHECK(h.eval(grad(h.ctx, h.op(Op::Normalize, {origin}), origin, h.k({1, 2}))) == V{0, 0});
  }
  SUBCASE("Clamp at its bounds: x gets the derivative, the bounds do not") {
    const Expr lo = h.given(5, {-1.0}), hi = h.given(6, {1.0});
    const Expr at = h.given(7, {-1.0, 1.0, -2.0, 2.0, 0.5});
    const Expr clamp = h.op(Op::Clamp, {at, lo, hi});
    const Expr e = h.k({1, 1, 1, 1, 1});
    CHECK(h.eval(grad(h.ctx, clamp, at, e)) == V{1, 1, 0, 0, 1});
    CHECK(h.eval(grad(h.ctx, clamp, lo, e)) == V{1});  // only x = -2 is below
    CHECK(h.eval(grad(h.ctx, clamp, hi, e)) == V{1});  // only x = 2 is above
    CHECK(h.eval(grad(h.ctx, h.op(Op::ClampInt, {at}, {-1, 1}), at, e)) == V{1, 1, 0, 0, 1});
  }
  SUBCASE("IfElse: the condition gets nothing, only the chosen branch gets e") {
    const Expr c = h.given(8, {0.0, -1.0}), a = h.given(9, {3.0, 4.0});
    const Expr f = h.op(Op::IfElse, {c, h.op(Op::Square, {a}), h.op(Op::Minus, {a})});
    CHECK(h.eval(grad(h.ctx, f, a, h.k({1, 1}))) == V{6, -1});  // c = 0 chooses the first
    CHECK(grad(h.ctx, f, c, h.k({1, 1}))->is_constant_value(0));
  }
  SUBCASE("Max and Min: the first selected component on ties") {
    const Expr v = h.given(10, {2.0, 5.0, 5.0, -1.0, -1.0});
    CHECK(h.eval(grad(h.ctx, h.op(Op::Max, {v}), v, one)) == V{0, 1, 0, 0, 0});
    CHECK(h.eval(grad(h.ctx, h.op(Op::Min, {v}), v, one)) == V{0, 0, 0, 1, 0});
  }
}

TEST_CASE("autodiff: GradMatrix, Divergence and Laplacian on known functions") {
  Harness h;
  const Expr x = h.var(0, 3);
  const V A = {1, 2, 3, 4, 5, 6};
  CHECK(h.eval(grad_matrix(h.ctx, h.op(Op::MatVecMult, {h.k(A), x}), x)) == A);
  // Row k of GradMatrix is the gradient of component k: d(x_k^2)/dx_l = 2 x_k [k = l].
  const V gm = h.eval(grad_matrix(h.ctx, h.op(Op::Square, {x}), x));
  const V& xv = h.values[0];
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) CHECK(gm[size_t(3 * r + c)] == (r == c ? 2 * xv[size_t(r)] : 0));
  CHECK(h.eval(grad_matrix(h.ctx, h.op(Op::Sum, {x}), x)) == V{1, 1, 1});

  const Expr div = divergence(h.ctx, x, x);
  CHECK((div->is_constant() && div->values == V{3}));
  CHECK(h.eval(divergence(h.ctx, h.op(Op::Square, {x}), x))[0] ==
        doctest::Approx(2 * (xv[0] + xv[1] + xv[2])));

  const Expr lap = laplacian(h.ctx, h.op(Op::SqNorm2, {x}), x);
  CHECK((lap->is_constant() && lap->values == V{6}));
  // Laplacian of exp(-|x|^2) is (4|x|^2 - 2d) exp(-|x|^2).
  const double r2 = xv[0] * xv[0] + xv[1] * xv[1] + xv[2] * xv[2];
  const Expr gauss = h.op(Op::Exp, {h.op(Op::Minus, {h.op(Op::SqNorm2, {x})})});
  CHECK(h.eval(laplacian(h.ctx, gauss, x))[0] ==
        doctest::Approx((4 * r2 - 6) * std::exp(-r2)).epsilon(1e-12));
}

std::string error_of(const std::function<void()>& run) {
  try {
    run();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST_CASE("autodiff: errors name the form and the problem") {
  ir::Context ctx;
  const Expr x = ctx.var(0, 3, ir::CatI, F64), p = ctx.var(1, 1, ir::CatP, F64);
  const Expr f = ctx.make(Op::Exp, {x});
  CHECK(error_of([&] { grad(ctx, f, f, x); }) ==
        "in Grad: differentiation is with respect to a variable (an alias or Var(index, dim, "
        "cat)), not a formula (Exp)");
  CHECK(error_of([&] { diff(ctx, f, ctx.scalar(1, F64), x); }).find("in Diff: ") == 0);
  CHECK(error_of([&] { grad(ctx, f, x, p); }) ==
        "in Grad: the gradient input e has dim 1, but the formula has dim 3 (they must be equal)");
  CHECK(error_of([&] { grad(ctx, f, x, ctx.var(2, 3, ir::CatI, ir::DType::F32)); }) ==
        "in Grad: the gradient input e is float32 but the formula is float64");
  CHECK(error_of([&] { diff(ctx, f, x, p); }) ==
        "in Diff: the direction u has dim 1, but the variable has dim 3 (they must be equal)");
  CHECK(error_of([&] { divergence(ctx, ctx.make(Op::Sum, {x}), x); }) ==
        "in Divergence: the formula has dim 1, but the variable has dim 3 (they must be equal)");
  CHECK(error_of([&] { laplacian(ctx, f, x); }) ==
        "in Laplacian: the formula must be scalar (dim 1), not dim 3");
  CHECK(error_of([&] {
          grad_matrix(ctx, f, ctx.make(Op::Sum, {x}));
        }).find("in GradMatrix: differentiation is with respect to a variable") == 0);
  CHECK(error_of([&] {
          grad(ctx, ctx.make(Op::BSpline, {x, p}, {1}), x, p);
        }) == "in BSpline: the derivative with respect to the knots is not supported yet");
  const Expr long_series = ctx.var(2, 40, ir::CatI, F64);
  CHECK(error_of([&] {
          grad(ctx, ctx.make(Op::SoftDTW_SqDist, {long_series, long_series, p}), long_series, p);
        }).find("in SoftDTW_SqDist: the derivative is not supported yet for series of 40 x 40") ==
        0);
}

}  // namespace
}  // namespace keops::passes
