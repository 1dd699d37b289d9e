// Every op with CPU codegen, summed on both axes in both dtypes, against the float64 reference.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/support/reference_check.h"

namespace {

using keops::test::compare_with_reference;
using keops::test::random_args;

const std::vector<std::string> kAliases = {"x = Vi(3)", "y = Vj(3)", "a = Vi(1)", "b = Vj(1)",
                                           "p = Pm(1)"};

// One formula per op (several for ops with several forms), each mixing i and j data so
// that the pair path, the hoisted paths and dim-1 broadcasting are all exercised.
const std::vector<std::string> kFormulas = {
    "x + y",           "x - y",          "x * y",          "x / y",
    "-x + y",          "a * y",          "x + b",          "x - b*p",
    "Exp(x - y)",      "Log(x + y)",     "Sqrt(x * y)",    "Rsqrt(x + y)",
    "Inv(x + y)",      "Square(x - y)",  "Pow(x - y, 3)",  "Pow(x + y, -2)",
    "Abs(x - y)",      "Sign(x - y)",    "Step(x - y)",    "ReLU(x - y)",
    "Sin(3*x*y)",      "Cos(x - y)",     "IfElse(x - y, x, y)", "Sum(x * y)",
    "SqNorm2(x - y)",  "SqDist(x, y)",   "Norm2(x - y)",   "Normalize(x - y)",
    "Scalprod(x, y)",  "(x | y)",        "Elem(x - y, 1)", "Extract(x * y, 1, 2)",
    "Concat(x, b)",    "Exp(-p * SqDist(x, y)) * b",       "Exp(-SqDist(x, y)) * b",
    "x ** 2 + y",      "Exp(a) * b"};

template <class T>
double tolerance() {
  return sizeof(T) == 4 ? 1e-5 : 1e-12;
}

template <class T>
void check_all_ops(int64_t nx, int64_t ny, int64_t edge_rows = 0) {
  for (const std::string& f : kFormulas) {
    const auto args = random_args<T>(f, kAliases, nx, ny, 42 + uint64_t(nx * 7 + ny));
    for (int axis : {0, 1}) {
      CAPTURE(f);
      CAPTURE(axis);
      CAPTURE(nx);
      CAPTURE(ny);
      const auto r = compare_with_reference<T>(f, kAliases, "Sum", axis, {}, args, nx, ny, edge_rows);
      CHECK(r.relative() <= tolerance<T>());
    }
  }
}

}  // namespace

TEST_CASE_TEMPLATE("every CPU op against the reference, sizes 0, 1, 7", T, float, double) {
  for (int64_t nx : {0, 1, 7})
    for (int64_t ny : {0, 1, 7}) check_all_ops<T>(nx, ny);
}

TEST_CASE_TEMPLATE("every CPU op against the reference, sizes 1000 and 1031", T, float, double) {
  // Axis 1 has 1031 output rows, axis 0 has 1000: neither is a multiple of a tile.
  check_all_ops<T>(1031, 1000, /*edge_rows=*/80);
}
