// Long vectors (streamed by the emitter in loops over chunks of components) against the
// float64 reference: every streamed reduction over components, both axes and dtypes.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/reference_check.h"

namespace {

using keops::test::compare_with_reference;
using keops::test::random_args;

std::vector<std::string> aliases(int d) {
  const std::string D = std::to_string(d);
  return {"x = Vi(" + D + ")", "y = Vj(" + D + ")", "s = Pm(" + D + ")",
          "w = Pm(1)",         "a = Vi(1)",         "b = Vj(1)"};
}

// Each streamed form: sums of products, scans, element-wise chains with broadcast
// scalars, outer-scope buffers (Exp(x) once per tile), slices of long rows.
const std::vector<std::string> kFormulas = {
    "Exp(-SqDist(x, y) * w) * b",
    "Scalprod(x, y) * a",
    "SqNorm2(x - y * b)",
    "Norm2(Exp(x) - Sin(y))",
    "Sum(x * y + a)",
    "WeightedSqDist(w, x, y)",
    "WeightedSqDist(s, x, y)",
    "WeightedSqNorm(s, x - y)",
    "Max(x - y)",
    "ArgMin(x * y)",
    "Elem(x - y, 70) + Sum(Extract(x * y, 3, 66))",
    "Extract(x - y, 60, 4)",
    "Scalprod(IfElse(x - y, x, y), Clamp(y, a, b))",
};

template <class T>
double tolerance() {
  return sizeof(T) == 4 ? 2e-5 : 1e-12;
}

template <class T>
void check_dim(int d, int64_t nx, int64_t ny, const std::vector<std::string>& formulas) {
  for (const std::string& f : formulas) {
    const auto args = random_args<T>(f, aliases(d), nx, ny, 7 + uint64_t(d));
    for (int axis : {0, 1}) {
      CAPTURE(f);
      CAPTURE(d);
      CAPTURE(axis);
      const auto r = compare_with_reference<T>(f, aliases(d), "Sum", axis, {}, args, nx, ny);
      CHECK(r.relative() <= tolerance<T>());
    }
  }
}

}  // namespace

TEST_CASE_TEMPLATE("streamed long vectors against the reference, D = 71 and 1000", T, float,
                   double) {
  check_dim<T>(71, 37, 29, kFormulas);
  check_dim<T>(1000, 37, 29, kFormulas);
}

TEST_CASE("D = 4096 compiles quickly and matches the reference, with arg reductions") {
  // Scaled so that the kernel does not underflow in float32 (SqDist is about 600 here).
  const std::vector<std::string> gauss = {"Exp(-SqDist(x, y) * w * 0.002) * b"};
  const auto start = std::chrono::steady_clock::now();
  check_dim<float>(4096, 53, 41, gauss);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("D = 4096 Gaussian, two axes, compile and run: " << seconds << " s");

  const std::string f = "SqDist(x, y)";
  const auto args = random_args<float>(f, aliases(4096), 45, 33, 3);
  for (const char* reduction : {"ArgKMin", "Min_ArgMin"}) {
    keops::Options o;
    o.k = std::string(reduction) == "ArgKMin" ? 3 : 0;
    CAPTURE(reduction);
    const auto r = compare_with_reference<float>(f, aliases(4096), reduction, 1, o, args, 45, 33);
    CHECK(r.indices_equal);
    CHECK(r.relative() <= 2e-5);
  }
}

TEST_CASE_TEMPLATE("long outputs, computed a group of columns at a time, against the reference", T,
                   float, double) {
  // D = 100: three full groups of columns and a rest; D = 1000 for Sum and the softmax.
  struct Case {
    const char* formula;
    const char* reduction;
    int d;
    const char* formula2;
  };
  // Long products in F: groups of 128 columns on the CPU (D = 300: two and a rest).
  const Case cases[] = {{"Exp(-SqDist(x, y) * w * 0.01) * y", "Sum", 1000, ""},
                        {"(x - y) * Exp(-SqDist(x, y) * w * 0.01) * b", "Sum", 300, ""},
                        {"(x - y) * SqDist(x, y) * w", "Min_ArgMin", 300, ""},
                        {"x - y * a", "Sum", 100, ""},
                        {"x * y", "Max_ArgMax", 100, ""},
                        {"x - y", "Min_ArgMin", 100, ""},
                        {"Sin(x - y)", "ArgMax", 100, ""},
                        {"x + b", "Min", 100, ""},
                        {"-SqDist(x, y) * w", "SumSoftMaxWeight", 1000, "y * b"},
                        {"Scalprod(x, y)", "LogSumExpWeight", 100, "y"}};
  for (const Case& c : cases) {
    keops::Options o;
    o.formula2 = c.formula2;
    const auto args = random_args<T>(c.formula, aliases(c.d), 23, 19, 5);
    for (int axis : {0, 1}) {
      const std::string formula = c.formula, reduction = c.reduction;
      CAPTURE(formula);
      CAPTURE(reduction);
      CAPTURE(axis);
      const auto r =
          compare_with_reference<T>(c.formula, aliases(c.d), c.reduction, axis, o, args, 23, 19);
      CHECK(r.indices_equal);
      CHECK(r.relative() <= tolerance<T>());
    }
  }
}
