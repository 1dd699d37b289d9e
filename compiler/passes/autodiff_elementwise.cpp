// Derivative rules of arithmetic and element-wise math. e is the node's adjoint and F the
// node; each rule sends e * dF/d(argument) to its arguments (broadcast ones get the sum).
#include <cmath>

#include "compiler/passes/autodiff_rules.h"
#include "compiler/support/check.h"

namespace keops::passes::detail {
namespace {

// |x| below which SinXDivX' uses its Taylor series: there (Cos(x) - SinXDivX(x))/x loses
// about eps/x^2 to cancellation, and seven terms are exact to double precision.
constexpr double kSincSeriesRadius = 0.5;

// a^k, written with the cheapest op.
Expr power(const Step& s, Expr a, int64_t k) {
  if (k == 1) return a;
  if (k == 2) return s.make(Op::Square, {a});
  return s.make(Op::Pow, {a}, {k});
}

// SinXDivX'(x) = sum_{k>=1} (-1)^k 2k x^(2k-1) / (2k+1)!, Horner in x^2, for |x| small.
Expr sinc_derivative_series(const Step& s, Expr x) {
  const Expr x2 = s.make(Op::Square, {x});
  Expr sum = nullptr;
  for (int k = 7; k >= 1; --k) {
    double factorial = 1;
    for (int j = 2; j <= 2 * k + 1; ++j) factorial *= j;
    const Expr c = s.num((k % 2 ? -1.0 : 1.0) * 2 * k / factorial);
    sum = sum ? s.add(c, s.mul(x2, sum)) : c;
  }
  return s.mul(x, sum);
}

// Clamp(x, lo, hi) is lo where x < lo, else hi where x > hi, else x (keopscore's order of
// tests, which also holds for lo > hi, and gives x at NaN): 1 where it takes each branch.
Expr takes_lo(const Step& s, Expr x, Expr lo) { return s.make(Op::LessThan, {x, lo}); }
Expr takes_hi(const Step& s, Expr x, Expr lo, Expr hi) {
  return s.mul(s.sub(s.num(1), takes_lo(s, x, lo)), s.make(Op::LessThan, {hi, x}));
}
Expr takes_x(const Step& s, Expr x, Expr lo, Expr hi) {
  return s.mul(s.sub(s.num(1), takes_lo(s, x, lo)), s.sub(s.num(1), s.make(Op::LessThan, {hi, x})));
}

}  // namespace

void rule_elementwise(Step& s) {
  const Expr e = s.adjoint(), F = s.node();
  const Expr a = s.arg(0);
  const Expr b = F->args.size() > 1 ? s.arg(1) : nullptr;
  // Sends e * D to the single argument.
  auto chain = [&](auto derivative) { s.send(0, [&] { return s.mul(e, derivative()); }); };
  switch (F->op) {
    case Op::Add:  // d(a + b) = da + db
      s.send(0, [&] { return e; });
      s.send(1, [&] { return e; });
      return;
    case Op::Subtract:  // d(a - b) = da - db
      s.send(0, [&] { return e; });
      s.send(1, [&] { return s.neg(e); });
      return;
    case Op::Mult:  // d(ab) = b da + a db
      s.send(0, [&] { return s.mul(e, b); });
      s.send(1, [&] { return s.mul(e, a); });
      return;
    case Op::Divide:  // d(a/b) = da/b - (a/b) db/b
      s.send(0, [&] { return s.div(e, b); });
      s.send(1, [&] { return s.neg(s.div(s.mul(e, F), b)); });
      return;
    case Op::Minus:
      s.send(0, [&] { return s.neg(e); });
      return;
    case Op::Exp:  // exp' = exp
      return chain([&] { return F; });
    case Op::Log:  // log' = 1/a
      s.send(0, [&] { return s.div(e, a); });
      return;
    case Op::Inv:  // (1/a)' = -(1/a)^2
      s.send(0, [&] { return s.neg(s.mul(e, s.make(Op::Square, {F}))); });
      return;
    case Op::Sqrt:  // sqrt' = Rsqrt/2, 0 at 0 as Rsqrt(0) = 0
      return chain([&] { return s.mul(s.num(0.5), s.make(Op::Rsqrt, {a})); });
    case Op::Rsqrt:  // (a^-1/2)' = -Rsqrt(a)^3/2, 0 at 0
      return chain([&] { return s.mul(s.num(-0.5), power(s, F, 3)); });
    case Op::Square:  // (a^2)' = 2a
      return chain([&] { return s.mul(s.num(2), a); });
    case Op::Pow: {  // (a^n)' = n a^(n-1)
      const int64_t n = F->ints[0];
      if (n == 0) return;
      if (n == 1) return s.send(0, [&] { return e; });
      return chain([&] { return s.mul(s.num(double(n)), power(s, a, n - 1)); });
    }
    case Op::Powf:  // d(a^b) = b a^(b-1) da + log(a) a^b db
      s.send(0, [&] { return s.mul(e, s.mul(b, s.make(Op::Powf, {a, s.sub(b, s.num(1))}))); });
      s.send(1, [&] { return s.mul(e, s.mul(F, s.make(Op::Log, {a}))); });
      return;
    case Op::Abs:  // |a|' = Sign(a): 0 at 0
      return chain([&] { return s.make(Op::Sign, {a}); });
    case Op::ReLU:  // ReLU' = Step: 1 at 0
      return chain([&] { return s.make(Op::Step, {a}); });
    case Op::Sin:
      return chain([&] { return s.make(Op::Cos, {a}); });
    case Op::Cos:
      s.send(0, [&] { return s.neg(s.mul(e, s.make(Op::Sin, {a}))); });
      return;
    case Op::Asin:  // asin' = 1/sqrt(1 - a^2), written with Rsqrt as keopscore does
      return chain([&] { return s.make(Op::Rsqrt, {s.sub(s.num(1), s.make(Op::Square, {a}))}); });
    case Op::Acos:  // acos' = -asin'
      s.send(0, [&] {
        return s.neg(s.mul(e, s.make(Op::Rsqrt, {s.sub(s.num(1), s.make(Op::Square, {a}))})));
      });
      return;
    case Op::Atan:  // atan' = 1/(1 + a^2)
      s.send(0, [&] { return s.div(e, s.add(s.num(1), s.make(Op::Square, {a}))); });
      return;
    case Op::Atan2: {  // atan2(a, b): d = (b da - a db) / (a^2 + b^2)
      const auto r2 = [&] { return s.add(s.make(Op::Square, {a}), s.make(Op::Square, {b})); };
      s.send(0, [&] { return s.div(s.mul(e, b), r2()); });
      s.send(1, [&] { return s.neg(s.div(s.mul(e, a), r2())); });
      return;
    }
    case Op::XLogX:  // (a log a)' = log a + 1
      return chain([&] { return s.add(s.make(Op::Log, {a}), s.num(1)); });
    case Op::SinXDivX:  // (sin a / a)' = (cos a - sin a / a) / a, and its series near 0
      return chain([&] {
        const Expr near_zero =
            s.sub(s.num(kSincSeriesRadius * kSincSeriesRadius), s.make(Op::Square, {a}));
        // The closed form reads a point kept away from 0, so that neither it nor its own
        // derivatives are NaN where the series is chosen (0 * NaN would leak through).
        const Expr away = s.make(Op::IfElse, {near_zero, s.num(1), a});
        const Expr closed_form =
            s.div(s.sub(s.make(Op::Cos, {away}), s.make(Op::SinXDivX, {away})), away);
        return s.make(Op::IfElse, {near_zero, sinc_derivative_series(s, a), closed_form});
      });
    case Op::Mod:  // a - n Floor((a - offset)/n): d/da = 1, d/dn = -Floor(...), Floor' = 0
      s.send(0, [&] { return e; });
      s.send(1, [&] { return s.neg(s.mul(e, s.make(Op::Floor, {s.div(s.sub(a, s.arg(2)), b)}))); });
      return;
    case Op::Clamp:  // each of x, lo, hi gets e where Clamp takes its value
      s.send(0, [&] { return s.mul(e, takes_x(s, a, b, s.arg(2))); });
      s.send(1, [&] { return s.mul(e, takes_lo(s, a, b)); });
      s.send(2, [&] { return s.mul(e, takes_hi(s, a, b, s.arg(2))); });
      return;
    case Op::ClampInt:  // keopscore's DiffClampInt
      return chain(
          [&] { return takes_x(s, a, s.num(double(F->ints[0])), s.num(double(F->ints[1]))); });
    case Op::IfElse:  // the chosen branch gets e, the other 0, the condition nothing
      s.send(1, [&] { return s.make(Op::IfElse, {a, e, s.num(0)}); });
      s.send(2, [&] { return s.make(Op::IfElse, {a, s.num(0), e}); });
      return;
    case Op::Sign:  // piecewise constant: zero derivative
    case Op::Step:
    case Op::Floor:
    case Op::Round:
    case Op::Equal:
    case Op::NotEqual:
    case Op::LessThan:
    case Op::LessOrEqual:
      return;
    default:
      KEOPS_CHECK(false, "not an element-wise op");
  }
}

}  // namespace keops::passes::detail
