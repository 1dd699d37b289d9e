// 16-bit array elements (KernelSpec::storage): a CPU kernel on float16 or bfloat16 arrays
// computes exactly what it computes on their float32 widenings, and rounds its outputs.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <regex>
#include <vector>

#include <keops/half.h>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/jit/ptx.h"
#include "runtime/cpu/driver.h"
#include "runtime/cpu/kernels.h"
#include "tests/support/gpu_spec.h"
#include "tests/support/ptxas.h"

namespace {

using keops::codegen::Storage;
using keops::ir::DType;
using keops::test::GpuCase;
using keops::test::GpuSpec;

// Formulas over x = Vi(dim), y = Vj(dim), b = Vj(1), v = Vj(e), p = Pm(1): short and
// streamed rows (over 48 components on the CPU), parameters, every kind of reduction.
const GpuCase kCases[] = {
    {"Exp(-p * SqDist(x, y)) * v", "Sum", 0, "", 3, 2},
    {"Exp(-SqDist(x, y)) * v", "Sum", 0, "", 64, 16},
    {"(x | y) + b", "LogSumExp", 0, "", 100},
    {"SqDist(x, y)", "Min_ArgMin", 0, "", 20},
    {"SqDist(x, y) * p", "ArgKMin", 5, "", 70},
    {"(x | y)", "SumSoftMaxWeight", 0, "v", 64, 8},
    {"Abs(x - y) + b", "Max", 0, "", 3},
};

// ptxas accepts the PTX, where ptxas is installed.
void check_assembles(const std::string& ptx) {
  const std::string ptxas = keops::test::find_ptxas();
  if (!ptxas.empty()) CHECK(keops::test::assemble_ptx(ptxas, ptx, 90) == "");
}

// Runs a CPU kernel of `spec` over args (elements of V) into values and indices.
template <class V>
void run(const keops::codegen::KernelSpec& spec, int64_t nx, int64_t ny,
         const std::vector<const void*>& args, std::vector<V>& values,
         std::vector<int64_t>& indices) {
  keops::runtime::ReductionArrays<V> arrays;
  const bool by_j = spec.axis == 1;
  arrays.out_rows = by_j ? nx : ny;
  arrays.n_reduced = by_j ? ny : nx;
  for (size_t k = 0; k < args.size(); ++k) {
    const auto& a = spec.args[k];
    const int64_t rows = a.cat == keops::ir::CatP ? 1 : a.cat == keops::ir::CatI ? nx : ny;
    arrays.args.push_back({static_cast<const V*>(args[k]), rows, a.dim});
  }
  values.assign(size_t(arrays.out_rows * spec.value_cols()), V(0.0f));
  indices.assign(size_t(arrays.out_rows * spec.index_cols()), 0);
  arrays.values = {values.data(), arrays.out_rows, spec.value_cols()};
  arrays.indices = {indices.data(), arrays.out_rows, spec.index_cols()};
  keops::runtime::run_cpu_kernel<V>(keops::runtime::cpu_kernel_for(spec), arrays, 2);
}

template <class H>
void check_widened_equal(Storage storage) {
  for (const GpuCase& c : kCases)
    for (int axis : {1, 0}) {
      CAPTURE(c.formula);
      CAPTURE(c.reduction);
      CAPTURE(axis);
      GpuSpec g({"x = Vi(" + std::to_string(c.dim) + ")", "y = Vj(" + std::to_string(c.dim) + ")",
                 "b = Vj(1)", "v = Vj(" + std::to_string(c.e) + ")", "p = Pm(1)"},
                c.formula, c.reduction, DType::F32, c.k, c.formula2, axis);
      g.spec.target = keops::codegen::CpuTarget::host();
      const int64_t nx = 37, ny = 53;  // ragged: not multiples of the lanes
      std::mt19937 rng(11);
      std::normal_distribution<float> normal(0.0f, 0.5f);
      std::vector<std::vector<H>> stored;
      std::vector<std::vector<float>> widened;
      for (const auto& a : g.spec.args) {
        const int64_t rows = a.cat == keops::ir::CatP ? 1 : a.cat == keops::ir::CatI ? nx : ny;
        stored.emplace_back();
        widened.emplace_back();
        for (int64_t q = 0; q < rows * a.dim; ++q) {
          const H h(normal(rng));
          stored.back().push_back(h);
          widened.back().push_back(float(h));
        }
      }
      std::vector<const void*> stored_args, widened_args;
      for (size_t k = 0; k < stored.size(); ++k) {
        stored_args.push_back(stored[k].data());
        widened_args.push_back(widened[k].data());
      }
      std::vector<float> v32;
      std::vector<H> v16;
      std::vector<int64_t> i16, i32;
      run(g.spec, nx, ny, widened_args, v32, i32);
      g.spec.storage = storage;
      run(g.spec, nx, ny, stored_args, v16, i16);
      REQUIRE(v16.size() == v32.size());
      int differ = 0;
      for (size_t q = 0; q < v16.size(); ++q) differ += v16[q].bits != H(v32[q]).bits;
      CHECK(differ == 0);
      CHECK(i16 == i32);
    }
}

}  // namespace

TEST_CASE("CPU kernels on float16 arguments compute exactly what they do on float32 widenings") {
  check_widened_equal<keops::half>(Storage::F16);
}

TEST_CASE("CPU kernels on bfloat16 arguments compute exactly what they do on float32 widenings") {
  check_widened_equal<keops::bfloat16>(Storage::BF16);
}

namespace {

// Every value of H through a kernel that returns its argument (a Sum over one reduced row),
// then through one that multiplies it by a parameter.
template <class H>
void check_round_trips(Storage storage) {
  GpuSpec g({"x = Vi(1)", "y = Vj(1)"}, "x + y * 0", "Sum", DType::F32);
  g.spec.target = keops::codegen::CpuTarget::host();
  g.spec.storage = storage;
  std::vector<H> x(0x10000), y(1, H(0.0f)), values;
  for (uint32_t b = 0; b < 0x10000; ++b) x[b] = H::from_bits(uint16_t(b));
  std::vector<int64_t> indices;
  run(g.spec, 0x10000, 1, {x.data(), y.data()}, values, indices);
  int wrong = 0;
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const float expected = float(x[b]);
    // (A sum of one -0 is +0: zeros compare equal.)
    const bool same =
        std::isnan(expected) ? std::isnan(float(values[b])) : expected == float(values[b]);
    if (!same && ++wrong < 5) CHECK_MESSAGE(false, "bits ", b, " came back as ", values[b].bits);
  }
  CHECK(wrong == 0);
  // Products x * p rounded on the way out, against keops::half's (bfloat16's) rounding of
  // the same float32 products: scales that make ties, subnormals and overflows.
  GpuSpec scaled({"x = Vi(1)", "y = Vj(1)", "p = Pm(1)"}, "x * p + y * 0", "Sum", DType::F32);
  scaled.spec.target = keops::codegen::CpuTarget::host();
  scaled.spec.storage = storage;
  for (float scale : {1.0f + 0x1p-11f, 1.0f + 0x1p-8f, 3.3f, 1e-5f, 7e-8f, 1e5f, 1e30f}) {
    CAPTURE(scale);
    const std::vector<H> p(1, H(scale));
    run(scaled.spec, 0x10000, 1, {x.data(), y.data(), p.data()}, values, indices);
    wrong = 0;
    for (uint32_t b = 0; b < 0x10000; ++b) {
      const float product = float(x[b]) * float(p[0]);
      const bool same = std::isnan(product) ? std::isnan(float(values[b]))
                                            : float(H(product)) == float(values[b]);
      if (!same && ++wrong < 5)
        CHECK_MESSAGE(false, "product ", product, " stored as ", values[b].bits, " not ",
                      H(product).bits);
    }
    CHECK(wrong == 0);
  }
}

}  // namespace

TEST_CASE("every float16 value widens exactly, and float32 outputs round to nearest even") {
  check_round_trips<keops::half>(Storage::F16);
}

TEST_CASE("every bfloat16 value widens exactly, and float32 outputs round to nearest even") {
  check_round_trips<keops::bfloat16>(Storage::BF16);
}

TEST_CASE("16-bit arguments are part of the kernel's key, and GPU kernels widen them") {
  GpuSpec g("Exp(-SqDist(x, y)) * v", "Sum", DType::F32, 0, "", 300, 4);
  const std::string native = g.spec.key();
  g.spec.storage = Storage::F16;
  const std::string f16 = g.spec.key();
  g.spec.storage = Storage::BF16;
  CHECK(native.find("stored=") == std::string::npos);
  CHECK(f16.find("|stored=float16") != std::string::npos);
  CHECK(g.spec.key().find("|stored=bfloat16") != std::string::npos);
  // Dimension-tiled (300 components), on the CUDA cores and on the matrix units.
  for (auto units : {keops::codegen::MatrixUnits::Off, keops::codegen::MatrixUnits::On})
    for (Storage s : {Storage::F16, Storage::BF16}) {
      g.spec.storage = s;
      g.spec.gpu().matrix_units = units;
      const std::string ptx = keops::jit::gpu_kernel_ptx(g.spec);
      CAPTURE(ptx);
      // Arguments are read as 16 bits (generic or global loads), never as float32.
      CHECK(std::regex_search(ptx, std::regex(R"(ld(\.global)?(\.nc)?\.[ub]16)")));
      CHECK(!std::regex_search(ptx, std::regex(R"(ld(\.global)?(\.nc)?(\.v[24])?\.f32)")));
      CHECK(ptx.find("cp.async") == std::string::npos);  // bytes cannot be widened in flight
      if (s == Storage::F16) CHECK(ptx.find("cvt.f32.f16") != std::string::npos);
      check_assembles(ptx);
    }
  // A short row staged in shared memory; its output rounded (cvt.rn.f16.f32); the 2-D
  // scheme's partial kernel keeps float32 states, and its merge kernel rounds the values.
  GpuSpec s("Exp(-SqDist(x, y)) * v", "Sum", DType::F32, 0, "", 3, 2);
  s.spec.storage = Storage::F16;
  const std::string ptx = keops::jit::gpu_kernel_ptx(s.spec);
  CHECK(ptx.find("cvt.f32.f16") != std::string::npos);
  CHECK(ptx.find("cvt.rn.f16.f32") != std::string::npos);
  check_assembles(ptx);
  s.spec.gpu().scheme = keops::codegen::GpuScheme::Partial;
  const std::string partial = keops::jit::gpu_kernel_ptx(s.spec);
  CHECK(partial.find("cvt.rn.f16.f32") == std::string::npos);
  check_assembles(partial);
  const std::string merge = keops::jit::gpu_merge_kernel_ptx(s.spec);
  CHECK(merge.find("cvt.rn.f16.f32") != std::string::npos);
  CHECK(std::regex_search(merge, std::regex(R"(st(\.global)?\.[ub]16)")));  // (states: f32)
  check_assembles(merge);
  // bfloat16 outputs: rounded by integer operations (any sm), stored as 16 bits.
  s.spec.storage = Storage::BF16;
  const std::string bf16_merge = keops::jit::gpu_merge_kernel_ptx(s.spec);
  CHECK(std::regex_search(bf16_merge, std::regex(R"(st(\.global)?\.[ub]16)")));
  check_assembles(bf16_merge);
}
