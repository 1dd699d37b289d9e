// math_extra's functions against long-double references (the bounds in math_extra.h) and
// C's special values, through Genred (the tests see libkeops, not LLVM).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <keops/keops.h>

namespace {

// An op of the language on x (and y), its exact value and its error bound in ulps (math_extra.h):
// a constant, plus for pow in double a term proportional to |y log|x||.
struct Fn {
  std::string formula;
  std::function<long double(long double, long double)> exact;
  double float_ulps, double_ulps, double_ulps_per_y_log_x = 0;

  template <class T>
  double bound(long double x, long double y) const {
    if (sizeof(T) == 4) return float_ulps;
    const long double amplification = fabsl(y * logl(fabsl(x)));
    return double_ulps +
           (std::isfinite(amplification) ? double(amplification) : 0) * double_ulps_per_y_log_x;
  }
};

const Fn kAtan{"Atan(x)", [](long double x, long double) { return atanl(x); }, 2.5, 1.5};
const Fn kAtan2{"Atan2(x, y)", [](long double x, long double y) { return atan2l(x, y); }, 2.5, 1.5};
const Fn kAsin{"Asin(x)", [](long double x, long double) { return asinl(x); }, 3, 2.5};
const Fn kAcos{"Acos(x)", [](long double x, long double) { return acosl(x); }, 3, 2.5};
const Fn kPow{"Powf(x, y)", [](long double x, long double y) { return powl(x, y); }, 0.51, 1, 2};

// The formula at every point (x, y) (y empty: 1), as one column per component: x and y are
// i-variables (vector lanes), and the sum over a single j adds each value to 0 exactly (but
// makes -0 +0: see the special values).
template <class T>
std::vector<T> evaluate(const std::string& formula, const std::vector<T>& x, std::vector<T> y) {
  y.resize(x.size(), T(1));
  const std::vector<T> dummy = {0};
  keops::Genred op(formula, {"x = Vi(1)", "y = Vi(1)", "b = Vj(1)"}, "Sum", 1);
  const int64_t n = int64_t(x.size());
  return op({{x.data(), n, 1}, {y.data(), n, 1}, {dummy.data(), 1, 1}}).values;
}

// |got - exact| in ulps of the exact result at T's precision (subnormals: of the smallest
// normal); 0 for matching NaNs, infinite for a mismatch of class or a wrong infinity.
template <class T>
double ulps(T got, long double exact) {
  if (std::isnan(exact) || std::isnan(got))
    return std::isnan(exact) && std::isnan(got) ? 0 : INFINITY;
  if (T(exact) == got) return 0;
  if (std::isinf(got) || std::isinf(T(exact))) return INFINITY;
  const int exponent = std::max(int(ilogbl(exact)), std::numeric_limits<T>::min_exponent - 1);
  return double(fabsl(got - exact) / ldexpl(1, exponent - (std::numeric_limits<T>::digits - 1)));
}

// The largest error of fn over the points (x, y) (y empty: 1), relative to its bound.
template <class T>
void check_error(const Fn& fn, const std::vector<T>& x, const std::vector<T>& y) {
  const std::vector<T> got = evaluate(fn.formula, x, y);
  double worst = 0;
  size_t at = 0;
  for (size_t k = 0; k < x.size(); ++k) {
    const T yk = y.empty() ? T(1) : y[k];
    const double e = ulps(got[k], fn.exact(x[k], yk)) / fn.bound<T>(x[k], yk);
    if (e > worst) {
      worst = e;
      at = k;
    }
  }
  INFO(fn.formula, ": ", worst, " of the bound at x = ", x[at], ", y = ", y.empty() ? T(1) : y[at]);
  CHECK(worst <= 1);
}

constexpr size_t kPoints = size_t(1) << 17;

// Values sign * 10^u with u uniform in [lo, hi]; random signs when `signed_values`.
template <class T>
std::vector<T> log_uniform(uint64_t seed, double lo, double hi, bool signed_values) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> exponent(lo, hi);
  std::vector<T> v(kPoints);
  for (T& x : v) x = T((signed_values && (rng() & 1) ? -1 : 1) * std::pow(10.0, exponent(rng)));
  return v;
}

template <class T>
std::vector<T> uniform(uint64_t seed, double lo, double hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<T> v(kPoints);
  for (T& x : v) x = T(dist(rng));
  return v;
}

}  // namespace

TEST_CASE_TEMPLATE("math_extra: atan, atan2, asin, acos within their documented error", T, float,
                   double) {
  check_error<T>(kAtan, log_uniform<T>(1, -4, 4, true), {});
  check_error<T>(kAtan2, log_uniform<T>(2, -3, 3, true), log_uniform<T>(3, -3, 3, true));
  for (const Fn* fn : {&kAsin, &kAcos}) {
    check_error<T>(*fn, uniform<T>(4, -1, 1), {});
    check_error<T>(*fn, log_uniform<T>(5, -7, 0, true), {});
    // Next to +-1, where 1 - x^2 would cancel.
    std::vector<T> near_one = log_uniform<T>(6, sizeof(T) == 4 ? -7 : -15, -1, true);
    for (T& x : near_one) x = std::copysign(T(1) - std::fabs(x), x);
    check_error<T>(*fn, near_one, {});
  }
}

TEST_CASE_TEMPLATE("math_extra: pow within its documented error", T, float, double) {
  // |y log x| <= 37: no overflow in float.
  check_error<T>(kPow, log_uniform<T>(7, -2, 2, false), uniform<T>(8, -8, 8));
  // Negative bases with integer exponents: the sign of odd powers.
  std::vector<T> integers(kPoints);
  for (size_t k = 0; k < kPoints; ++k) integers[k] = T(int(k % 17) - 8);
  check_error<T>(kPow, uniform<T>(9, -4, -0.25), integers);
}

TEST_CASE_TEMPLATE("math_extra: C's special values", T, float, double) {
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  // The sum loses the sign of a zero, 1 / value keeps it as the sign of an infinity.
  auto check = [](const Fn& fn, const std::vector<T>& x, const std::vector<T>& y) {
    const std::string f = fn.formula;
    const std::vector<T> got = evaluate("Concat(" + f + ", Inv(" + f + "))", x, y);
    for (size_t k = 0; k < x.size(); ++k) {
      const long double exact = fn.exact(x[k], y[k]);
      CAPTURE(f);
      CAPTURE(x[k]);
      CAPTURE(y[k]);
      CAPTURE(got[2 * k]);
      CHECK(ulps(got[2 * k], exact) <= fn.bound<T>(x[k], y[k]));
      if (exact == 0) CHECK(std::signbit(got[2 * k + 1]) == std::signbit(exact));
    }
  };
  const std::vector<T> specials = {0,       -T(0), 1,    -1,  2,        -2,        T(1.5),
                                   -T(1.5), inf,   -inf, nan, T(1e-30), -T(1e-30), T(1e30)};
  std::vector<T> xs, ys;
  for (T x : specials)
    for (T y : specials) {
      xs.push_back(x);
      ys.push_back(y);
    }
  const std::vector<T> ones(specials.size(), 1);
  check(kAtan, specials, ones);
  check(kAsin, specials, ones);
  check(kAcos, specials, ones);
  check(kAtan2, xs, ys);
  check(kPow, xs, ys);
  check(kPow, {-8, -8, -T(0.5), -T(0.5), 2, 2, T(0.5)},
        {3, T(1) / 3, -3, 1001, T(1e6), -T(1e6), -T(1e6)});
}

TEST_CASE_TEMPLATE("math_extra: Round halfway cases away from zero, as in double precision", T,
                   float, double) {
  std::vector<T> x = uniform<T>(10, -300, 300);
  for (T v : {T(0.5), -T(0.5), T(2.5), -T(2.5), T(0.49999997), T(1.005), T(0.125), -T(0.125), T(15),
              -T(25), std::numeric_limits<T>::infinity(), std::numeric_limits<T>::quiet_NaN()})
    x.push_back(v);
  for (int digits : {0, 2, -1}) {
    const std::vector<T> got = evaluate("Round(x, " + std::to_string(digits) + ")", x, {});
    const double scale = std::pow(10.0, double(digits));
    size_t mismatches = 0, first = 0;
    for (size_t k = 0; k < x.size(); ++k) {
      const T want = T(std::round(double(x[k]) * scale) / scale);
      if (!(std::isnan(want) && std::isnan(got[k])) && want != got[k] && mismatches++ == 0)
        first = k;
    }
    INFO("digits ", digits, ": ", mismatches, " mismatches, the first at x = ", x[first]);
    CHECK(mismatches == 0);
  }
}
