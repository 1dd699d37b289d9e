// Genred on arrays in GPU memory: ordered after Options::stream, and gradients of several
// kernels (run GPU machine side; skipped without a GPU).
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include <keops/keops.h>

#include "runtime/cuda/device.h"
#include "runtime/cuda/driver_api.h"
#include "runtime/cuda/errors.h"
#include "runtime/cuda/memory.h"
#include "runtime/cuda/stream.h"

using keops::Genred;
using keops::View;
namespace cuda = keops::runtime::cuda;

namespace {

std::vector<float> random_values(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// Host values copied into a device buffer.
cuda::DeviceBuffer on_device(const std::vector<float>& values) {
  cuda::DeviceBuffer buffer(0, values.size() * sizeof(float));
  buffer.upload(values.data(), buffer.bytes());
  return buffer;
}

std::vector<float> to_host(const cuda::DeviceBuffer& buffer) {
  std::vector<float> values(buffer.bytes() / sizeof(float));
  buffer.download(values.data(), buffer.bytes());
  return values;
}

}  // namespace

TEST_CASE("a Genred on device arrays waits for the work queued on Options::stream") {
  if (!keops::gpu_available()) {
    MESSAGE("skipped (no GPU): " << keops::gpu_unavailable_reason());
    return;
  }
  const int64_t n = 4096, m = 1 << 20;
  const std::vector<float> x = random_values(n * 3, 1), y = random_values(size_t(m) * 3, 2);
  cuda::DeviceBuffer x_d = on_device(x), y_d = on_device(y);
  cuda::DeviceBuffer b_d(0, size_t(m) * sizeof(float)), out_d(0, size_t(n) * sizeof(float));
  b_d.upload(std::vector<float>(size_t(m), 1.0f).data(), b_d.bytes());
  // b is zeroed on a non-blocking stream, queued behind some 30 ms of memsets: a run that did
  // not wait for the stream would read ones.
  cuda::Stream stream(0, /*blocking=*/false);
  cuda::DeviceBuffer scratch(0, size_t(1) << 30);
  {
    cuda::ContextGuard guard(0);
    for (int k = 0; k < 64; ++k)
      cuda::check(cuda::driver().cuMemsetD8Async(scratch.address(), uint8_t(k), scratch.bytes(),
                                                 stream.get()),
                  "cuMemsetD8Async");
    cuda::check(cuda::driver().cuMemsetD8Async(b_d.address(), 0, b_d.bytes(), stream.get()),
                "cuMemsetD8Async");
  }
  keops::Options o;
  o.stream = stream.get();
  Genred op("Exp(-SqDist(x, y)) * b", {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"}, "Sum", 1, o);
  op.run({{x_d.as<const float>(), n, 3, 0},
          {y_d.as<const float>(), m, 3, 0},
          {b_d.as<const float>(), m, 1, 0}},
         View<float>{out_d.as<float>(), n, 1, 0});
  for (float v : to_host(out_d)) CHECK(v == 0.0f);
}

TEST_CASE("gradients of several kernels run on device arrays as on host arrays") {
  if (!keops::gpu_available()) {
    MESSAGE("skipped (no GPU): " << keops::gpu_unavailable_reason());
    return;
  }
  const int64_t n = 300, m = 200;
  const std::vector<float> x = random_values(n * 3, 3), y = random_values(m * 3, 4),
                           e = random_values(n, 5);
  // LogSumExp's gradient reads the forward's result: a hidden step before its kernel.
  const Genred grad = Genred("-SqDist(x, y)", {"x = Vi(3)", "y = Vj(3)"}, "LogSumExp", 1).grad("y");
  const auto expected = grad({{x.data(), n, 3}, {y.data(), m, 3}, {e.data(), n, 1}}).values;
  cuda::DeviceBuffer x_d = on_device(x), y_d = on_device(y), e_d = on_device(e);
  cuda::DeviceBuffer out_d(0, size_t(m * 3) * sizeof(float));
  grad.run({{x_d.as<const float>(), n, 3, 0},
            {y_d.as<const float>(), m, 3, 0},
            {e_d.as<const float>(), n, 1, 0}},
           View<float>{out_d.as<float>(), m, 3, 0});
  const std::vector<float> got = to_host(out_d);
  REQUIRE(got.size() == expected.size());
  for (size_t q = 0; q < got.size(); ++q)
    CHECK(got[q] == doctest::Approx(expected[q]).epsilon(1e-5));
}
