// Tests of the Gaussian exponent folding: which exponents move their scale into the points,
// the rewritten form, and that it keeps the formula's value.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "compiler/ir/evaluator.h"
#include "compiler/ir/printer.h"
#include "compiler/passes/exp_scale.h"

namespace keops::passes {
namespace {

using ir::Expr;
using ir::Op;

constexpr ir::DType F32 = ir::DType::F32;

struct Fixture {
  ir::Context ctx;
  Expr x = ctx.var(0, 3, ir::CatI, F32);
  Expr y = ctx.var(1, 3, ir::CatJ, F32);
  Expr b = ctx.var(2, 1, ir::CatJ, F32);
  Expr g = ctx.var(3, 1, ir::CatP, F32);

  Expr make(Op op, std::vector<Expr> args) { return ctx.make(op, std::move(args)); }
  Expr num(double v) { return ctx.scalar(v, F32); }
  Expr sqdist(Expr u, Expr v) { return make(Op::SqDist, {u, v}); }
  Expr folded(Expr e) { return fold_exp_scale(ctx, {e})[0]; }
  // The folded form of Exp(c * SqDist(u, v)).
  Expr expected(double c, Expr u, Expr v) {
    Expr k = num(std::sqrt(std::fabs(c) * M_LOG2E));
    return make(Op::Exp,
                {make(Op::Mult, {num(c < 0 ? -M_LN2 : M_LN2),
                                 sqdist(make(Op::Mult, {u, k}), make(Op::Mult, {v, k}))})});
  }
  // f and its folded form at a few points: equal but for the rounding of k to float32.
  void check_same_values(Expr f) {
    const Expr h = folded(f);
    const double xs[][3] = {{0.1, -0.4, 0.25}, {1.5, 0.5, -2.0}, {-0.3, 0.0, 0.9}};
    const double ys[][3] = {{0.2, 0.1, -0.7}, {1.0, 0.75, -1.5}, {-0.3, 0.0, 0.9}};
    const double bv = 1.75, gv = 0.5;
    for (int k = 0; k < 3; ++k) {
      const std::vector<const double*> rows{xs[k], ys[k], &bv, &gv};
      const double want = ir::evaluate(f, rows)[0], got = ir::evaluate(h, rows)[0];
      CHECK(got == doctest::Approx(want).epsilon(1e-6));
    }
  }
};

TEST_CASE_FIXTURE(Fixture, "fold_exp_scale: the scales of Gaussian exponents go into the points") {
  Expr d = sqdist(x, y);
  CHECK(folded(make(Op::Exp, {make(Op::Minus, {d})})) == expected(-1, x, y));
  CHECK(folded(make(Op::Exp, {make(Op::Mult, {num(-0.5), d})})) == expected(-0.5, x, y));
  CHECK(folded(make(Op::Exp, {make(Op::Mult, {d, num(-2)})})) == expected(-2, x, y));
  CHECK(folded(make(Op::Exp, {make(Op::Minus, {make(Op::Divide, {d, num(0.25)})})})) ==
        expected(-4, x, y));
  CHECK(folded(make(Op::Exp, {make(Op::Mult, {num(3), d})})) == expected(3, x, y));
  // Inside a larger formula, and in formula2, each exponent folds.
  Expr gauss = make(Op::Exp, {make(Op::Minus, {d})});
  const std::vector<Expr> roots =
      fold_exp_scale(ctx, {make(Op::Mult, {gauss, b}), make(Op::Minus, {gauss})});
  CHECK(roots[0] == make(Op::Mult, {expected(-1, x, y), b}));
  CHECK(roots[1] == make(Op::Minus, {expected(-1, x, y)}));
  // A point that is a row's expression (x + 1) is scaled whole.
  Expr shifted = make(Op::Add, {x, num(1)});
  CHECK(folded(make(Op::Exp, {make(Op::Minus, {sqdist(shifted, y)})})) == expected(-1, shifted, y));
}

TEST_CASE_FIXTURE(Fixture, "fold_exp_scale: keeps the formula's value") {
  Expr d = sqdist(x, y);
  check_same_values(make(Op::Mult, {make(Op::Exp, {make(Op::Minus, {d})}), b}));
  check_same_values(make(Op::Exp, {make(Op::Mult, {d, num(-0.3)})}));
  check_same_values(make(Op::Exp, {make(Op::Divide, {d, num(4)})}));
  check_same_values(make(Op::Exp, {make(Op::Minus, {sqdist(make(Op::Mult, {x, g}), y)})}));
}

TEST_CASE_FIXTURE(Fixture, "fold_exp_scale: leaves alone what would cost more per pair") {
  Expr d = sqdist(x, y);
  auto unchanged = [&](Expr f) { CHECK(folded(f) == f); };
  // A scale that is not a constant (g may be negative), or no SqDist.
  unchanged(make(Op::Exp, {make(Op::Mult, {g, make(Op::Minus, {d})})}));
  unchanged(make(Op::Exp, {make(Op::Minus, {make(Op::Sum, {make(Op::Square, {x})})})}));
  unchanged(make(Op::Exp, {make(Op::Add, {make(Op::Minus, {d}), num(1)})}));
  // A point depending on both indices would be scaled for every pair.
  Expr mixed = make(Op::Add, {x, y});
  unchanged(make(Op::Exp, {make(Op::Minus, {sqdist(mixed, y)})}));
  // x - y, or the SqDist itself, also used elsewhere: they share the differences now.
  unchanged(make(Op::Mult, {make(Op::Exp, {make(Op::Minus, {d})}), make(Op::Subtract, {x, y})}));
  unchanged(make(Op::Mult, {make(Op::Exp, {make(Op::Minus, {d})}), d}));
  unchanged(make(Op::Mult, {make(Op::Exp, {make(Op::Minus, {d})}), make(Op::Minus, {d})}));
}

}  // namespace
}  // namespace keops::passes
