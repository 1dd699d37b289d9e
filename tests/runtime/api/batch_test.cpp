// Batch dims of Genred's arguments: broadcasting, per-batch reductions and gradients, errors.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <keops/keops.h>

#include "tests/support/backends.h"

using keops::Backend;
using keops::BatchShape;
using keops::Error;
using keops::Genred;
using keops::Options;
using keops::View;

namespace {

const std::vector<std::string> kAliases = {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)", "g = Pm(1)"};
const char* kGauss = "Exp(-SqDist(x, y) * g) * b";

std::vector<float> uniform(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

Options cpu() {
  Options o;
  o.backend = Backend::CPU;
  return o;
}

// x: (2, 3, nx, 3); y: (3, ny, 3), a missing leading dim; b: (2, 1, ny, 1), a size-1 dim;
// g: (2, 1, 1, 1). They broadcast to (2, 3).
struct Batched {
  int64_t nx = 7, ny = 9;
  std::vector<float> x = uniform(size_t(6 * nx * 3), 1), y = uniform(size_t(3 * ny * 3), 2),
                     b = uniform(size_t(2 * ny), 3), g = {0.5f, 2.0f};
  std::vector<View<const float>> views() const {
    return {{x.data(), nx, 3, -1, {2, {2, 3}}},
            {y.data(), ny, 3, -1, {1, {3}}},
            {b.data(), ny, 1, -1, {2, {2, 1}}},
            {g.data(), 1, 1, -1, {2, {2, 1}}}};
  }
  // The unbatched views of element (p, q).
  std::vector<View<const float>> element(int64_t p, int64_t q) const {
    return {{x.data() + (p * 3 + q) * nx * 3, nx, 3},
            {y.data() + q * ny * 3, ny, 3},
            {b.data() + p * ny, ny, 1},
            {g.data() + p, 1, 1}};
  }
};

// sum_j exp(-g |x_i - y_j|^2) b_j, in double, for one element.
std::vector<double> gauss_loop(const std::vector<View<const float>>& v, int axis) {
  const View<const float>&x = v[0], &y = v[1];
  const int64_t out_rows = axis == 1 ? x.rows : y.rows;
  std::vector<double> out(size_t(out_rows), 0.0);
  for (int64_t i = 0; i < x.rows; ++i)
    for (int64_t j = 0; j < y.rows; ++j) {
      double d2 = 0;
      for (int c = 0; c < 3; ++c) {
        const double d = double(x.data[3 * i + c]) - double(y.data[3 * j + c]);
        d2 += d * d;
      }
      // axis 1 weighs by b_j (a j argument); axis 0 by b_i: b is then an i argument.
      const double w = std::exp(-d2 * double(v[3].data[0])) * double(v[2].data[axis == 1 ? j : i]);
      out[size_t(axis == 1 ? i : j)] += w;
    }
  return out;
}

void check_close(const float* got, const std::vector<double>& want) {
  for (size_t k = 0; k < want.size(); ++k)
    CHECK(double(got[k]) == doctest::Approx(want[k]).epsilon(1e-5));
}

}  // namespace

TEST_CASE("Genred broadcasts batch dims: a Sum per batch element, over j") {
  Batched d;
  Genred op(kGauss, kAliases, "Sum", 1, cpu());
  const auto r = op(d.views());
  CHECK(r.batch.count == 2);
  CHECK(r.batch.dims[0] == 2);
  CHECK(r.batch.dims[1] == 3);
  CHECK(r.rows == d.nx);
  REQUIRE(r.values.size() == size_t(6 * d.nx));
  for (int64_t p = 0; p < 2; ++p)
    for (int64_t q = 0; q < 3; ++q) {
      CAPTURE(p);
      CAPTURE(q);
      const float* got = r.values.data() + (p * 3 + q) * d.nx;
      check_close(got, gauss_loop(d.element(p, q), 1));
      // The same kernel as the unbatched call: the same bits.
      const auto one = op(d.element(p, q));
      CHECK(one.batch.count == 0);
      CHECK(std::vector<float>(got, got + d.nx) == one.values);
    }
}

TEST_CASE("Genred batch dims: a later argument with more dims extends the batch shape") {
  Batched d;
  Genred op(kGauss, kAliases, "Sum", 1, cpu());
  const std::vector<float> g4 = {0.5f, 1.0f, 2.0f, 3.0f};
  auto args = d.views();
  args[3] = {g4.data(), 1, 1, -1, {3, {4, 1, 1}}};  // (4, 1, 1) with (2, 3): (4, 2, 3)
  const auto r = op(args);
  REQUIRE(r.batch.count == 3);
  CHECK(r.batch.dims[0] == 4);
  CHECK(r.batch.dims[1] == 2);
  CHECK(r.batch.dims[2] == 3);
  REQUIRE(r.values.size() == size_t(24 * d.nx));
  for (int64_t k = 0; k < 4; ++k)
    for (int64_t p = 0; p < 2; ++p)
      for (int64_t q = 0; q < 3; ++q) {
        auto one = d.element(p, q);
        one[3] = {g4.data() + k, 1, 1};
        check_close(r.values.data() + ((k * 2 + p) * 3 + q) * d.nx, gauss_loop(one, 1));
      }
}

TEST_CASE("Genred batch dims of any rank: six dims, broadcast against three") {
  Batched d;
  Genred op(kGauss, kAliases, "Sum", 1, cpu());
  // x: (2, 1, 1, 1, 2, 3, nx, 3), its dims written one at a time; y, b, g as in Batched.
  const std::vector<float> x = uniform(size_t(2 * 6 * d.nx * 3), 21);
  auto args = d.views();
  args[0] = {x.data(), d.nx, 3};
  const int64_t dims[] = {2, 1, 1, 1, 2, 3};
  args[0].batch.count = 6;
  for (int k = 0; k < 6; ++k) args[0].batch.dims[size_t(k)] = dims[k];
  args[2].batch = {3, {1, 2, 1}};
  const auto r = op(args);
  REQUIRE(r.batch.count == 6);
  for (int k = 0; k < 6; ++k) CHECK(r.batch.dims[size_t(k)] == dims[k]);
  CHECK(r.batch.size() == 12);
  REQUIRE(r.values.size() == size_t(12 * d.nx));
  for (int64_t s = 0; s < 2; ++s)
    for (int64_t p = 0; p < 2; ++p)
      for (int64_t q = 0; q < 3; ++q) {
        CAPTURE(s);
        CAPTURE(p);
        CAPTURE(q);
        auto one = d.element(p, q);
        one[0] = {x.data() + ((s * 2 + p) * 3 + q) * d.nx * 3, d.nx, 3};
        check_close(r.values.data() + ((s * 2 + p) * 3 + q) * d.nx, gauss_loop(one, 1));
      }
}

TEST_CASE("BatchShape: dims read like an array; a count beyond them reads 0s") {
  const View<const float> v{nullptr, 5, 3, -1, {2, {4, 5}}};  // a (4, 5, 5, 3) array
  CHECK(v.batch.count == 2);
  CHECK(v.batch.dims[0] == 4);
  CHECK(v.batch.dims[1] == 5);
  CHECK(v.batch.dims[7] == 0);
  CHECK(v.batch.size() == 20);
  BatchShape b;
  CHECK(b.size() == 1);
  b.dims[2] = 7;
  b.count = 3;
  CHECK(b.dims[0] == 0);
  CHECK(b.size() == 0);
  const BatchShape wide{9, {1, 2, 1, 2, 1, 2, 1, 2, 3}};
  CHECK(wide.size() == 48);
}

TEST_CASE("Genred batch dims over i (axis 0), and into caller memory through run") {
  // x: (2, 1, nx, 3); y: (3, ny, 3); b = Vi(1): (1, 3, nx, 1); g: no batch dims.
  const int64_t nx = 6, ny = 5;
  const std::vector<float> x = uniform(size_t(2 * nx * 3), 11), y = uniform(size_t(3 * ny * 3), 12),
                           b = uniform(size_t(3 * nx), 13), g = {1.5f};
  Genred op(kGauss, {"x = Vi(3)", "y = Vj(3)", "b = Vi(1)", "g = Pm(1)"}, "Sum", 0, cpu());
  const std::vector<View<const float>> args = {{x.data(), nx, 3, -1, {2, {2, 1}}},
                                               {y.data(), ny, 3, -1, {1, {3}}},
                                               {b.data(), nx, 1, -1, {2, {1, 3}}},
                                               {g.data(), 1, 1}};
  std::vector<float> out(size_t(6 * ny), -1.0f);
  op.run(args, View<float>{out.data(), ny, 1, -1, {2, {2, 3}}});
  for (int64_t p = 0; p < 2; ++p)
    for (int64_t q = 0; q < 3; ++q)
      check_close(out.data() + (p * 3 + q) * ny, gauss_loop({{x.data() + p * nx * 3, nx, 3},
                                                             {y.data() + q * ny * 3, ny, 3},
                                                             {b.data() + q * nx, nx, 1},
                                                             {g.data(), 1, 1}},
                                                            0));
  // The output must carry the broadcast batch shape.
  CHECK_THROWS_WITH_AS(op.run(args, View<float>{out.data(), ny, 1, -1, {1, {6}}}),
                       doctest::Contains("Genred::run: values has batch shape (6), but the "
                                         "arguments' batch shape is (2, 3)"),
                       Error);
  CHECK_THROWS_WITH_AS(op.run(args, View<float>{out.data(), ny, 1}),
                       doctest::Contains("Genred::run: values has batch shape (), but the "
                                         "arguments' batch shape is (2, 3)"),
                       Error);
}

TEST_CASE("Genred batch dims: an Arg reduction gives indices per batch element") {
  // x: (2, nx, 3), y: (2, ny, 3) with different points per element.
  const int64_t nx = 8, ny = 11;
  const std::vector<float> x = uniform(size_t(2 * nx * 3), 21), y = uniform(size_t(2 * ny * 3), 22);
  Genred op("SqDist(x, y)", {"x = Vi(3)", "y = Vj(3)"}, "Min_ArgMin", 1, cpu());
  const auto r = op({{x.data(), nx, 3, -1, {1, {2}}}, {y.data(), ny, 3, -1, {1, {2}}}});
  CHECK(r.batch.count == 1);
  CHECK(r.batch.dims[0] == 2);
  REQUIRE(r.indices.size() == size_t(2 * nx));
  REQUIRE(r.values.size() == size_t(2 * nx));
  for (int64_t p = 0; p < 2; ++p)
    for (int64_t i = 0; i < nx; ++i) {
      double best = INFINITY;
      int64_t arg = -1;
      for (int64_t j = 0; j < ny; ++j) {
        double d2 = 0;
        for (int c = 0; c < 3; ++c) {
          const double d =
              double(x[size_t((p * nx + i) * 3 + c)]) - double(y[size_t((p * ny + j) * 3 + c)]);
          d2 += d * d;
        }
        if (d2 < best) best = d2, arg = j;
      }
      // The index counts within the element's own ny rows.
      CHECK(r.indices[size_t(p * nx + i)] == arg);
      CHECK(double(r.values[size_t(p * nx + i)]) == doctest::Approx(best).epsilon(1e-5));
    }
}

TEST_CASE("Genred batch dims: gradients per batch element") {
  Batched d;
  Genred op(kGauss, kAliases, "Sum", 1, cpu());
  const std::vector<float> e = uniform(size_t(6 * d.nx), 31);
  SUBCASE("with respect to x: one gradient per element, x's shape") {
    auto args = d.views();
    args.push_back({e.data(), d.nx, 1, -1, {2, {2, 3}}});
    const auto gx = op.grad("x")(args);
    CHECK(gx.batch.count == 2);
    REQUIRE(gx.values.size() == d.x.size());
    for (int64_t p = 0; p < 2; ++p)
      for (int64_t q = 0; q < 3; ++q) {
        const auto v = d.element(p, q);
        const float* ep = e.data() + (p * 3 + q) * d.nx;
        std::vector<double> want(size_t(d.nx * 3), 0.0);
        // d/dx_i of sum_i e_i sum_j exp(-g |x_i - y_j|^2) b_j.
        for (int64_t i = 0; i < d.nx; ++i)
          for (int64_t j = 0; j < d.ny; ++j) {
            double d2 = 0;
            for (int c = 0; c < 3; ++c) {
              const double t = double(v[0].data[3 * i + c]) - double(v[1].data[3 * j + c]);
              d2 += t * t;
            }
            const double gval = double(v[3].data[0]);
            const double w = std::exp(-d2 * gval) * double(v[2].data[j]) * double(ep[i]);
            for (int c = 0; c < 3; ++c)
              want[size_t(3 * i + c)] +=
                  -2 * gval * (double(v[0].data[3 * i + c]) - double(v[1].data[3 * j + c])) * w;
          }
        check_close(gx.values.data() + (p * 3 + q) * d.nx * 3, want);
      }
  }
  SUBCASE("with respect to the broadcast parameter g: one value per element") {
    auto args = d.views();
    args.push_back({e.data(), d.nx, 1, -1, {2, {2, 3}}});
    const auto gg = op.grad("g")(args);
    CHECK(gg.rows == 1);
    REQUIRE(gg.values.size() == 6);
    for (int64_t p = 0; p < 2; ++p)
      for (int64_t q = 0; q < 3; ++q) {
        auto one = d.element(p, q);
        one.push_back({e.data() + (p * 3 + q) * d.nx, d.nx, 1});
        const auto want = op.grad("g")(one);
        CHECK(gg.values[size_t(p * 3 + q)] == want.values[0]);
      }
  }
}

TEST_CASE("Genred batch dims in float64, an empty batch, and on the GPU") {
  const int64_t nx = 4, ny = 5;
  const std::vector<double> x(size_t(3 * nx * 3), 0.25), y(size_t(ny * 3), 0.5), b(size_t(ny), 1.0),
      g = {1.0};
  Genred op(kGauss, kAliases, "Sum", 1, cpu());
  const auto r =
      op({{x.data(), nx, 3, -1, {1, {3}}}, {y.data(), ny, 3}, {b.data(), ny, 1}, {g.data(), 1, 1}});
  CHECK(r.batch.count == 1);
  REQUIRE(r.values.size() == size_t(3 * nx));
  for (double v : r.values) CHECK(v == doctest::Approx(5 * std::exp(-3 * 0.0625)).epsilon(1e-12));
  // A batch dim of 0: no element, no output.
  const auto empty = op(
      {{x.data(), nx, 3, -1, {2, {0, 3}}}, {y.data(), ny, 3}, {b.data(), ny, 1}, {g.data(), 1, 1}});
  CHECK(empty.batch.dims[0] == 0);
  CHECK(empty.values.empty());
  if (!keops::test::gpu_usable()) return;
  Options gpu;
  gpu.backend = Backend::GPU;
  Batched d;
  const auto on_gpu = Genred(kGauss, kAliases, "Sum", 1, gpu)(d.views());
  const auto on_cpu = Genred(kGauss, kAliases, "Sum", 1, cpu())(d.views());
  REQUIRE(on_gpu.values.size() == on_cpu.values.size());
  for (size_t k = 0; k < on_cpu.values.size(); ++k)
    CHECK(on_gpu.values[k] == doctest::Approx(on_cpu.values[k]).epsilon(1e-5));
}

TEST_CASE("Genred batch dims: errors name the argument") {
  Batched d;
  Genred op(kGauss, kAliases, "Sum", 1, cpu());
  auto args = d.views();
  args[1].batch = {1, {4}};
  CHECK_THROWS_WITH_AS(op(args),
                       doctest::Contains("Genred: argument 1 (y) has batch shape (4), which does "
                                         "not broadcast with argument 0 (x): batch dims 4 and 3 "
                                         "(aligned on the right) must be equal or 1"),
                       Error);
  args = d.views();
  args[2].batch = {3, {5, 3, 1}};
  CHECK_THROWS_WITH_AS(op(args),
                       doctest::Contains("Genred: argument 2 (b) has batch shape (5, 3, 1), which "
                                         "does not broadcast with argument 0 (x): batch dims 3 "
                                         "and 2"),
                       Error);
  args = d.views();
  args[3].batch.count = -1;
  CHECK_THROWS_WITH_AS(op(args),
                       doctest::Contains("Genred: argument 3 (g) has -1 batch dims; the count "
                                         "must be >= 0"),
                       Error);
  args = d.views();
  args[0].batch = {1, {-2}};
  CHECK_THROWS_WITH_AS(op(args),
                       doctest::Contains("Genred: argument 0 (x) has the negative batch dim -2 "
                                         "in its batch shape (-2)"),
                       Error);
  // Rows are still checked per element, against the aliases.
  args = d.views();
  args[1].rows = d.ny - 1;
  args[1].batch = {};
  CHECK_THROWS_WITH_AS(
      op(args), doctest::Contains("Genred: argument 2 (b) has 9 rows, but argument 1 (y)"), Error);
}
