// float16 and bfloat16 arrays on a GPU (skipped without one): the 2-D scheme and its merge
// kernel, dimension tiles on the CUDA cores and the matrix units, arrays in device memory,
// several GPUs; each against float64 on the same values, rounded once.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include <keops/keops.h>

#include "runtime/cuda/gpu_reduce.h"
#include "runtime/cuda/memory.h"
#include "tests/support/backends.h"
#include "tests/support/rounded_once.h"

namespace {

using keops::bfloat16;
using keops::Genred;
using keops::half;
using keops::Options;
using keops::View;

// x = Vi(d), y = Vj(d), v = Vj(e), p = Pm(1): 16-bit values and their float64 widenings.
template <class H>
struct Data {
  int64_t nx, ny;
  int d, e;
  std::vector<H> x, y, v, p;
  Data(int64_t nx_, int64_t ny_, int d_, int e_ = 4) : nx(nx_), ny(ny_), d(d_), e(e_) {
    std::mt19937 rng(uint32_t(nx * 7 + ny * 3 + d));
    std::uniform_real_distribution<float> u(0.f, 1.f);
    for (int64_t k = 0; k < nx * d; ++k) x.push_back(H(u(rng)));
    for (int64_t k = 0; k < ny * d; ++k) y.push_back(H(u(rng)));
    for (int64_t k = 0; k < ny * e; ++k) v.push_back(H(u(rng) - 0.5f));
    p = {H(4.f / float(d))};
  }
  std::vector<std::string> aliases() const {
    return {"x = Vi(" + std::to_string(d) + ")", "y = Vj(" + std::to_string(d) + ")",
            "v = Vj(" + std::to_string(e) + ")", "p = Pm(1)"};
  }
  std::vector<View<const H>> views() const {
    return {{x.data(), nx, d}, {y.data(), ny, d}, {v.data(), ny, e}, {p.data(), 1, 1}};
  }
  // The same values in float64, and their views.
  std::vector<std::vector<double>> wide() const {
    std::vector<std::vector<double>> out;
    for (const auto* a : {&x, &y, &v, &p}) out.emplace_back(a->begin(), a->end());
    return out;
  }
};

// The reduction of `formula` on data, 16-bit on the GPU with `o`, against float64 on the CPU.
template <class H>
void check_run(const Data<H>& data, const char* formula, const char* reduction, int k, Options o) {
  CAPTURE(formula);
  CAPTURE(reduction);
  o.backend = keops::Backend::GPU;
  o.k = k;
  const Genred g(formula, data.aliases(), reduction, 1, o);
  Options cpu;
  cpu.backend = keops::Backend::CPU;
  cpu.k = k;
  const auto wide = data.wide();
  const keops::Result<double> want =
      Genred(formula, data.aliases(), reduction, 1, cpu)({{wide[0].data(), data.nx, data.d},
                                                          {wide[1].data(), data.ny, data.d},
                                                          {wide[2].data(), data.ny, data.e},
                                                          {wide[3].data(), 1, 1}});
  const keops::Result<H> got = g(data.views());
  keops::test::check_rounded_once(got.values, want.values, 2e-5);
}

template <class H>
void every_scheme() {
  Options o;
  // Few output rows, many reduced ones: the 2-D scheme, whose merge kernel rounds the values.
  const Data<H> few(40, 60001, 3);
  check_run(few, "Exp(-SqDist(x, y) * p) * v", "Sum", 0, o);
  check_run(few, "SqDist(x, y)", "KMin", 5, o);
  // Long rows: dimension tiles widen each chunk as they stage it, on both kinds of unit.
  const Data<H> wide(1003, 517, 300);
  for (auto units : {keops::TensorCores::Off, keops::TensorCores::On}) {
    o.tensor_cores = units;
    check_run(wide, "Exp(-SqDist(x, y) * p) * v", "Sum", 0, o);
    check_run(wide, "-SqDist(x, y) * p", "LogSumExp", 0, o);
    check_run(wide, "SqDist(x, y)", "Min", 0, o);
  }
  // Several GPUs (every one there is).
  Options all;
  all.devices = {-1};
  check_run(Data<H>(700, 900, 5), "Exp(-SqDist(x, y) * p) * v", "Sum", 0, all);
}

}  // namespace

TEST_CASE("GPU: float16 arrays in every scheme are float64's results rounded once") {
  if (!keops::test::gpu_usable()) return;
  every_scheme<half>();
}

TEST_CASE("GPU: bfloat16 arrays in every scheme are float64's results rounded once") {
  if (!keops::test::gpu_usable()) return;
  every_scheme<bfloat16>();
}

TEST_CASE("GPU: 16-bit arrays in device memory are used in place, outputs written there") {
  if (!keops::test::gpu_usable()) return;
  const Data<half> data(513, 257, 3);
  const Genred g("Exp(-SqDist(x, y) * p) * v", data.aliases(), "Sum", 1);
  const keops::Result<half> host = g(data.views());
  std::vector<keops::runtime::cuda::DeviceBuffer> buffers;
  std::vector<View<const half>> on_gpu;
  for (const View<const half>& v : data.views()) {
    buffers.emplace_back(0, size_t(v.rows * v.cols) * sizeof(half));
    buffers.back().upload(v.data, size_t(v.rows * v.cols) * sizeof(half));
    on_gpu.push_back({buffers.back().as<half>(), v.rows, v.cols, 0});
  }
  keops::runtime::cuda::DeviceBuffer out(0, host.values.size() * sizeof(half));
  g.run(on_gpu, View<half>{out.as<half>(), host.rows, host.cols, 0});
  std::vector<half> back(host.values.size());
  out.download(back.data(), back.size() * sizeof(half));
  int differ = 0;
  for (size_t q = 0; q < back.size(); ++q) differ += back[q].bits != host.values[q].bits;
  CHECK(differ == 0);
}
