// Several GPUs for one reduction: the row split, its option checks, and two slices on one GPU
// (the split and gather logic, wherever one GPU is) giving the single-GPU results.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include <keops/keops.h>

#include "runtime/cuda/multi_gpu.h"

using keops::runtime::cuda::split_rows;

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
  if (!keops::gpu_available()) {
    MESSAGE("no GPU: " << keops::gpu_unavailable_reason() << "; multi-GPU runs not checked");
    return;
  }
  const int64_t nx = 1000, ny = 777;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0, 1);
  std::vector<float> x(nx * 3), y(ny * 3), b(ny);
  for (float& v : x) v = u(rng);
  for (float& v : y) v = u(rng);
  for (float& v : b) v = u(rng);
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
    // A gradient in several steps (the LogSumExp forward first) splits each step.
    const keops::Genred lse("-SqDist(x, y) * b", aliases, "LogSumExp", 1, one);
    const keops::Genred lse_several("-SqDist(x, y) * b", aliases, "LogSumExp", 1, several);
    std::vector<float> e(nx, 1.0f);
    auto grad_args = args;
    grad_args.push_back({e.data(), nx, 1});
    CHECK(lse_several.grad("y")(grad_args).values == lse.grad("y")(grad_args).values);
  }
  // Device arrays are refused with the reason.
  keops::Options several = one;
  several.devices = {0, 0};
  float* fake_device = x.data();
  std::vector<keops::View<const float>> on_gpu = args;
  on_gpu[0] = {fake_device, nx, 3, 0};
  CHECK_THROWS_WITH_AS(keops::Genred("Exp(-SqDist(x, y)) * b", aliases, "Sum", 1, several)(on_gpu),
                       "several GPUs (Options::devices) take host arrays: an argument is in GPU "
                       "0's memory",
                       keops::Error);
}
