// exp, log, sin, cos, sqrt as straight-line LLVM IR for float, double and their vectors.
#include "compiler/codegen/math.h"

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <vector>

#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsNVPTX.h>
#include <llvm/IR/Module.h>
#include <llvm/TargetParser/Triple.h>

#include "compiler/support/check.h"

namespace keops::codegen {

namespace {
constexpr const char* kFastMathFlag = "keops.gpu_fast_math";
}
namespace {

using llvm::Value;

// Polynomial coefficients come from a weighted Remez exchange run in 60-digit arithmetic
// (mpmath) on the stated interval and error measure, then rounded to the target precision
// (for some, coefficient by coefficient, refitting the rest after each rounding). They are
// listed from degree 0 up.

// The IR builder together with the argument's type: scalar or fixed vector, float or
// double, and the integer type of the same shape used for bit manipulation.
class MathBuilder {
 public:
  MathBuilder(llvm::IRBuilderBase& b, Value* x) : b_(b), type_(x->getType()) {
    llvm::Type* element = type_->getScalarType();
    KEOPS_CHECK(element->isFloatTy() || element->isDoubleTy(),
                "math emitters take float, double or a fixed vector of them");
    KEOPS_CHECK(!type_->isVectorTy() || llvm::isa<llvm::FixedVectorType>(type_),
                "math emitters take fixed vectors only");
    is_double_ = element->isDoubleTy();
    llvm::Type* int_element = b.getIntNTy(is_double_ ? 64 : 32);
    int_type_ = type_->isVectorTy()
                    ? llvm::FixedVectorType::get(
                          int_element, llvm::cast<llvm::FixedVectorType>(type_)->getNumElements())
                    : int_element;
  }

  bool is_double() const { return is_double_; }
  int mantissa_bits() const { return is_double_ ? 52 : 23; }
  uint64_t sign_bit() const { return is_double_ ? uint64_t(1) << 63 : uint64_t(1) << 31; }

  Value* c(double v) const { return llvm::ConstantFP::get(type_, v); }
  Value* ci(uint64_t v) const { return llvm::ConstantInt::get(int_type_, v); }

  // a * m + c: one fused instruction where the target has FMA, mul + add elsewhere (never
  // a libm call, unlike llvm.fma on a target without FMA).
  Value* fma(Value* a, Value* m, Value* add) {
    return b_.CreateIntrinsic(llvm::Intrinsic::fmuladd, {type_}, {a, m, add});
  }
  Value* fma(Value* a, double m, Value* add) { return fma(a, c(m), add); }
  Value* fma(Value* a, double m, double add) { return fma(a, c(m), c(add)); }

  // coefficients[0] + x * (coefficients[1] + x * (...)).
  Value* horner(Value* x, std::initializer_list<double> coefficients) {
    std::vector<double> cs(coefficients);
    Value* acc = c(cs.back());
    for (size_t k = cs.size() - 1; k-- > 0;) acc = fma(acc, x, c(cs[k]));
    return acc;
  }

  Value* add(Value* a, Value* v) { return b_.CreateFAdd(a, v); }
  Value* sub(Value* a, Value* v) { return b_.CreateFSub(a, v); }
  Value* mul(Value* a, Value* v) { return b_.CreateFMul(a, v); }

  Value* bits(Value* v) { return b_.CreateBitCast(v, int_type_); }
  Value* from_bits(Value* v) { return b_.CreateBitCast(v, type_); }

  // max(lo, min(x, hi)) that lets NaN through (x86 maxps/minps with this operand order).
  Value* clamp(Value* x, double lo, double hi) {
    x = b_.CreateSelect(b_.CreateFCmpOLT(x, c(lo)), c(lo), x);
    return b_.CreateSelect(b_.CreateFCmpOGT(x, c(hi)), c(hi), x);
  }

  llvm::IRBuilderBase& b() { return b_; }

 private:
  llvm::IRBuilderBase& b_;
  llvm::Type* type_;
  llvm::Type* int_type_;
  bool is_double_;
};

// exp, float: x = n ln2 + r with n = floor(x / ln2), so p(r) = e^r lies in [1, 2) and
// 2^n needs exponents -127 (giving +0: the flush) to 128 (giving +inf: overflow) only,
// which the exponent field spans. The magic constant 1.5 * 2^23 + 127 rounds to an
// integer and leaves n + 127 in the low mantissa bits, ready to shift into the exponent.
Value* exp_f32(MathBuilder& m, Value* x) {
  constexpr double kMagic = 0x1.8p23 + 127;
  // Outside [-88, 89] the result is +0 or +inf anyway; the clamp keeps n in [-127, 128].
  x = m.clamp(x, -88.0, 89.0);
  Value* t = m.add(m.fma(x, 0x1.715476p+0 /* log2(e) */, -0.5), m.c(kMagic));
  Value* n = m.sub(t, m.c(kMagic));
  // ln2 = hi + lo with hi of 15 significant bits: n * hi is exact even without FMA.
  Value* r = m.fma(n, -0x1.62e4p-1, x);
  r = m.fma(n, -0x1.7f7d1cp-20, r);
  // e^r on [-2^-15, ln2 + 2^-15], relative error 2.2e-9 (coefficients as floats).
  Value* p = m.horner(r, {1.0, 0x1.fffffap-1, 0x1.0000bap-1, 0x1.553884p-3, 0x1.5755d2p-5,
                          0x1.fefa4cp-8, 0x1.fe51bep-10});
  Value* scale = m.from_bits(m.b().CreateShl(m.bits(t), m.ci(23)));
  return m.mul(p, scale);
}

// exp, double: n = round(x / ln2), r in [-ln2/2, ln2/2], and 2^n applied as two normal
// factors 2^h * 2^(n-h), h = round(n/2): p * 2^h is exact, so a subnormal result is
// rounded once (gradual underflow), and 2^1024 times p < 1 stays finite.
Value* exp_f64(MathBuilder& m, Value* x) {
  constexpr double kMagic = 0x1.8p52 + 1023;
  x = m.clamp(x, -746.0, 710.0);
  Value* t = m.fma(x, 0x1.71547652b82fep+0 /* log2(e) */, kMagic);
  Value* n = m.sub(t, m.c(kMagic));
  // ln2 = hi + lo (fdlibm's split): hi has 32 significant bits, n * hi is exact.
  Value* r = m.fma(n, -0x1.62e42feep-1, x);
  r = m.fma(n, -0x1.a39ef35793c76p-33, r);
  // e^r on [-ln2/2, ln2/2], relative error 1.2e-17 (coefficients as doubles).
  Value* p = m.horner(
      r, {1.0, 0x1.0p+0, 0x1.000000000000bp-1, 0x1.55555555554b3p-3, 0x1.555555555018bp-5,
          0x1.111111112f843p-7, 0x1.6c16c1855ca4ep-10, 0x1.a01a0111ca511p-13, 0x1.a019975731ae9p-16,
          0x1.71df48ca585efp-19, 0x1.28af9bc0e4195p-22, 0x1.ad597ba45dcc2p-26});
  auto& b = m.b();
  Value* t_half = m.fma(n, 0.5, kMagic);  // low bits: h + 1023
  Value* scale_h = m.from_bits(b.CreateShl(m.bits(t_half), m.ci(52)));
  Value* rest = b.CreateAdd(b.CreateSub(m.bits(t), m.bits(t_half)), m.ci(1023));  // n - h + 1023
  Value* scale_rest = m.from_bits(b.CreateShl(rest, m.ci(52)));
  return m.mul(m.mul(p, scale_h), scale_rest);
}

// log(x) = e ln2 + log(1 + f) with x = 2^e (1 + f), 1 + f in [sqrt(1/2), sqrt(2)).
// Subtracting the bits of sqrt(1/2) before the arithmetic shift makes e carry exactly when
// the mantissa reaches sqrt(2). Subnormals are scaled into the normal range first.
Value* emit_log_impl(MathBuilder& m, Value* x) {
  auto& b = m.b();
  const bool dbl = m.is_double();
  const int mbits = m.mantissa_bits();
  const double smallest_normal = dbl ? 0x1p-1022 : 0x1p-126;
  const int subnormal_shift = dbl ? 54 : 23;
  const uint64_t sqrt_half_bits = dbl ? 0x3fe6a09e667f3bcdull : 0x3f3504f3u;

  Value* tiny = b.CreateFCmpOLT(x, m.c(smallest_normal));
  Value* scaled = b.CreateSelect(tiny, m.mul(x, m.c(dbl ? 0x1p54 : 0x1p23)), x);
  // The scaled input's bits with subnormal_shift taken off the exponent: out of the float
  // range for subnormals, but the integer arithmetic below is right modulo 2^N.
  Value* ix = b.CreateSub(m.bits(scaled),
                          b.CreateSelect(tiny, m.ci(uint64_t(subnormal_shift) << mbits), m.ci(0)));
  Value* e_int = b.CreateAShr(b.CreateSub(ix, m.ci(sqrt_half_bits)), m.ci(mbits));
  Value* mantissa = m.from_bits(b.CreateSub(ix, b.CreateShl(e_int, m.ci(mbits))));
  Value* f = m.sub(mantissa, m.c(1.0));  // exact: mantissa is within a factor 2 of 1
  Value* e = b.CreateSIToFP(e_int, mantissa->getType());

  Value* result;
  if (!dbl) {
    // log(1 + f) = f - f^2/2 + f^3 P(f), f in [sqrt(1/2) - 1, sqrt(2) - 1], relative
    // error 6.4e-9. ln2 = hi + lo with hi of 15 significant bits (e * hi exact).
    Value* poly = m.horner(f, {0x1.555554p-2, -0x1.000226p-2, 0x1.99a008p-3, -0x1.547244p-3,
                               0x1.22da1ap-3, -0x1.0d8546p-3, 0x1.055b84p-3, -0x1.38b5a8p-4});
    Value* log1p = m.fma(m.mul(f, f), m.fma(f, poly, m.c(-0.5)), f);
    result = m.fma(e, 0x1.62e4p-1, m.fma(e, 0x1.7f7d1cp-20, log1p));
  } else {
    // fdlibm's scheme: s = f / (2 + f), log(1 + f) = 2 atanh(s) = f - (f^2/2 - s (f^2/2 +
    // R)), R(z) = z Q(z) ~ 2 (atanh(s)/s - 1), z = s^2 in [0, 0.0295], abs error 2.5e-18.
    // The rounding of s only touches the small correction terms.
    Value* s = b.CreateFDiv(f, m.add(m.c(2.0), f));
    Value* z = m.mul(s, s);
    Value* q = m.horner(
        z, {0x1.5555555555592p-1, 0x1.999999997ff19p-2, 0x1.24924941e1561p-2, 0x1.c71c5214505c0p-3,
            0x1.74663ceda5d65p-3, 0x1.39a1e8c0243b2p-3, 0x1.2f03baad372c0p-3});
    Value* half_f2 = m.mul(m.mul(f, f), m.c(0.5));
    Value* correction = m.fma(s, m.fma(z, q, half_f2), m.mul(e, m.c(0x1.a39ef35793c76p-33)));
    Value* log1p = m.sub(f, m.sub(half_f2, correction));
    result = m.fma(e, 0x1.62e42feep-1, log1p);
  }

  const double inf = std::numeric_limits<double>::infinity();
  result = b.CreateSelect(b.CreateFCmpOEQ(x, m.c(0.0)), m.c(-inf), result);
  result =
      b.CreateSelect(b.CreateFCmpULT(x, m.c(0.0)), m.c(std::numeric_limits<double>::quiet_NaN()),
                     result);  // negative or NaN
  return b.CreateSelect(b.CreateFCmpOEQ(x, m.c(inf)), x, result);
}

// sin and cos: x = n pi/2 + r, |r| <= pi/4, then sin r or cos r by the parity of n (for
// cos, of n + 1) and the sign from its second bit; the magic constant 1.5 * 2^(p-1) leaves
// n mod 4 in the lowest mantissa bits. Both polynomials are evaluated (selects, no
// branches). pi/2 = p1 + p2 + p3, three full-width parts: with FMA, x - n p1 is exact and
// the split's residual (2^-77 relative for float, 2^-164 for double) adds at most |n| 2^-76
// (float) to the absolute error, which keeps it relative next to the zeros in range.
Value* emit_sin_cos(MathBuilder& m, Value* x, bool cosine) {
  auto& b = m.b();
  const bool dbl = m.is_double();
  const double magic = dbl ? 0x1.8p52 : 0x1.8p23;
  const double two_over_pi = dbl ? 0x1.45f306dc9c883p-1 : 0x1.45f306p-1;
  const double pio2_1 = dbl ? 0x1.921fb54442d18p+0 : 0x1.921fb6p+0;
  const double pio2_2 = dbl ? 0x1.1a62633145c07p-54 : -0x1.777a5cp-25;
  const double pio2_3 = dbl ? -0x1.f1976b7ed8fbcp-110 : -0x1.ee59dap-50;
  // 2/pi as a float is off by 4e-8 relative, which can push r past pi/4 by 4e-8 |x|; the
  // polynomials cover a margin d (0.1 float, 0.01 double) for that, i.e. |x| < 2.5e6
  // (float), 1.6e14 (double). The clamp keeps r, and so the result, bounded beyond.
  const double r_max = dbl ? 0x1.973e6d962e56ap-1 : 0x1.c552e8p-1;

  Value* t = m.fma(x, two_over_pi, magic);
  Value* n = m.sub(t, m.c(magic));
  Value* r = m.fma(n, -pio2_1, x);
  r = m.fma(n, -pio2_2, r);
  r = m.fma(n, -pio2_3, r);
  r = m.clamp(r, -r_max, r_max);

  // On |r| <= pi/4 + d: sin r = r + r^3 S(r^2), cos r = 1 - r^2/2 + r^4 C(r^2), relative
  // errors 1.0e-8 and 4.1e-10 (float), 4.4e-18 and 6.9e-20 (double).
  Value* z = m.mul(r, r);
  Value* s_poly =
      dbl ? m.horner(z, {-0x1.5555555555546p-3, 0x1.111111110f3ffp-7, -0x1.a01a019b80abep-13,
                         0x1.71de34f8e5985p-19, -0x1.ae5e02296c5d4p-26, 0x1.5d75ccae6d342p-33})
          : m.horner(z, {-0x1.555534p-3, 0x1.11012ap-7, -0x1.976ac6p-13});
  Value* c_poly =
      dbl ? m.horner(z, {0x1.5555555555549p-5, -0x1.6c16c16c14bc7p-10, 0x1.a01a019c23a18p-16,
                         -0x1.27e4f7a3ba4e0p-22, 0x1.1ee9a6b61ec20p-29, -0x1.8f8ae96c7e9b0p-37})
          : m.horner(z, {0x1.55553ep-5, -0x1.6c05a2p-10, 0x1.983c70p-16});
  Value* sin_r = m.bits(m.fma(m.mul(r, z), s_poly, r));
  Value* cos_r = m.bits(m.fma(z, m.fma(z, c_poly, m.c(-0.5)), m.c(1.0)));

  // cos x = sin(x + pi/2): one quadrant further.
  Value* quadrant = cosine ? b.CreateAdd(m.bits(t), m.ci(1)) : m.bits(t);
  Value* odd = b.CreateICmpNE(b.CreateAnd(quadrant, m.ci(1)), m.ci(0));
  Value* value = b.CreateSelect(odd, cos_r, sin_r);
  Value* sign = b.CreateAnd(b.CreateShl(quadrant, m.ci(dbl ? 62 : 30)), m.ci(m.sign_bit()));
  Value* result = m.from_bits(b.CreateXor(value, sign));
  // sin(-0) = -0, which the sums above round to +0.
  return cosine ? result : b.CreateSelect(b.CreateFCmpOEQ(x, m.c(0.0)), x, result);
}

// True when x is a float32 scalar in a GPU module that asked for fast math: the
// hardware approximations (MUFU) then replace the polynomials.
bool gpu_fast_float(llvm::IRBuilderBase& b, Value* x) {
  const llvm::Module* module = b.GetInsertBlock()->getModule();
  return x->getType()->isFloatTy() && llvm::Triple(module->getTargetTriple()).isNVPTX() &&
         module->getModuleFlag(kFastMathFlag) != nullptr;
}

Value* approx(llvm::IRBuilderBase& b, llvm::Intrinsic::ID id, Value* x) {
  return b.CreateIntrinsic(id, {}, {x});
}

}  // namespace

void request_gpu_fast_math(llvm::Module& m) {
  m.addModuleFlag(llvm::Module::Override, kFastMathFlag, 1);
}

// x * log2(e) for ex2. When x = a * s and s is a constant or was computed before the
// current block (a parameter, or a row's value hoisted out of the pair loop), log2(e)
// goes into s: a * (s log2 e), whose second product the optimizer folds or hoists, saves
// a multiply per pair (Exp(-g * SqDist(x, y)), Exp(-SqDist(x, y) / 0.02)); through a
// negation too, -(a * s) being a * (s * -log2 e) (simplify writes -(g * SqDist(x, y))).
Value* times_log2e(llvm::IRBuilderBase& b, MathBuilder& m, Value* x, double log2e = M_LOG2E) {
  if (auto* negation = llvm::dyn_cast<llvm::UnaryOperator>(x);
      negation && negation->getOpcode() == llvm::Instruction::FNeg)
    return times_log2e(b, m, negation->getOperand(0), -log2e);
  if (auto* product = llvm::dyn_cast<llvm::BinaryOperator>(x);
      product && product->getOpcode() == llvm::Instruction::FMul) {
    auto hoisted = [&](Value* v) {
      auto* defined = llvm::dyn_cast<llvm::Instruction>(v);
      return llvm::isa<llvm::Constant>(v) || llvm::isa<llvm::Argument>(v) ||
             (defined && defined->getParent() != b.GetInsertBlock());
    };
    for (int k = 0; k < 2; ++k) {
      Value* scale = product->getOperand(unsigned(k));
      Value* other = product->getOperand(unsigned(1 - k));
      // a * (+-ln 2) is ex2(+-a): passes/exp_scale.h writes Gaussian exponents so.
      if (auto* c = llvm::dyn_cast<llvm::ConstantFP>(scale);
          c && std::fabs(c->getValueAPF().convertToDouble()) == double(float(M_LN2)))
        return c->isNegative() != (log2e < 0) ? b.CreateFNeg(other) : other;
      if (hoisted(scale) && !hoisted(other))
        return b.CreateFMul(other, b.CreateFMul(scale, m.c(log2e)));
    }
  }
  return b.CreateFMul(x, m.c(log2e));
}

Value* emit_exp(llvm::IRBuilderBase& b, Value* x) {
  MathBuilder m(b, x);
  if (gpu_fast_float(b, x))  // exp(x) = 2^(x log2 e): ex2.approx.ftz
    return approx(b, llvm::Intrinsic::nvvm_ex2_approx_ftz_f, times_log2e(b, m, x));
  return m.is_double() ? exp_f64(m, x) : exp_f32(m, x);
}

Value* emit_log(llvm::IRBuilderBase& b, Value* x) {
  MathBuilder m(b, x);
  if (gpu_fast_float(b, x))  // log(x) = log2(x) ln 2: lg2.approx.ftz
    return b.CreateFMul(approx(b, llvm::Intrinsic::nvvm_lg2_approx_ftz_f, x), m.c(M_LN2));
  return emit_log_impl(m, x);
}

Value* emit_sin(llvm::IRBuilderBase& b, Value* x) {
  MathBuilder m(b, x);
  if (gpu_fast_float(b, x)) return approx(b, llvm::Intrinsic::nvvm_sin_approx_ftz_f, x);
  return emit_sin_cos(m, x, /*cosine=*/false);
}

Value* emit_cos(llvm::IRBuilderBase& b, Value* x) {
  MathBuilder m(b, x);
  if (gpu_fast_float(b, x)) return approx(b, llvm::Intrinsic::nvvm_cos_approx_ftz_f, x);
  return emit_sin_cos(m, x, /*cosine=*/true);
}

Value* emit_sqrt(llvm::IRBuilderBase& b, Value* x) {
  MathBuilder m(b, x);  // checks the type
  if (gpu_fast_float(b, x)) return approx(b, llvm::Intrinsic::nvvm_sqrt_approx_ftz_f, x);
  return b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x);
}

std::vector<Value*> emit_divide_all(llvm::IRBuilderBase& b, const std::vector<Value*>& numerators,
                                    Value* d) {
  std::vector<Value*> out;
  Value* inverse =
      gpu_fast_float(b, d) ? b.CreateFDiv(llvm::ConstantFP::get(d->getType(), 1.0), d) : nullptr;
  for (Value* x : numerators)
    out.push_back(inverse ? b.CreateFMul(x, inverse) : b.CreateFDiv(x, d));
  return out;
}

}  // namespace keops::codegen
