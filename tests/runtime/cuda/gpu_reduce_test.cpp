// GPU reductions against the float64 reference (run on a GPU machine; skipped without a GPU).
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <keops/keops.h>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/frontend/aliases.h"
#include "compiler/frontend/parser.h"
#include "compiler/ir/context.h"
#include "compiler/ir/evaluator.h"
#include "runtime/cuda/gpu_reduce.h"
#include "tests/support/backends.h"

namespace {

struct Case {
  const char* formula;
  const char* reduction;
  int k;
  const char* formula2;
};

const std::vector<std::string> kAliases = {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)", "p = Pm(1)"};

template <class T>
void check_case(const Case& c, int axis, int64_t nx, int64_t ny) {
  using keops::ir::DType;
  const DType dtype = sizeof(T) == 4 ? DType::F32 : DType::F64;
  keops::ir::Context ctx;
  const auto aliases = keops::frontend::AliasTable::parse(kAliases);
  keops::codegen::KernelSpec spec;
  spec.formula = keops::frontend::parse_formula(c.formula, aliases, ctx, dtype);
  spec.reduction.kind = keops::ir::reduction_by_name(c.reduction);
  spec.reduction.k = c.k;
  if (*c.formula2)
    spec.reduction.formula2 = keops::frontend::parse_formula(c.formula2, aliases, ctx, dtype);
  spec.axis = axis;
  spec.dtype = dtype;
  spec.args = {
      {3, keops::ir::CatI}, {3, keops::ir::CatJ}, {1, keops::ir::CatJ}, {1, keops::ir::CatP}};
  spec.target = keops::codegen::GpuTarget{keops::runtime::cuda::device_sm(0)};

  std::mt19937_64 rng(uint64_t(nx * 31 + ny));
  std::uniform_real_distribution<double> u(0.1, 1.0);
  auto fill = [&](int64_t n) {
    std::vector<T> v(static_cast<size_t>(n));
    for (T& t : v) t = T(u(rng));
    return v;
  };
  std::vector<T> x = fill(nx * 3), y = fill(ny * 3), b = fill(ny), p = fill(1);
  std::vector<keops::View<const T>> args = {
      {x.data(), nx, 3}, {y.data(), ny, 3}, {b.data(), ny, 1}, {p.data(), 1, 1}};
  const int64_t out_rows = axis == 1 ? nx : ny, reduced = axis == 1 ? ny : nx;
  const int64_t cols = spec.value_cols(), index_cols = spec.index_cols();
  std::vector<T> values(size_t(out_rows * cols), T(-12345));
  std::vector<int64_t> indices(size_t(out_rows * index_cols), -12345);
  keops::runtime::cuda::run_gpu_reduction<T>(spec, 0,
                                             {out_rows,
                                              reduced,
                                              args,
                                              {values.data(), out_rows, cols},
                                              {indices.data(), out_rows, index_cols}});

  keops::ir::Context ref_ctx;
  keops::ir::ReductionSpec ref_spec;
  ref_spec.kind = spec.reduction.kind;
  ref_spec.k = c.k;
  if (*c.formula2)
    ref_spec.formula2 = keops::frontend::parse_formula(c.formula2, aliases, ref_ctx, DType::F64);
  auto f = keops::frontend::parse_formula(c.formula, aliases, ref_ctx, DType::F64);
  std::vector<double> xd(x.begin(), x.end()), yd(y.begin(), y.end()), bd(b.begin(), b.end()),
      pd(p.begin(), p.end());
  static const double none = 0;
  auto ptr = [&](const std::vector<double>& v) { return v.empty() ? &none : v.data(); };
  const auto ref =
      keops::ir::reference_reduce(f, ref_spec, axis, {ptr(xd), ptr(yd), ptr(bd), ptr(pd)}, nx, ny);
  double err = 0, norm = 0;
  for (size_t k = 0; k < ref.values.size(); ++k) {
    err = std::max(err, std::fabs(double(values[k]) - ref.values[k]));
    norm = std::max(norm, std::fabs(ref.values[k]));
  }
  CAPTURE(c.formula);
  CAPTURE(c.reduction);
  CAPTURE(axis);
  CAPTURE(nx);
  CAPTURE(ny);
  CHECK(err <= (sizeof(T) == 4 ? 1e-5 : 1e-12) * std::max(norm, 1e-300));
  CHECK(indices == ref.indices);
}

}  // namespace

TEST_CASE_TEMPLATE("GPU reductions match the reference", T, float, double) {
  if (!keops::test::gpu_usable()) return;
  const Case cases[] = {{"Exp(-p * SqDist(x, y)) * b", "Sum", 0, ""},
                        {"x * y + b", "Sum", 0, ""},
                        {"SqDist(x, y)", "ArgKMin", 5, ""},
                        {"x - y", "Min_ArgMin", 0, ""},
                        {"x * y", "Max", 0, ""},
                        {"-SqDist(x, y)", "LogSumExp", 0, ""},
                        {"(x | y)", "SumSoftMaxWeight", 0, "y"}};
  for (const Case& c : cases)
    for (int axis : {0, 1})
      for (auto [nx, ny] : {std::pair<int64_t, int64_t>{1, 1}, {7, 0}, {300, 257}, {1031, 1000}})
        check_case<T>(c, axis, nx, ny);
}
