// Inputs that once crashed or stalled a process: shapes and sizes refused up front with
// keops::Error (a position used with two shapes, overflowing products, outputs too large to
// allocate, K past its limit), and derivative formulas whose text grew exponentially.
#include <doctest/doctest.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <vector>

#include <keops/keops.h>

#include "tests/support/backends.h"

// AddressSanitizer (GCC's flag, or Clang's feature) aborts where an allocation fails.
#if defined(__SANITIZE_ADDRESS__)
#define KEOPS_TEST_UNDER_ASAN
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEOPS_TEST_UNDER_ASAN
#endif
#endif

using keops::Error;
using keops::Genred;
using keops::Options;
using keops::View;

TEST_CASE("a position used with two shapes names the position, not the verifier") {
  CHECK_THROWS_WITH_AS(Genred("Var(0,2,0) * Var(0,1,0)", {}, "Sum", 1),
                       "collecting arguments: position 0 is used with two shapes: Var(0,2,0) in a "
                       "formula and Var(0,1,0) in a formula",
                       Error);
  CHECK_THROWS_WITH_AS(Genred("x * y", {"x = Vi(0,3)", "y = Vj(0,3)"}, "Sum", 1),
                       doctest::Contains("position 0 is used with two shapes: alias 'x' = "
                                         "Vi(0,3) and alias 'y' = Vj(0,3)"),
                       Error);
  CHECK_THROWS_WITH_AS(Genred("Sum(x) + Var(0,2,0)", {"x = Vi(0,3)"}, "Sum", 1),
                       doctest::Contains("alias 'x' = Vi(0,3) and Var(0,2,0) in a formula"), Error);
  Options o;
  o.formula2 = "Var(0,2,0)";
  CHECK_THROWS_WITH_AS(
      Genred("-SqDist(x, y)", {"x = Vi(0,3)", "y = Vj(1,3)"}, "SumSoftMaxWeight", 1, o),
      doctest::Contains("position 0 is used with two shapes"), Error);
}

TEST_CASE("an alias at the last int position is a gap error, without overflow") {
  CHECK_THROWS_WITH_AS(Genred("x", {"x = Vi(2147483647,3)"}, "Sum", 1),
                       doctest::Contains("no alias or Var uses position 0 to 2147483646"), Error);
}

TEST_CASE("K past the limit of KMin forms is refused before any compile") {
  Options o;
  o.k = 1 << 30;
  for (const char* reduction : {"KMin", "ArgKMin", "KMin_ArgKMin"})
    CHECK_THROWS_WITH_AS(Genred("x - y", {"x = Vi(3)", "y = Vj(3)"}, reduction, 1, o),
                         doctest::Contains("takes K <= 1024, not 1073741824"), Error);
  o.k = 1024;
  CHECK(Genred("SqDist(x, y)", {"x = Vi(3)", "y = Vj(3)"}, "KMin", 1, o).value_cols() == 1024);
  o.k = 1025;
  CHECK_THROWS_AS(Genred("SqDist(x, y)", {"x = Vi(3)", "y = Vj(3)"}, "KMin", 1, o), Error);
  o.k = 1000;  // 100,000 values per row
  CHECK_THROWS_WITH_AS(Genred("x - y", {"x = Vi(100)", "y = Vj(100)"}, "KMin", 1, o),
                       doctest::Contains("keeps K x dim(F) = 1000 x 100 values per row; at most "
                                         "65536 are supported"),
                       Error);
}

TEST_CASE("outputs too large to allocate, or whose size overflows, are keops::Error") {
  const float y = 1;
  Options o;
  o.backend = keops::Backend::CPU;
  o.nx = int64_t(1) << 62;  // 2^62 rows of one float: 2^64 bytes
  CHECK_THROWS_WITH_AS(Genred("Var(0,1,1)", {}, "Sum", 1, o)({View<const float>{&y, 1, 1}}),
                       "Genred: the values (1 x 4611686018427387904 x 1) has more than 2^63 "
                       "elements",
                       Error);
#ifdef KEOPS_TEST_UNDER_ASAN
  MESSAGE("the rest skipped under AddressSanitizer: its operator new aborts, never throws");
  return;
#endif
  o.nx = int64_t(1) << 50;  // 4 PiB
  CHECK_THROWS_WITH_AS(Genred("Var(0,1,1)", {}, "Sum", 1, o)({View<const float>{&y, 1, 1}}),
                       doctest::Contains("Genred: could not allocate the values (1 x "
                                         "1125899906842624 x 1): 4503599627370496 bytes"),
                       Error);
}

TEST_CASE("batch shapes whose element count overflows are refused") {
  const std::vector<float> x(3), y(3);
  keops::BatchShape huge;
  huge.count = 2;
  huge.dims[0] = int64_t(1) << 40;
  huge.dims[1] = int64_t(1) << 40;
  const Genred op("SqDist(x, y)", {"x = Vi(3)", "y = Vj(3)"}, "Sum", 1);
  CHECK_THROWS_WITH_AS(
      op({View<const float>{x.data(), 1, 3, -1, huge}, View<const float>{y.data(), 1, 3}}),
      doctest::Contains("the batch shape (1099511627776, 1099511627776) has more "
                        "than 2^63 elements"),
      Error);
}

TEST_CASE("the formula of a derivative with shared parts is printed linearly, and reads back") {
  // SoftDTW's gradient: a DAG whose tree form grows exponentially with the series' length
  // (5 x 2 values: 1.09 GB of text).
  const std::vector<std::string> aliases = {"x = Vi(8)", "y = Vj(8)", "g = Pm(1)"};
  const Genred grad = Genred("SoftDTW_SqDist(x, y, g)", aliases, "Sum", 1).grad("x");
  const std::string text = grad.formula();
  CHECK(text.size() < 200000);
  CHECK(text.rfind("_0=", 0) == 0);
  const Genred again(text, {}, "Sum", 1);
  std::vector<double> x(3 * 8), y(4 * 8), e(3), g = {0.5};
  for (size_t q = 0; q < x.size(); ++q) x[q] = std::sin(double(q));
  for (size_t q = 0; q < y.size(); ++q) y[q] = std::cos(double(q));
  for (size_t q = 0; q < e.size(); ++q) e[q] = 1.0 + double(q);
  const std::vector<View<const double>> args = {
      {x.data(), 3, 8}, {y.data(), 4, 8}, {g.data(), 1, 1}, {e.data(), 3, 1}};
  CHECK(again(args).values == grad(args).values);
}

TEST_CASE("rows of 100,000 components run on the CPU: their buffers are not on the stack") {
  // SqDist of 33,000 components crashed inside the kernel, a 256-byte stack slot a component.
  const int64_t d = 100000, n = 20, m = 30;
  Options o;
  o.backend = keops::Backend::CPU;
  const std::string dim = std::to_string(d);
  const Genred op("SqDist(x, y)", {"x = Vi(" + dim + ")", "y = Vj(" + dim + ")"}, "Sum", 1, o);
  std::vector<float> x(size_t(n * d)), y(size_t(m * d));
  for (size_t q = 0; q < x.size(); ++q) x[q] = float(q % 7) * 0.125f;
  for (size_t q = 0; q < y.size(); ++q) y[q] = float(q % 5) * 0.25f;
  const auto r = op({View<const float>{x.data(), n, d}, View<const float>{y.data(), m, d}});
  for (int64_t i = 0; i < n; ++i) {
    double expected = 0;
    for (int64_t j = 0; j < m; ++j)
      for (int64_t c = 0; c < d; ++c) {
        const double diff = double(x[size_t(i * d + c)]) - double(y[size_t(j * d + c)]);
        expected += diff * diff;
      }
    CHECK(r.values[size_t(i)] == doctest::Approx(expected).epsilon(1e-5));
  }
}

TEST_CASE("SoftDTW_SqDist of a series of 300,000 values: streamed, its buffers on the heap") {
  // The series were unrolled (1,100 values took 10 s to compile, these stalled) and the
  // loops' column of the table was on the stack (19 MB here). y has 1 value: the table is
  // cumulative sums of (x_i - y)^2.
  const int64_t n = 300000;
  Options o;
  o.backend = keops::Backend::CPU;
  const Genred op("SoftDTW_SqDist(x, y, g)",
                  {"x = Vi(" + std::to_string(n) + ")", "y = Vj(1)", "g = Pm(1)"}, "Sum", 1, o);
  std::vector<double> x(static_cast<size_t>(n)), y = {0.5}, g = {0.1};
  double expected = 0;
  for (int64_t q = 0; q < n; ++q) {
    x[size_t(q)] = double(q % 3) * 0.25;
    expected += (x[size_t(q)] - 0.5) * (x[size_t(q)] - 0.5);
  }
  const auto r = op({View<const double>{x.data(), 1, n}, View<const double>{y.data(), 1, 1},
                     View<const double>{g.data(), 1, 1}});
  CHECK(r.values[0] == doctest::Approx(expected).epsilon(1e-12));
  // Its derivative keeps the whole table: refused past 1,024 cells, naming the sizes.
  CHECK_THROWS_WITH_AS(
      Genred("SoftDTW_SqDist_Grad(x, y, g)", {"x = Vi(100)", "y = Vj(11)", "g = Pm(1)"}, "Sum", 1),
      doctest::Contains("series of 100 x 11 cells: at most 1024"), Error);
}

TEST_CASE("a long OneHot is streamed: compiled at once, and equal to the whole op's rule") {
  // OneHot(b, 20000) took 44 s to compile, every component unrolled.
  const int64_t d = 20000;
  const std::vector<double> b = {-0.7, 0.2, 2.5, 19999.4, 19999.6, std::nan(""), 7.49};
  const std::vector<double> c = {0.5, 1.25, 2.0};
  keops::test::for_each_backend([&](keops::Backend backend) {
    Options o;
    o.backend = backend;
    const Genred op("OneHot(b, " + std::to_string(d) + ") * c", {"b = Vi(1)", "c = Vj(1)"}, "Sum",
                    1, o);
    const auto r = op({View<const double>{b.data(), int64_t(b.size()), 1},
                       View<const double>{c.data(), int64_t(c.size()), 1}});
    REQUIRE(r.values.size() == b.size() * size_t(d));
    for (size_t i = 0; i < b.size(); ++i) {
      const double position = std::trunc(b[i] + 0.5);  // keopscore's (int)(b + .5)
      for (int64_t k = 0; k < d; ++k)
        if (r.values[i * size_t(d) + size_t(k)] != (position == double(k) ? 3.75 : 0.0)) {
          FAIL_CHECK("row " << i << ", component " << k);
          break;
        }
    }
  });
}

TEST_CASE("values of more than 2^20 components are refused when the formula is parsed") {
  // Found by the formula fuzzer: Var(48,1993711056,1) * 0 folded to a 16 GB constant.
  CHECK_THROWS_WITH_AS(Genred("Var(48,1993711056,1) * 0", {}, "Sum", 1),
                       doctest::Contains("in Var: the dim must be >= 1 and at most 1048576, not "
                                         "1993711056"),
                       Error);
  CHECK_THROWS_WITH_AS(Genred("TensorProd(x, y)", {"x = Vi(2048)", "y = Vj(4096)"}, "Sum", 1),
                       doctest::Contains("in TensorProd: the result would have 8388608 "
                                         "components; at most 1048576 are supported"),
                       Error);
  CHECK_THROWS_WITH_AS(
      Genred("TensorProd(TensorProd(x, x), TensorProd(x, x))", {"x = Vi(1048576)"}, "Sum", 1),
      doctest::Contains("components; at most 1048576 are supported"), Error);
  CHECK(Genred("x * 0", {"x = Vi(1048576)"}, "Sum", 1).value_cols() == 1048576);
}

TEST_CASE("forms taking a derivative per component are refused past 48 components") {
  // Found by the formula fuzzer: the Laplacian over 183,183 components held its basis vectors.
  CHECK_THROWS_WITH_AS(Genred("Laplacian(Exp(Norm2(x - 1)), x)", {"x = Vi(183183)"}, "Sum", 1),
                       doctest::Contains("in Laplacian: it takes one derivative per component, "
                                         "183183 here; at most 48 are supported"),
                       Error);
  CHECK_THROWS_WITH_AS(Genred("Divergence(x * 2, x)", {"x = Vi(49)"}, "Sum", 1),
                       doctest::Contains("in Divergence: it takes one derivative per component"),
                       Error);
  CHECK_THROWS_WITH_AS(Genred("GradMatrix(x * y, y)", {"x = Vi(64)", "y = Vj(64)"}, "Sum", 1),
                       doctest::Contains("in GradMatrix"), Error);
  CHECK_THROWS_WITH_AS(Genred("TraceOperator(x * y, y)", {"x = Vi(49)", "y = Vj(49)"}, "Sum", 1),
                       doctest::Contains("in TraceOperator"), Error);
  CHECK(Genred("Laplacian(Exp(-SqNorm2(x - y)), x)", {"x = Vi(48)", "y = Vj(48)"}, "Sum", 1)
            .value_cols() == 1);
}
