// Tests of the simplification pass: each rewrite, canonical order, the changed flag, and
// that rewritten formulas keep their values.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "compiler/ir/evaluator.h"
#include "compiler/ir/printer.h"
#include "compiler/passes/simplify.h"

namespace keops::passes {
namespace {

using ir::Expr;
using ir::Op;

constexpr ir::DType F64 = ir::DType::F64;

struct Fixture {
  ir::Context ctx;
  Expr x = ctx.var(0, 3, ir::CatI, F64);
  Expr y = ctx.var(1, 3, ir::CatJ, F64);
  Expr p = ctx.var(2, 1, ir::CatP, F64);
  Expr q = ctx.var(3, 1, ir::CatI, F64);

  Expr make(Op op, std::vector<Expr> args, std::vector<int64_t> ints = {}) {
    return ctx.make(op, std::move(args), std::move(ints));
  }
  Expr num(double v) { return ctx.scalar(v, F64); }
  Expr zeros(int dim) { return ctx.zeros(dim, F64); }
  Expr simplified(Expr e) {
    simplify(ctx, e);
    return e;
  }
};

TEST_CASE_FIXTURE(Fixture, "simplify: reports whether it changed the formula") {
  Expr unchanged = make(Op::Exp, {x});
  CHECK_FALSE(simplify(ctx, unchanged));
  CHECK(unchanged == make(Op::Exp, {x}));
  Expr changed = make(Op::Exp, {make(Op::Mult, {num(2), make(Op::Mult, {num(3), x})})});
  CHECK(simplify(ctx, changed));
  CHECK(changed == make(Op::Exp, {make(Op::Mult, {num(6), x})}));
  CHECK_FALSE(simplify(ctx, changed));  // a fixed point
}

TEST_CASE_FIXTURE(Fixture, "simplify: constant factors merge and come first") {
  CHECK(simplified(make(Op::Mult, {x, num(2)})) == make(Op::Mult, {num(2), x}));
  CHECK(simplified(make(Op::Mult, {make(Op::Mult, {x, num(2)}), num(3)})) ==
        make(Op::Mult, {num(6), x}));
  CHECK(simplified(make(Op::Mult, {x, make(Op::Mult, {num(2), y})})) ==
        make(Op::Mult, {num(2), simplified(make(Op::Mult, {x, y}))}));
  CHECK(simplified(make(Op::Mult, {num(-1), x})) == make(Op::Minus, {x}));
  CHECK(simplified(make(Op::Minus, {make(Op::Mult, {num(2), x})})) == make(Op::Mult, {num(-2), x}));
  CHECK(simplified(make(Op::Mult, {num(2), make(Op::Minus, {x})})) == make(Op::Mult, {num(-2), x}));
  CHECK(simplified(make(Op::Divide, {make(Op::Mult, {num(4), x}), y})) ==
        make(Op::Mult, {num(4), make(Op::Divide, {x, y})}));
  CHECK(simplified(make(Op::Mult, {x, x})) == make(Op::Square, {x}));
}

TEST_CASE_FIXTURE(Fixture, "simplify: Minus is pulled up and absorbed") {
  CHECK(simplified(make(Op::Add, {x, make(Op::Minus, {y})})) == make(Op::Subtract, {x, y}));
  CHECK(simplified(make(Op::Add, {make(Op::Minus, {x}), y})) == make(Op::Subtract, {y, x}));
  CHECK(simplified(make(Op::Subtract, {x, make(Op::Minus, {y})})) ==
        simplified(make(Op::Add, {x, y})));
  CHECK(simplified(make(Op::Minus, {make(Op::Subtract, {x, y})})) == make(Op::Subtract, {y, x}));
  CHECK(simplified(make(Op::Mult, {make(Op::Minus, {x}), make(Op::Minus, {y})})) ==
        simplified(make(Op::Mult, {x, y})));
  CHECK(simplified(make(Op::Divide, {make(Op::Minus, {x}), make(Op::Minus, {y})})) ==
        make(Op::Divide, {x, y}));
  CHECK(simplified(make(Op::Square, {make(Op::Minus, {x})})) == make(Op::Square, {x}));
  CHECK(simplified(make(Op::SqNorm2, {make(Op::Minus, {x})})) == make(Op::SqNorm2, {x}));
}

TEST_CASE_FIXTURE(Fixture, "simplify: like terms collect, sums and products have one order") {
  CHECK(simplified(make(Op::Add, {x, make(Op::Mult, {num(2), x})})) == make(Op::Mult, {num(3), x}));
  CHECK(simplified(make(Op::Add, {x, x})) == make(Op::Mult, {num(2), x}));
  CHECK(simplified(make(Op::Subtract, {x, x})) == zeros(3));
  CHECK(simplified(make(Op::Subtract, {make(Op::Mult, {num(3), x}), make(Op::Minus, {x})})) ==
        make(Op::Mult, {num(4), x}));
  CHECK(simplified(make(Op::Add, {x, y})) == simplified(make(Op::Add, {y, x})));
  CHECK(simplified(make(Op::Mult, {x, y})) == simplified(make(Op::Mult, {y, x})));
  // x + p with p broadcast: not collected into one term of another dim.
  CHECK(simplified(make(Op::Add, {p, make(Op::Mult, {num(2), p})})) == make(Op::Mult, {num(3), p}));
}

TEST_CASE_FIXTURE(Fixture, "simplify: sums of injections and of scaled vectors") {
  CHECK(simplified(make(Op::Sum, {make(Op::ElemT, {p}, {4, 1})})) == p);
  CHECK(simplified(make(Op::Sum, {make(Op::ExtractT, {x}, {1, 5})})) == make(Op::Sum, {x}));
  CHECK(simplified(make(Op::Sum, {make(Op::SumT, {p}, {3})})) == make(Op::Mult, {num(3), p}));
  CHECK(simplified(make(Op::Sum, {make(Op::Mult, {p, x})})) ==
        simplified(make(Op::Mult, {p, make(Op::Sum, {x})})));
  CHECK(simplified(make(Op::Sum, {make(Op::Minus, {x})})) == make(Op::Minus, {make(Op::Sum, {x})}));
  CHECK(simplified(make(Op::Sum, {p})) == p);
  // SumT as an argument of an element-wise op is the broadcast the op does itself.
  CHECK(simplified(make(Op::Mult, {x, make(Op::SumT, {p}, {3})})) ==
        simplified(make(Op::Mult, {x, p})));
}

TEST_CASE_FIXTURE(Fixture, "simplify: slices of concatenations, slices and injections") {
  const Expr xy = make(Op::Concat, {x, y});
  CHECK(simplified(make(Op::Extract, {xy}, {0, 3})) == x);
  CHECK(simplified(make(Op::Extract, {xy}, {3, 3})) == y);
  CHECK(simplified(make(Op::Extract, {xy}, {4, 2})) == make(Op::Extract, {y}, {1, 2}));
  CHECK(simplified(make(Op::Extract, {xy}, {2, 2})) == make(Op::Extract, {xy}, {2, 2}));
  CHECK(simplified(make(Op::Elem, {xy}, {4})) == make(Op::Elem, {y}, {1}));
  CHECK(simplified(make(Op::Elem, {make(Op::Extract, {xy}, {1, 4})}, {3})) ==
        make(Op::Elem, {y}, {1}));
  CHECK(simplified(make(Op::Extract, {make(Op::Extract, {xy}, {1, 4})}, {1, 2})) ==
        make(Op::Extract, {xy}, {2, 2}));  // across the seam of the Concat
  CHECK(simplified(make(Op::Extract, {make(Op::Extract, {xy}, {1, 4})}, {0, 2})) ==
        make(Op::Extract, {x}, {1, 2}));
  CHECK(simplified(make(Op::Elem, {make(Op::ElemT, {p}, {3, 1})}, {1})) == p);
  CHECK(simplified(make(Op::Elem, {make(Op::ElemT, {p}, {3, 1})}, {2})) == zeros(1));
  CHECK(simplified(make(Op::Elem, {make(Op::ExtractT, {x}, {2, 6})}, {3})) ==
        make(Op::Elem, {x}, {1}));
  CHECK(simplified(make(Op::Elem, {make(Op::ExtractT, {x}, {2, 6})}, {5})) == zeros(1));
  CHECK(simplified(make(Op::Extract, {make(Op::ExtractT, {x}, {2, 6})}, {2, 3})) == x);
  CHECK(simplified(make(Op::Extract, {make(Op::ExtractT, {x}, {3, 6})}, {0, 3})) == zeros(3));
  CHECK(simplified(make(Op::Extract, {make(Op::ElemT, {p}, {5, 3})}, {2, 2})) ==
        make(Op::ElemT, {p}, {2, 1}));
  CHECK(simplified(make(Op::Extract, {make(Op::ElemT, {p}, {5, 3})}, {0, 2})) == zeros(2));
  CHECK(simplified(make(Op::Elem, {make(Op::SumT, {p}, {4})}, {2})) == p);
  CHECK(simplified(make(Op::Extract, {make(Op::SumT, {p}, {4})}, {1, 2})) ==
        make(Op::SumT, {p}, {2}));
  CHECK(simplified(make(Op::Elem, {p}, {0})) == p);
  CHECK(simplified(make(Op::ExtractT, {x}, {0, 3})) == x);
  CHECK(simplified(make(Op::ElemT, {p}, {1, 0})) == p);
  CHECK(simplified(make(Op::SumT, {p}, {1})) == p);
}

TEST_CASE_FIXTURE(Fixture, "simplify: zero arguments of linear ops") {
  CHECK(simplified(make(Op::Scalprod, {x, zeros(3)})) == zeros(1));
  CHECK(simplified(make(Op::MatVecMult, {zeros(6), x})) == zeros(2));
  CHECK(simplified(make(Op::TensorProd, {x, zeros(2)})) == zeros(6));
  CHECK(simplified(make(Op::Divide, {zeros(3), x})) == zeros(3));  // KeOps's Zero: 0/x = 0
  CHECK(simplified(make(Op::IfElse, {x, y, y})) == y);
  CHECK(simplified(make(Op::IfElse, {x, zeros(1), num(0)})) == zeros(3));
  CHECK(simplified(make(Op::ComplexMult, {zeros(2), make(Op::Concat, {p, q})})) == zeros(2));
}

TEST_CASE_FIXTURE(Fixture, "simplify: rewritten formulas keep their values") {
  const std::vector<double> xv = {0.3, -1.2, 0.7}, yv = {1.1, 0.4, -0.5}, pv = {0.9}, qv = {-0.6};
  const std::vector<const double*> rows = {xv.data(), yv.data(), pv.data(), qv.data()};
  const Expr scaled = make(Op::Mult, {make(Op::Minus, {x}), make(Op::Mult, {num(3), y})});
  const Expr formulas[] = {
      make(Op::Add, {make(Op::Sum, {make(Op::Mult, {p, scaled})}),
                     make(Op::Elem, {make(Op::Concat, {x, y})}, {4})}),
      make(Op::Subtract, {make(Op::Divide, {make(Op::Mult, {num(2), x}), make(Op::Minus, {y})}),
                          make(Op::Mult, {make(Op::SumT, {q}, {3}), make(Op::Add, {x, x})})}),
      make(Op::Exp,
           {make(Op::Minus, {make(Op::Extract, {make(Op::Concat, {scaled, y})}, {2, 3})})}),
  };
  for (Expr f : formulas) {
    CAPTURE(ir::print(f));
    Expr g = f;
    simplify(ctx, g);
    const auto want = ir::evaluate(f, rows), got = ir::evaluate(g, rows);
    REQUIRE(got.size() == want.size());
    for (size_t k = 0; k < got.size(); ++k)
      CHECK(got[k] == doctest::Approx(want[k]).epsilon(1e-14));
  }
}

}  // namespace
}  // namespace keops::passes
