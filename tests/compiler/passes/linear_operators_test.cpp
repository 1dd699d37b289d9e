// Tests of keopscore's linear operators: linearity by the classes of ops.def, and each
// operator against the Jacobian taken by central differences through the reference evaluator.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <string>
#include <unordered_set>
#include <vector>

#include "compiler/frontend/parser.h"
#include "compiler/ir/context.h"
#include "compiler/ir/evaluator.h"
#include "compiler/passes/linear_operators.h"
#include "keops/error.h"

namespace keops::passes {
namespace {

using ir::Expr;
using V = std::vector<double>;

constexpr ir::DType F64 = ir::DType::F64;
constexpr int kU = 2;  // the position of u, the variable the formulas are linear in

struct Fixture {
  ir::Context ctx;
  frontend::AliasTable aliases = frontend::AliasTable::parse(
      {"x = Vi(3)", "y = Vj(3)", "u = Vi(3)", "w = Pm(3)", "s = Pm(1)", "e = Vi(2)"});
  std::vector<V> rows = {
      {0.3, -0.2, 0.5}, {0.1, 0.4, -0.6}, {0.7, -0.1, 0.2}, {1.5, -0.5, 2.0}, {0.8}, {0.3, -1.1}};
  Expr u = ctx.var(kU, 3, ir::CatI, F64);

  Expr parse(std::string_view text) { return frontend::parse_formula(text, aliases, ctx, F64); }

  // f at the rows, with u's row replaced by `at` (null: u must not be read).
  V eval(Expr f, const double* at) {
    std::vector<const double*> pointers;
    for (const V& r : rows) pointers.push_back(r.data());
    pointers[kU] = at;
    return ir::evaluate(f, pointers);
  }
  // The Jacobian of f in u, J[k][l] = d f_k / d u_l, by central differences (exact for a
  // linear f up to rounding, whatever the step).
  std::vector<V> jacobian(Expr f) {
    std::vector<V> j(size_t(f->dim), V(3));
    for (int l = 0; l < 3; ++l) {
      V up = rows[kU], down = rows[kU];
      up[size_t(l)] += 1;
      down[size_t(l)] -= 1;
      const V fu = eval(f, up.data()), fd = eval(f, down.data());
      for (int k = 0; k < f->dim; ++k)
        j[size_t(k)][size_t(l)] = (fu[size_t(k)] - fd[size_t(k)]) / 2;
    }
    return j;
  }
  // The result must not read u: evaluated without it.
  double scalar_without_u(Expr r) {
    REQUIRE(r->dim == 1);
    return eval(r, nullptr)[0];
  }
};

// Formulas linear in u: of dim 3 (square Jacobians) and of dims 1 and 2.
const char* const kSquare[] = {"Exp(-SqDist(x, y)) * u", "MatVecMult(TensorProd(x, y), u) - u / s",
                               "Concat(Sum(u * y), Extract(u, 1, 2) * Elem(x, 0))"};
const char* const kScalar = "(x | u) / (1 + SqNorm2(y)) + Elem(ElemT(Elem(u, 2), 3, 1), 1)";

}  // namespace

TEST_CASE("linear operators: the linearity classes of ops.def are keopscore's") {
  const std::map<std::string_view, ir::Linearity> keopscore = {
      {"Add", ir::Linearity::All},        {"Subtract", ir::Linearity::All},
      {"Minus", ir::Linearity::All},      {"Sum", ir::Linearity::All},
      {"Elem", ir::Linearity::All},       {"Extract", ir::Linearity::All},
      {"ElemT", ir::Linearity::All},      {"ExtractT", ir::Linearity::All},
      {"SumT", ir::Linearity::All},       {"Concat", ir::Linearity::All},
      {"Mult", ir::Linearity::One},       {"Scalprod", ir::Linearity::One},
      {"MatVecMult", ir::Linearity::One}, {"VecMatMult", ir::Linearity::One},
      {"TensorProd", ir::Linearity::One}, {"TensorDot", ir::Linearity::One},
      {"Divide", ir::Linearity::First}};
  for (int k = 0; k < ir::op_count(); ++k) {
    const ir::OpInfo& info = ir::op_info(ir::Op(k));
    CAPTURE(info.spelling);
    const auto it = keopscore.find(info.spelling);
    CHECK(info.linearity == (it == keopscore.end() ? ir::Linearity::None : it->second));
  }
}

TEST_CASE_FIXTURE(Fixture, "linear operators: linearity by the classes of ops.def") {
  for (const char* text : {"u", "u * 2", "u * y", "y * u + u", "Sum(u)", "(u | x)", "u / x",
                           "Concat(u, -u)", "Extract(u, 0, 2)", "MatVecMult(w * w * w, u)",
                           "TensorProd(u, s)", "SumT(Elem(u, 1), 3)", "0 * x"}) {
    CAPTURE(text);
    CHECK(is_linear(parse(text), u));
  }
  for (const char* text : {"x", "u * u", "u * Exp(u)", "u + y", "x / u", "Exp(u)", "u + 1",
                           "Concat(u, x)", "Sqrt(Square(u))", "Kron(u, s, (3), (1))"}) {
    CAPTURE(text);
    CHECK_FALSE(is_linear(parse(text), u));
  }
}

TEST_CASE_FIXTURE(Fixture,
                  "linear operators: TraceOperator is the weighted trace of the Jacobian") {
  for (const char* text : kSquare) {
    CAPTURE(text);
    const Expr f = parse(text);
    const std::vector<V> j = jacobian(f);
    const V& w = rows[3];
    const double s = rows[4][0];
    double trace = 0, weighted = 0;
    for (size_t k = 0; k < 3; ++k) {
      trace += j[k][k];
      weighted += w[k] * j[k][k];
    }
    CHECK(scalar_without_u(trace_operator(ctx, f, u, nullptr)) == doctest::Approx(trace));
    CHECK(scalar_without_u(trace_operator(ctx, f, u, parse("w"))) == doctest::Approx(weighted));
    CHECK(scalar_without_u(trace_operator(ctx, f, u, parse("s"))) == doctest::Approx(s * trace));
  }
  // A scalar f: sum_k w_k J_1k.
  const Expr f = parse(kScalar);
  const std::vector<V> j = jacobian(f);
  double sum = 0, weighted = 0;
  for (size_t k = 0; k < 3; ++k) {
    sum += j[0][k];
    weighted += rows[3][k] * j[0][k];
  }
  CHECK(scalar_without_u(trace_operator(ctx, f, u, nullptr)) == doctest::Approx(sum));
  CHECK(scalar_without_u(trace_operator(ctx, f, u, parse("w"))) == doctest::Approx(weighted));
}

TEST_CASE_FIXTURE(Fixture, "linear operators: AdjointOperator is J^T u, SumLinOperator wl^T J wr") {
  const char* texts[] = {kSquare[0], kSquare[1], kSquare[2], kScalar,
                         "Concat(Sum(u * y), Elem(u, 1) - Elem(u, 0) * s)"};
  for (const char* text : texts) {
    CAPTURE(text);
    const Expr f = parse(text);
    const std::vector<V> j = jacobian(f);
    const size_t m = size_t(f->dim);
    // A cotangent of f's dim: e for dim 2, w (or its first component) otherwise.
    const Expr ct = m == 2 ? parse("e") : m == 3 ? parse("w") : parse("s");
    const V& ctv = m == 2 ? rows[5] : m == 3 ? rows[3] : rows[4];
    const V adjoint = eval(adjoint_operator(ctx, f, u, ct), nullptr);
    REQUIRE(adjoint.size() == 3);
    for (size_t l = 0; l < 3; ++l) {
      double want = 0;
      for (size_t k = 0; k < m; ++k) want += ctv[k] * j[k][l];
      CHECK(adjoint[l] == doctest::Approx(want));
    }
    // wl of f's dim or 1 (s), wr of u's dim (w) or 1 (s), or absent.
    auto sum_lin = [&](const V* wl, const V* wr) {
      double total = 0;
      for (size_t k = 0; k < m; ++k)
        for (size_t l = 0; l < 3; ++l)
          total += (wl ? (*wl)[wl->size() == 1 ? 0 : k] : 1) * j[k][l] *
                   (wr ? (*wr)[wr->size() == 1 ? 0 : l] : 1);
      return total;
    };
    CHECK(scalar_without_u(sum_lin_operator(ctx, f, u, nullptr, nullptr)) ==
          doctest::Approx(sum_lin(nullptr, nullptr)));
    CHECK(scalar_without_u(sum_lin_operator(ctx, f, u, ct, parse("w"))) ==
          doctest::Approx(sum_lin(&ctv, &rows[3])));
    CHECK(scalar_without_u(sum_lin_operator(ctx, f, u, parse("s"), parse("s"))) ==
          doctest::Approx(sum_lin(&rows[4], &rows[4])));
    CHECK(scalar_without_u(sum_lin_operator(ctx, f, u, nullptr, parse("w"))) ==
          doctest::Approx(sum_lin(nullptr, &rows[3])));
  }
}

TEST_CASE_FIXTURE(Fixture, "linear operators: errors") {
  auto message = [&](auto run) {
    try {
      run();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  auto check_contains = [](const std::string& m, const std::string& part) {
    CHECK_MESSAGE(m.find(part) != std::string::npos, "'", part, "' not in: ", m);
  };
  check_contains(message([&] { trace_operator(ctx, parse("u * u"), u, nullptr); }),
                 "in TraceOperator: the formula is not linear in the variable");
  check_contains(message([&] { adjoint_operator(ctx, parse("Exp(u)"), u, parse("w")); }),
                 "in AdjointOperator: the formula is not linear in the variable");
  check_contains(message([&] { sum_lin_operator(ctx, parse("u + 1"), u, nullptr, nullptr); }),
                 "in SumLinOperator: the formula is not linear in the variable");
  check_contains(message([&] { trace_operator(ctx, parse("u"), parse("u * 2"), nullptr); }),
                 "in TraceOperator: differentiation is with respect to a variable");
  check_contains(message([&] { trace_operator(ctx, parse("u"), u, parse("e")); }),
                 "in TraceOperator: w has dim 2; it must be 1 or the variable's dim 3");
  check_contains(message([&] { trace_operator(ctx, parse("Extract(u, 0, 2)"), u, nullptr); }),
                 "in TraceOperator: the formula has dim 2; it must be 1 or the variable's dim 3");
  check_contains(message([&] { adjoint_operator(ctx, parse("u"), u, parse("e")); }),
                 "in AdjointOperator: u has dim 2, but the formula has dim 3 (they must be equal)");
  check_contains(message([&] { sum_lin_operator(ctx, parse("u"), u, parse("e"), nullptr); }),
                 "in SumLinOperator: wl has dim 2; it must be 1 or the formula's dim 3");
  check_contains(
      message([&] { sum_lin_operator(ctx, parse("Elem(u, 0)"), u, nullptr, parse("e")); }),
      "in SumLinOperator: wr has dim 2; it must be 1 or the variable's dim 3");
}

}  // namespace keops::passes
