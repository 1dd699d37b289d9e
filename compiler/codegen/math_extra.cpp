// Inverse trigonometric functions, pow and decimal rounding as straight-line IR (math_extra.h).
#include "compiler/codegen/math_extra.h"

#include <cmath>
#include <initializer_list>
#include <vector>

#include <llvm/IR/Intrinsics.h>

#include "compiler/codegen/math.h"

namespace keops::codegen {
namespace {

using llvm::Value;

constexpr long double kPi = 3.141592653589793238462643383279502884L;

bool is_double(Value* x) { return x->getType()->getScalarType()->isDoubleTy(); }

Value* constant(Value* like, double v) { return llvm::ConstantFP::get(like->getType(), v); }

Value* intrinsic(llvm::IRBuilderBase& b, llvm::Intrinsic::ID id, std::initializer_list<Value*> x) {
  return b.CreateIntrinsic(id, {(*x.begin())->getType()}, x);
}

// Horner's scheme with multiply-adds; coefficients from the highest degree down.
Value* polynomial(llvm::IRBuilderBase& b, Value* z, std::initializer_list<double> coefficients) {
  Value* acc = nullptr;
  for (double c : coefficients)
    acc = acc ? intrinsic(b, llvm::Intrinsic::fmuladd, {acc, z, constant(z, c)}) : constant(z, c);
  return acc;
}

// v - t for a constant v split into hi + lo at the precision of t: hi + (lo - t) rounds once,
// where the rounding of hi alone would cost up to half an ulp of the result.
Value* constant_minus(llvm::IRBuilderBase& b, long double v, Value* t) {
  const double hi = is_double(t) ? double(v) : double(float(v));
  const double lo = double(v - hi);
  return b.CreateFAdd(constant(t, hi), b.CreateFSub(constant(t, lo), t));
}

// x < 0 with -0 counted as negative.
Value* sign_bit(llvm::IRBuilderBase& b, Value* x) {
  return b.CreateFCmpOLT(intrinsic(b, llvm::Intrinsic::copysign, {constant(x, 1.0), x}),
                         constant(x, 0.0));
}

// atan(n / d) for 0 <= n <= d, d > 0. Above a threshold the ratio moves to
// r = (n - d) / (n + d) = tan(atan(n / d) - pi/4) (n - d is exact there), so one division
// serves both ranges. Then atan(r) = r + r z P(z) with z = r^2: Cephes' atan in double (P a
// rational function, r in [-0.21, 0.66]) and atanf in float (P a polynomial, |r| <= tan(pi/8)).
Value* atan_of_ratio(llvm::IRBuilderBase& b, Value* n, Value* d) {
  const bool dbl = is_double(n);
  Value* shifted =
      b.CreateFCmpOGT(n, b.CreateFMul(constant(n, dbl ? 0.66 : 0.4142135623730950), d));
  Value* r = b.CreateFDiv(b.CreateSelect(shifted, b.CreateFSub(n, d), n),
                          b.CreateSelect(shifted, b.CreateFAdd(n, d), d));
  Value* z = b.CreateFMul(r, r);
  Value* correction;  // r z P(z)
  if (dbl) {
    Value* p = polynomial(
        b, z,
        {-8.750608600031904122785e-1, -1.615753718733365076637e1, -7.500855792314704667340e1,
         -1.228866684490136173410e2, -6.485021904942025371773e1});
    Value* q = polynomial(
        b, z,
        {1.0, 2.485846490142306297962e1, 1.650270098316988542046e2, 4.328810604912902668951e2,
         4.853903996359136964868e2, 1.945506571482613964425e2});
    correction = b.CreateFMul(b.CreateFMul(r, z), b.CreateFDiv(p, q));
  } else {
    Value* p = polynomial(
        b, z, {8.05374449538e-2, -1.38776856032e-1, 1.99777106478e-1, -3.33329491539e-1});
    correction = b.CreateFMul(b.CreateFMul(r, z), p);
  }
  Value* t = b.CreateFAdd(r, correction);
  return b.CreateSelect(shifted, constant_minus(b, kPi / 4, b.CreateFNeg(t)), t);  // pi/4 + t
}

// f(xs) evaluated in double for float arguments, its result rounded back to float once.
template <class F>
Value* in_double(llvm::IRBuilderBase& b, std::vector<Value*> xs, F f) {
  llvm::Type* type = xs[0]->getType();
  if (is_double(xs[0])) return f(xs);
  for (Value*& x : xs) x = b.CreateFPExt(x, type->getWithNewType(b.getDoubleTy()));
  return b.CreateFPTrunc(f(xs), type);
}

// Rounds to the nearest integer, halfway cases away from zero (C's round): x - trunc(x) is
// exact, so the comparison with 0.5 is too.
Value* round_half_away(llvm::IRBuilderBase& b, Value* x) {
  Value* t = intrinsic(b, llvm::Intrinsic::trunc, {x});
  Value* fraction = intrinsic(b, llvm::Intrinsic::fabs, {b.CreateFSub(x, t)});
  Value* step = intrinsic(b, llvm::Intrinsic::copysign, {constant(x, 1.0), x});
  return b.CreateSelect(b.CreateFCmpOGE(fraction, constant(x, 0.5)), b.CreateFAdd(t, step), t);
}

// sqrt(1 - x^2) as sqrt((1 - x)(1 + x)): 1 - x is exact near 1, where 1 - x^2 would cancel.
Value* cosine_of_asin(llvm::IRBuilderBase& b, Value* x) {
  Value* one = constant(x, 1.0);
  return emit_sqrt(b, b.CreateFMul(b.CreateFSub(one, x), b.CreateFAdd(one, x)));
}

// pow in the precision of x and y (see math_extra.h).
Value* pow_same_precision(llvm::IRBuilderBase& b, Value* x, Value* y) {
  Value* ax = intrinsic(b, llvm::Intrinsic::fabs, {x});
  // y log|x|, taken as 0 where pow is 1 whatever the other operand (0 * inf, 0 * NaN).
  Value* is_one =
      b.CreateOr(b.CreateFCmpOEQ(y, constant(y, 0.0)), b.CreateFCmpOEQ(ax, constant(ax, 1.0)));
  Value* exponent = b.CreateSelect(is_one, constant(y, 0.0), b.CreateFMul(y, emit_log(b, ax)));
  Value* magnitude = emit_exp(b, exponent);
  // Integer-valued y (infinities included) and odd y: y / 2 is exact.
  Value* y_integer = b.CreateFCmpOEQ(intrinsic(b, llvm::Intrinsic::trunc, {y}), y);
  Value* half = b.CreateFMul(y, constant(y, 0.5));
  Value* y_odd =
      b.CreateAnd(y_integer, b.CreateFCmpUNE(intrinsic(b, llvm::Intrinsic::trunc, {half}), half));
  Value* result =
      b.CreateSelect(b.CreateAnd(sign_bit(b, x), y_odd), b.CreateFNeg(magnitude), magnitude);
  // A finite negative x to a non-integer power has no real value (-inf^y is 0 or inf).
  Value* no_real_value = b.CreateAnd(
      b.CreateAnd(b.CreateFCmpOLT(x, constant(x, 0.0)), b.CreateFCmpONE(x, constant(x, -INFINITY))),
      b.CreateNot(y_integer));
  return b.CreateSelect(no_real_value, constant(x, NAN), result);
}

}  // namespace

llvm::Value* emit_atan2(llvm::IRBuilderBase& b, llvm::Value* y, llvm::Value* x) {
  Value* ay = intrinsic(b, llvm::Intrinsic::fabs, {y});
  Value* ax = intrinsic(b, llvm::Intrinsic::fabs, {x});
  // atan2 = atan(n / d) in the first octant, then reflected: past the diagonal, to the left
  // half-plane, and to the sign of y.
  Value* steep = b.CreateFCmpOGT(ay, ax);
  Value* n = b.CreateSelect(steep, ax, ay);
  Value* d = b.CreateSelect(steep, ay, ax);
  // 0/0 (both zero) must give 0 and inf/inf (both infinite) pi/4.
  Value* both_inf = b.CreateFCmpOEQ(n, constant(n, INFINITY));
  n = b.CreateSelect(both_inf, constant(n, 1.0), n);
  d = b.CreateSelect(b.CreateOr(both_inf, b.CreateFCmpOEQ(d, constant(d, 0.0))), constant(d, 1.0),
                     d);
  Value* t = atan_of_ratio(b, n, d);
  t = b.CreateSelect(steep, constant_minus(b, kPi / 2, t), t);
  t = b.CreateSelect(sign_bit(b, x), constant_minus(b, kPi, t), t);
  Value* result = intrinsic(b, llvm::Intrinsic::copysign, {t, y});
  // The selects above may have replaced a NaN.
  return b.CreateSelect(b.CreateFCmpUNO(x, y), b.CreateFAdd(x, y), result);
}

llvm::Value* emit_atan(llvm::IRBuilderBase& b, llvm::Value* x) {
  return emit_atan2(b, x, constant(x, 1.0));
}

llvm::Value* emit_asin(llvm::IRBuilderBase& b, llvm::Value* x) {
  return emit_atan2(b, x, cosine_of_asin(b, x));
}

llvm::Value* emit_acos(llvm::IRBuilderBase& b, llvm::Value* x) {
  return emit_atan2(b, cosine_of_asin(b, x), x);
}

llvm::Value* emit_pow(llvm::IRBuilderBase& b, llvm::Value* x, llvm::Value* y) {
  return in_double(b, {x, y}, [&](const std::vector<Value*>& xy) {
    return pow_same_precision(b, xy[0], xy[1]);
  });
}

llvm::Value* emit_round(llvm::IRBuilderBase& b, llvm::Value* x, int64_t digits) {
  if (digits == 0) return round_half_away(b, x);
  // The scale the reference uses, and a division by it (not a product by its inverse).
  const double scale = std::pow(10.0, double(digits));
  return in_double(b, {x}, [&](const std::vector<Value*>& wide) {
    Value* s = constant(wide[0], scale);
    return b.CreateFDiv(round_half_away(b, b.CreateFMul(wide[0], s)), s);
  });
}

}  // namespace keops::codegen
