// Tests of the CPU kernel builder's choices: the width of a long output's column groups, and
// the length of the blocks of a sum.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "compiler/codegen/cpu_kernel.h"
#include "runtime/cpu/driver.h"
#include "runtime/cpu/kernels.h"
#include "tests/support/gpu_spec.h"

namespace {

using keops::codegen::cpu_column_group;
using keops::codegen::kColumnGroup;
using keops::ir::DType;
using keops::test::GpuSpec;

// cpu_column_group of a CPU spec over GpuSpec's aliases (x = Vi(dim), y = Vj(dim), v = Vj(e)).
int width(const char* formula, const char* reduction, int dim, int e = 1,
          const char* formula2 = "") {
  GpuSpec g(formula, reduction, DType::F32, 0, formula2, dim, e);
  g.spec.target = keops::codegen::CpuTarget{};
  return cpu_column_group(g.spec);
}

TEST_CASE("CPU column groups: wider where every group would compute long products again") {
  // The gradient of a Gaussian w.r.t. x: SqDist of rows of 100 and 1000 components per pair.
  CHECK(width("(x - y) * Exp(-SqDist(x, y))", "Sum", 1000) == 4 * kColumnGroup);
  CHECK(width("(x - y) * Exp(-SqDist(x, y))", "Sum", 100) == 4 * kColumnGroup);
  // Products of 64 components, a long output of 1000 read from v; G's groups likewise.
  CHECK(width("Exp(-SqDist(x, y)) * v", "Sum", 64, 1000) == 4 * kColumnGroup);
  CHECK(width("(x | y)", "SumSoftMaxWeight", 64, 1000, "v") == 4 * kColumnGroup);
  // Short products (3 or 48 components), or none: groups of kColumnGroup.
  CHECK(width("Exp(-SqDist(x, y)) * v", "Sum", 3, 1000) == kColumnGroup);
  CHECK(width("Exp(-SqDist(x, y)) * v", "Sum", 48, 1000) == kColumnGroup);
  CHECK(width("x - y * b", "Sum", 1000) == kColumnGroup);
}

// Max-norm relative error of the float32 Sum_j Square(x_i - y_j) over ny terms (x, y in
// [0.1, 1]) against the float64 sum, with blocks of block_size terms (0: automatic).
double short_sum_error(int64_t ny, int64_t block_size) {
  GpuSpec g({"x = Vi(1)", "y = Vj(1)"}, "Square(x - y)", "Sum", DType::F32);
  g.spec.target = keops::codegen::CpuTarget::host();
  g.spec.block_size = block_size;
  const int64_t nx = 200;
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> u(0.1f, 1.0f);
  std::vector<float> x(static_cast<size_t>(nx)), y(static_cast<size_t>(ny)),
      out(static_cast<size_t>(nx));
  for (float& v : x) v = u(rng);
  for (float& v : y) v = u(rng);
  keops::runtime::ReductionArrays<float> arrays;
  arrays.out_rows = nx;
  arrays.n_reduced = ny;
  arrays.args = {{x.data(), nx, 1}, {y.data(), ny, 1}};
  arrays.values = {out.data(), nx, 1};
  keops::runtime::run_cpu_kernel<float>(keops::runtime::cpu_kernel_for(g.spec), arrays, 1);
  double error = 0, scale = 0;
  for (int64_t i = 0; i < nx; ++i) {
    double exact = 0;
    for (float yj : y) exact += (double(x[size_t(i)]) - yj) * (double(x[size_t(i)]) - yj);
    error = std::max(error, std::fabs(double(out[size_t(i)]) - exact));
    scale = std::max(scale, std::fabs(exact));
  }
  return error / scale;
}

}  // namespace

TEST_CASE(
    "CPU block sums: blocks of sqrt(n) terms keep short float32 sums as accurate as KeOps's") {
  // KeOps 2.3 (blocks of sqrt(ny)) measured 1.2e-7 on the 300-term sum; fixed blocks of 256
  // (a sequential sum of 256 terms, then 44) gave 4.5e-7.
  for (int64_t ny : {100, 300, 1000}) {
    const double automatic = short_sum_error(ny, 0), fixed = short_sum_error(ny, 256);
    MESSAGE("float32 sum of ", ny, " terms: blocks of sqrt(n) ", automatic, ", of 256 ", fixed);
    CHECK(automatic < 2.5e-7);
    if (ny <= 300) CHECK(automatic * 2 < fixed);  // a few hundred terms: one long block before
  }
}

TEST_CASE("CPU kernels of two requests that simplify alike: each its own, equal results") {
  std::vector<float> results[2];
  const char* formulas[2] = {"x * y + x * y * 2", "3 * (x * y)"};
  const int64_t nx = 37, ny = 53;
  std::vector<float> x(static_cast<size_t>(nx)), y(static_cast<size_t>(ny));
  for (size_t k = 0; k < x.size(); ++k) x[k] = 0.25f * float(k % 7) - 0.5f;
  for (size_t k = 0; k < y.size(); ++k) y[k] = 0.125f * float(k % 5) + 0.5f;
  for (int which = 0; which < 2; ++which) {
    GpuSpec g({"x = Vi(1)", "y = Vj(1)"}, formulas[which], "Sum", DType::F32);
    g.spec.target = keops::codegen::CpuTarget::host();
    keops::runtime::ReductionArrays<float> arrays;
    arrays.out_rows = nx;
    arrays.n_reduced = ny;
    arrays.args = {{x.data(), nx, 1}, {y.data(), ny, 1}};
    results[which].resize(size_t(nx));
    arrays.values = {results[which].data(), nx, 1};
    keops::runtime::run_cpu_kernel<float>(keops::runtime::cpu_kernel_for(g.spec), arrays, 2);
  }
  CHECK(results[0] == results[1]);
  double expected = 0;
  for (float yj : y) expected += 3.0 * double(x[3]) * double(yj);
  CHECK(results[0][3] == doctest::Approx(expected).epsilon(1e-6));
}
