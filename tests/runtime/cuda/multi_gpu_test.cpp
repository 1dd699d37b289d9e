// Several GPUs for one reduction: the row split, its option checks, and two slices on one GPU
// (the split and gather logic, wherever one GPU is) giving the single-GPU results.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <keops/keops.h>

#include "runtime/cuda/device.h"
#include "runtime/cuda/memory.h"
#include "runtime/cuda/multi_gpu.h"
#include "tests/support/backends.h"

using keops::runtime::cuda::split_rows;

namespace {

// n values drawn uniformly in [0, 1).
std::vector<float> uniform(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(0, 1);
  std::vector<float> values(n);
  for (float& v : values) v = u(rng);
  return values;
}

}  // namespace

TEST_CASE("rows split in proportion to the GPUs' multiprocessors, in whole blocks") {
  CHECK(split_rows(1000, {132, 132}, 256) == std::vector<int64_t>{0, 512, 1000});
  CHECK(split_rows(4096, {1, 3}, 256) == std::vector<int64_t>{0, 1024, 4096});
  CHECK(split_rows(4096, {1, 1, 1, 1}, 256) == std::vector<int64_t>{0, 1024, 2048, 3072, 4096});
  CHECK(split_rows(100, {1, 1}, 256) == std::vector<int64_t>{0, 0, 100});
  CHECK(split_rows(0, {5, 7}, 256) == std::vector<int64_t>{0, 0, 0});
  CHECK(split_rows(1000, {7}, 256) == std::vector<int64_t>{0, 1000});
}

TEST_CASE("Options::devices: bad combinations are errors at construction") {
  const std::vector<std::string> aliases = {"x = Vi(3)", "y = Vj(3)"};
  auto error = [&](keops::Options o) {
    try {
      keops::Genred("SqDist(x, y)", aliases, "Sum", 1, o);
    } catch (const keops::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  keops::Options o;
  o.devices = {0, 1};
  o.backend = keops::Backend::CPU;
  CHECK(error(o) == "Genred: Options::devices lists GPUs, but Options::backend is CPU");
  o.backend = keops::Backend::Auto;
  o.ranges = keops::Ranges{};
  CHECK(error(o) == "Genred: Options::devices cannot be combined with Options::ranges");
  o.ranges.reset();
  o.devices = {0, -2};
  CHECK(error(o) == "Genred: Options::devices holds GPU ids, or only -1 for every GPU; not -2");
  o.devices = {-1, 0};
  CHECK(error(o) == "Genred: Options::devices holds GPU ids, or only -1 for every GPU; not -1");
}

TEST_CASE("two slices on one GPU, and every GPU, give the single-GPU results") {
  if (!keops::test::gpu_usable()) return;
  // Enough rows for every GPU of a machine of 8 to take a slice of its own (2048 at least).
  const int64_t nx = 20000, ny = 777;
  std::mt19937 rng(3);
  const std::vector<float> x = uniform(nx * 3, rng), y = uniform(ny * 3, rng), b = uniform(ny, rng);
  const std::vector<std::string> aliases = {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"};
  const std::vector<keops::View<const float>> args = {
      {x.data(), nx, 3}, {y.data(), ny, 3}, {b.data(), ny, 1}};
  keops::Options one;
  one.backend = keops::Backend::GPU;
  for (const std::vector<int>& devices : {std::vector<int>{0, 0}, std::vector<int>{-1}}) {
    keops::Options several = one;
    several.devices = devices;
    CAPTURE(devices.size());
    for (const char* reduction : {"Sum", "ArgKMin"}) {
      keops::Options a = one, s = several;
      a.k = s.k = std::string(reduction) == "ArgKMin" ? 5 : 0;
      const std::string f =
          std::string(reduction) == "Sum" ? "Exp(-SqDist(x, y)) * b" : "SqDist(x, y)";
      const auto expected = keops::Genred(f, aliases, reduction, 1, a)(args);
      const auto got = keops::Genred(f, aliases, reduction, 1, s)(args);
      CHECK(got.values == expected.values);
      CHECK(got.indices == expected.indices);
    }
    // A gradient in several steps splits each step: the LogSumExp forward's 20000 rows, then
    // the reduced axis of the step with 777 output rows (a sum in another order: not bitwise).
    const keops::Genred lse("-SqDist(x, y) * b", aliases, "LogSumExp", 1, one);
    const keops::Genred lse_several("-SqDist(x, y) * b", aliases, "LogSumExp", 1, several);
    std::vector<float> e(nx, 1.0f);
    auto grad_args = args;
    grad_args.push_back({e.data(), nx, 1});
    const auto expected = lse.grad("y")(grad_args).values;
    const auto got = lse_several.grad("y")(grad_args).values;
    REQUIRE(got.size() == expected.size());
    float largest = 0;  // components near 0 are sums that cancel: compare to the largest
    for (float v : expected) largest = std::max(largest, std::abs(v));
    for (size_t i = 0; i < got.size(); ++i)
      CHECK(got[i] == doctest::Approx(expected[i]).epsilon(1e-5).scale(largest));
  }
}

TEST_CASE("several GPUs read and write arrays in one GPU's memory (peer copies elsewhere)") {
  if (!keops::test::gpu_usable()) return;
  using keops::runtime::cuda::DeviceBuffer;
  const int64_t nx = 20000, ny = 777;  // rows split across the GPUs
  std::mt19937 rng(5);
  const std::vector<float> x = uniform(nx * 3, rng), y = uniform(ny * 3, rng);
  const std::vector<std::string> aliases = {"x = Vi(3)", "y = Vj(3)"};
  keops::Options one;
  one.backend = keops::Backend::GPU;
  one.k = 4;
  const keops::Genred knn("SqDist(x, y)", aliases, "KMin_ArgKMin", 1, one);
  const auto expected = knn({{x.data(), nx, 3}, {y.data(), ny, 3}});
  // Inputs and outputs on the last GPU, run on every GPU (two slices where there is one):
  // the other GPUs copy the rows they read and write their rows of the output back there.
  const int home = keops::runtime::cuda::device_count() - 1;
  DeviceBuffer dx(home, x.size() * sizeof(float)), dy(home, y.size() * sizeof(float));
  dx.upload(x.data(), dx.bytes());
  dy.upload(y.data(), dy.bytes());
  DeviceBuffer values(home, expected.values.size() * sizeof(float));
  DeviceBuffer indices(home, expected.indices.size() * sizeof(int64_t));
  for (const std::vector<int>& devices : {std::vector<int>{-1}, std::vector<int>{home, home}}) {
    CAPTURE(devices.size());
    keops::Options several = one;
    several.devices = devices;
    values.fill_zero();
    indices.fill_zero();
    keops::Genred("SqDist(x, y)", aliases, "KMin_ArgKMin", 1, several)
        .run({{dx.as<const float>(), nx, 3, home}, {dy.as<const float>(), ny, 3, home}},
             {values.as<float>(), nx, expected.cols, home},
             {indices.as<int64_t>(), nx, expected.index_cols, home});
    std::vector<float> got_values(expected.values.size());
    std::vector<int64_t> got_indices(expected.indices.size());
    values.download(got_values.data(), values.bytes());
    indices.download(got_indices.data(), indices.bytes());
    CHECK(got_values == expected.values);
    CHECK(got_indices == expected.indices);
  }
  if (home == 0) MESSAGE("one GPU: the peer copies between GPUs were not exercised");
}

TEST_CASE("few output rows: the GPUs split the reduced axis and merge their partial states") {
  if (!keops::test::gpu_usable()) return;
  using keops::runtime::cuda::DeviceBuffer;
  const int64_t nx = 100, ny = 3001;  // 100 rows: fewer than 2048 per GPU
  std::mt19937 rng(7);
  const std::vector<float> x = uniform(nx * 3, rng), y = uniform(ny * 3, rng);
  const std::vector<std::string> aliases = {"x = Vi(3)", "y = Vj(3)"};
  const std::vector<keops::View<const float>> args = {{x.data(), nx, 3}, {y.data(), ny, 3}};
  struct Case {
    const char* formula;
    const char* reduction;
    int k;
    const char* formula2;
  };
  const Case cases[] = {
      {"Exp(-SqDist(x, y)) * y", "Sum", 0, ""}, {"-SqDist(x, y)", "LogSumExp", 0, ""},
      {"SqDist(x, y)", "ArgKMin", 5, ""},       {"SqDist(x, y)", "KMin_ArgKMin", 3, ""},
      {"x - y", "Min_ArgMin", 0, ""},           {"-SqDist(x, y)", "SumSoftMaxWeight", 0, "y"}};
  for (const std::vector<int>& devices : {std::vector<int>{0, 0}, std::vector<int>{-1}})
    for (const Case& c : cases) {
      CAPTURE(devices.size());
      CAPTURE(std::string(c.reduction));
      keops::Options one;
      one.backend = keops::Backend::GPU;
      one.k = c.k;
      one.formula2 = c.formula2;
      keops::Options several = one;
      several.devices = devices;
      const auto expected = keops::Genred(c.formula, aliases, c.reduction, 1, one)(args);
      const auto got = keops::Genred(c.formula, aliases, c.reduction, 1, several)(args);
      REQUIRE(got.values.size() == expected.values.size());
      for (size_t i = 0; i < got.values.size(); ++i)
        CHECK(got.values[i] == doctest::Approx(expected.values[i]).epsilon(1e-5));
      CHECK(got.indices == expected.indices);  // indices count over the whole reduced axis
    }
  // Arrays in GPU memory: the outputs are merged on their GPU.
  const int home = keops::runtime::cuda::device_count() - 1;
  keops::Options one;
  one.backend = keops::Backend::GPU;
  one.k = 4;
  const auto expected = keops::Genred("SqDist(x, y)", aliases, "ArgKMin", 1, one)(args);
  DeviceBuffer dx(home, x.size() * sizeof(float)), dy(home, y.size() * sizeof(float));
  dx.upload(x.data(), dx.bytes());
  dy.upload(y.data(), dy.bytes());
  DeviceBuffer indices(home, expected.indices.size() * sizeof(int64_t));
  keops::Options several = one;
  several.devices = {-1};
  keops::Genred("SqDist(x, y)", aliases, "ArgKMin", 1, several)
      .run({{dx.as<const float>(), nx, 3, home}, {dy.as<const float>(), ny, 3, home}},
           {nullptr, nx, 0, home}, {indices.as<int64_t>(), nx, expected.index_cols, home});
  std::vector<int64_t> got(expected.indices.size());
  indices.download(got.data(), indices.bytes());
  CHECK(got == expected.indices);
}
