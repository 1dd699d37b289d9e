// The matrix units (tensor cores) on a GPU (skipped without one, or before sm_80): every
// reduction against the float64 reference, both axes, ragged sizes, the schemes, precision.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <keops/keops.h>

#include "compiler/frontend/aliases.h"
#include "compiler/frontend/parser.h"
#include "compiler/ir/context.h"
#include "compiler/ir/evaluator.h"
#include "runtime/cuda/gpu_reduce.h"
#include "tests/support/backends.h"

namespace {

// x = Vi(d), y = Vj(d), v = Vj(e), p = Pm(1): x and y uniform in [center, center + spread).
struct Data {
  int64_t nx, ny;
  int d, e;
  std::vector<float> x, y, v, p;

  Data(int64_t nx_, int64_t ny_, int d_, int e_ = 4, float center = 0.f, float spread = 1.f)
      : nx(nx_), ny(ny_), d(d_), e(e_) {
    std::mt19937 rng(uint32_t(nx * 7 + ny * 3 + d));
    std::uniform_real_distribution<float> u(0.f, 1.f);
    for (int64_t k = 0; k < nx * d; ++k) x.push_back(center + spread * u(rng));
    for (int64_t k = 0; k < ny * d; ++k) y.push_back(center + spread * u(rng));
    for (int64_t k = 0; k < ny * e; ++k) v.push_back(u(rng) - 0.5f);
    p = {4.f / float(d)};
  }
  std::vector<std::string> aliases() const {
    return {"x = Vi(" + std::to_string(d) + ")", "y = Vj(" + std::to_string(d) + ")",
            "v = Vj(" + std::to_string(e) + ")", "p = Pm(1)"};
  }
  std::vector<keops::View<const float>> views() const {
    return {{x.data(), nx, d}, {y.data(), ny, d}, {v.data(), ny, e}, {p.data(), 1, 1}};
  }
};

struct Case {
  const char* formula;
  const char* reduction;
  int k = 0;
  const char* formula2 = "";
};

keops::Genred genred(const Data& data, const Case& c, int axis, keops::Options o) {
  o.backend = keops::Backend::GPU;
  o.k = c.k;
  o.formula2 = c.formula2;
  return keops::Genred(c.formula, data.aliases(), c.reduction, axis, o);
}

keops::ir::ReferenceOutput reference(const Data& data, const Case& c, int axis) {
  keops::ir::Context ctx;
  const auto table = keops::frontend::AliasTable::parse(data.aliases());
  keops::ir::ReductionSpec r;
  r.kind = keops::ir::reduction_by_name(c.reduction);
  r.k = c.k;
  if (*c.formula2)
    r.formula2 = keops::frontend::parse_formula(c.formula2, table, ctx, keops::ir::DType::F64);
  const auto f = keops::frontend::parse_formula(c.formula, table, ctx, keops::ir::DType::F64);
  const std::vector<double> x(data.x.begin(), data.x.end()), y(data.y.begin(), data.y.end()),
      v(data.v.begin(), data.v.end()), p(data.p.begin(), data.p.end());
  return keops::ir::reference_reduce(f, r, axis, {x.data(), y.data(), v.data(), p.data()}, data.nx,
                                     data.ny);
}

// Max-norm relative distance of got from the reference's values.
double relative_error(const std::vector<float>& got, const std::vector<double>& want) {
  double diff = 0, scale = 0;
  for (size_t k = 0; k < want.size(); ++k) {
    diff = std::max(diff, std::abs(double(got[k]) - want[k]));
    scale = std::max(scale, std::abs(want[k]));
  }
  return scale > 0 ? diff / scale : diff;
}

// Output rows whose indices differ from the reference's other than at a near-tie: where the
// reference's values at that rank and at the index chosen differ by more than `tie`.
int64_t index_mismatches(const std::vector<int64_t>& got, const keops::ir::ReferenceOutput& want,
                         const std::vector<float>& got_values, double tie) {
  int64_t bad = 0;
  for (size_t k = 0; k < want.indices.size(); ++k)
    if (got[k] != want.indices[k] &&
        (got_values.empty() || std::abs(double(got_values[k]) - want.values[k]) > tie))
      ++bad;
  return bad;
}

bool matrix_units_usable() {
  if (!keops::test::gpu_usable()) return false;
  if (keops::runtime::cuda::device_sm(0) >= 80) return true;
  MESSAGE("matrix-unit tests skipped: GPU 0 is older than sm_80");
  return false;
}

const Case kCases[] = {
    {"Exp(-SqDist(x, y) * p) * v", "Sum"}, {"(x | y) * v", "Sum"},
    {"-SqDist(x, y) * p", "LogSumExp"},    {"(x | y) * p", "SumSoftMaxWeight", 0, "v"},
    {"SqDist(x, y)", "Min_ArgMin"},        {"(x | y)", "Max_ArgMax"},
    {"SqDist(x, y)", "KMin_ArgKMin", 5},   {"SqDist(x, y)", "ArgKMin", 3},
};

}  // namespace

TEST_CASE("matrix units: every reduction, both axes, ragged sizes, against the reference") {
  if (!matrix_units_usable()) return;
  for (int d : {64, 20}) {
    const Data data(1003, 517, d);
    for (int axis : {1, 0})
      for (const Case& c : kCases) {
        CAPTURE(c.formula);
        CAPTURE(c.reduction);
        CAPTURE(d);
        CAPTURE(axis);
        const auto want = reference(data, c, axis);
        keops::Options on;
        on.tensor_cores = keops::TensorCores::On;
        const auto got = genred(data, c, axis, on)(data.views());
        keops::Options off;
        off.tensor_cores = keops::TensorCores::Off;
        const auto cuda_cores = genred(data, c, axis, off)(data.views());
        const double error = relative_error(got.values, want.values);
        MESSAGE(c.reduction << " d=" << d << " axis=" << axis << ": " << error << " (CUDA cores: "
                            << relative_error(cuda_cores.values, want.values) << ")");
        CHECK(error <= 1e-5);
        CHECK(index_mismatches(got.indices, want, got.values, 1e-5 * d) == 0);
      }
  }
}

TEST_CASE("matrix units: TF32 products, one pass, within their documented error") {
  if (!matrix_units_usable()) return;
  const Data data(777, 901, 64);
  for (const Case& c : {kCases[0], kCases[2], kCases[4]}) {
    CAPTURE(c.reduction);
    const auto want = reference(data, c, 1);
    keops::Options o;
    o.tensor_cores = keops::TensorCores::On;
    o.matmul_precision = keops::MatmulPrecision::TF32;
    const auto got = genred(data, c, 1, o)(data.views());
    const double error = relative_error(got.values, want.values);
    MESSAGE("TF32 " << c.reduction << ": " << error);
    CHECK(error <= 5e-3);
  }
}

TEST_CASE(
    "matrix units: the 2-D scheme, block-sparse ranges, a gradient: the CUDA cores' results") {
  if (!matrix_units_usable()) return;
  keops::Options on, off;
  on.tensor_cores = keops::TensorCores::On;
  off.tensor_cores = keops::TensorCores::Off;
  // Few output rows and many reduced ones: the reduced axis is split across blocks.
  const Data few(40, 60001, 48);
  for (const Case& c : {kCases[0], kCases[6]}) {
    CAPTURE(c.reduction);
    const auto want = reference(few, c, 1);
    const auto got = genred(few, c, 1, on)(few.views());
    CHECK(relative_error(got.values, want.values) <= 1e-5);
    CHECK(index_mismatches(got.indices, want, got.values, 1e-4) == 0);
  }
  const Data data(2000, 1500, 32);
  keops::Options sparse_on = on, sparse_off = off;
  sparse_on.ranges = sparse_off.ranges = keops::from_matrix(
      {{0, 1000}, {1000, 2000}}, {{0, 700}, {700, 1500}}, {true, false, true, true});
  for (const Case& c : {kCases[0], kCases[4]}) {
    CAPTURE(c.reduction);
    const auto got = genred(data, c, 1, sparse_on)(data.views());
    const auto cuda_cores = genred(data, c, 1, sparse_off)(data.views());
    std::vector<double> cores(cuda_cores.values.begin(), cuda_cores.values.end());
    CHECK(relative_error(got.values, cores) <= 1e-5);
  }
  const keops::Genred forward = genred(data, kCases[0], 1, on);
  std::vector<float> e(size_t(data.nx * data.e), 0.25f);
  auto args = data.views();
  args.push_back({e.data(), data.nx, data.e});
  const auto got = forward.grad("x")(args);
  const auto cuda_cores = genred(data, kCases[0], 1, off).grad("x")(args);
  std::vector<double> cores(cuda_cores.values.begin(), cuda_cores.values.end());
  CHECK(relative_error(got.values, cores) <= 1e-5);
}

TEST_CASE("matrix units: near points far from the origin keep their nearest neighbours") {
  if (!matrix_units_usable()) return;
  // Points in a cube of side 0.01 at 1000 from the origin; each y_i is x_i moved by 1e-3.
  Data data(1000, 1000, 32, 4, 1000.f, 0.01f);
  std::mt19937 rng(5);
  std::normal_distribution<float> n(0.f, 1.f);
  for (int64_t i = 0; i < data.nx; ++i) {
    std::vector<float> step(size_t(data.d));
    float norm = 0;
    for (float& s : step) {
      s = n(rng);
      norm += s * s;
    }
    for (int k = 0; k < data.d; ++k)
      data.y[size_t(i * data.d + k)] =
          data.x[size_t(i * data.d + k)] + 1e-3f * step[size_t(k)] / std::sqrt(norm);
  }
  keops::Options on;
  on.tensor_cores = keops::TensorCores::On;
  const Case nearest{"SqDist(x, y)", "Min_ArgMin"};
  const auto want = reference(data, nearest, 1);
  const auto got = genred(data, nearest, 1, on)(data.views());
  for (int64_t i = 0; i < data.nx; ++i) {
    CHECK(got.indices[size_t(i)] == want.indices[size_t(i)]);
    CHECK(got.values[size_t(i)] == doctest::Approx(want.values[size_t(i)]).epsilon(1e-3));
  }
  // A Gaussian of scale 1e-3 there: sums of terms whose exponents are of order 1.
  const Case gauss{"Exp(-SqDist(x, y) * p) * v", "Sum"};
  data.p = {1e6f};
  const auto sums = genred(data, gauss, 1, on)(data.views());
  CHECK(relative_error(sums.values, reference(data, gauss, 1).values) <= 1e-4);
}

TEST_CASE("matrix units: bad options are errors that say what is wrong") {
  keops::Options o;
  o.tensor_cores = static_cast<keops::TensorCores>(7);
  CHECK_THROWS_WITH_AS(keops::Genred("SqDist(x, y)", {"x = Vi(3)", "y = Vj(3)"}, "Sum", 1, o),
                       "Genred: Options::tensor_cores must be Auto, On or Off, not 7",
                       keops::Error);
  o = {};
  o.matmul_precision = static_cast<keops::MatmulPrecision>(-1);
  CHECK_THROWS_WITH_AS(keops::Genred("SqDist(x, y)", {"x = Vi(3)", "y = Vj(3)"}, "Sum", 1, o),
                       "Genred: Options::matmul_precision must be Float32 or TF32, not -1",
                       keops::Error);
}
