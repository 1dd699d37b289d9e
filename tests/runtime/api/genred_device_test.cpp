// Genred on arrays in GPU memory: queued on Options::stream, and gradients of several kernels
// (run GPU machine side; skipped without a GPU).
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
#include "tests/support/backends.h"

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

// Arrays for a Gaussian sum of n x m points, b zeroed on a non-blocking stream behind some
// 30 ms of memsets: a run that did not wait for the stream would read ones.
struct BusyStreamCase {
  static constexpr int64_t n = 4096, m = int64_t(1) << 20;
  cuda::Stream stream{0, /*blocking=*/false};
  cuda::DeviceBuffer x_d = on_device(random_values(n * 3, 1));
  cuda::DeviceBuffer y_d = on_device(random_values(size_t(m) * 3, 2));
  cuda::DeviceBuffer b_d = on_device(std::vector<float>(size_t(m), 1.0f));
  cuda::DeviceBuffer scratch{0, size_t(1) << 30};

  void queue_busy_work() {
    cuda::ContextGuard guard(0);
    for (int k = 0; k < 64; ++k)
      cuda::check(cuda::driver().cuMemsetD8Async(scratch.address(), uint8_t(k), scratch.bytes(),
                                                 stream.get()),
                  "cuMemsetD8Async");
    cuda::check(cuda::driver().cuMemsetD8Async(b_d.address(), 0, b_d.bytes(), stream.get()),
                "cuMemsetD8Async");
  }
  std::vector<View<const float>> args() const {
    return {{x_d.as<const float>(), n, 3, 0},
            {y_d.as<const float>(), m, 3, 0},
            {b_d.as<const float>(), m, 1, 0}};
  }
  // The Gaussian sum, on the stream.
  Genred gauss() const {
    keops::Options o;
    o.stream = stream.get();
    return Genred("Exp(-SqDist(x, y)) * b", {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"}, "Sum", 1, o);
  }
};

TEST_CASE("a Genred on device arrays is queued on Options::stream, after its earlier work") {
  if (!keops::test::gpu_usable()) return;
  BusyStreamCase c;
  const Genred op = c.gauss();
  cuda::DeviceBuffer out_d(0, size_t(c.n) * sizeof(float));
  op.with_options({}).run(c.args(), View<float>{out_d.as<float>(), c.n, 1, 0});  // compiled
  c.queue_busy_work();
  op.run(c.args(), View<float>{out_d.as<float>(), c.n, 1, 0});
  CHECK_FALSE(c.stream.idle());  // returned before the memsets, let alone its own kernel, ran
  c.stream.synchronize();
  for (float v : to_host(out_d)) CHECK(v == 0.0f);
}

TEST_CASE("a Genred with host outputs on Options::stream waits for the stream, then its results") {
  if (!keops::test::gpu_usable()) return;
  BusyStreamCase c;
  std::vector<float> out(size_t(c.n), 1.0f);
  c.queue_busy_work();
  c.gauss().run(c.args(), View<float>{out.data(), c.n, 1});
  for (float v : out) CHECK(v == 0.0f);
}

// The same reduction queued on a stream and run synchronously: every GPU scheme (2-D with a
// merge, a dense sum whose tail is split across streams, block-sparse) gives the same values.
TEST_CASE("queued runs of every GPU scheme equal synchronous ones") {
  if (!keops::test::gpu_usable()) return;
  struct Shape {
    int64_t n, m;
    bool ranges;
  };
  cuda::Stream stream(0, /*blocking=*/false);
  for (const Shape shape :
       {Shape{64, 1 << 20, false}, Shape{200003, 5000, false}, Shape{3000, 4000, true}}) {
    CAPTURE(shape.n);
    const int64_t n = shape.n, m = shape.m;
    cuda::DeviceBuffer x_d = on_device(random_values(size_t(n) * 3, 6));
    cuda::DeviceBuffer y_d = on_device(random_values(size_t(m) * 3, 7));
    cuda::DeviceBuffer b_d = on_device(random_values(size_t(m), 8));
    const std::vector<View<const float>> args = {{x_d.as<const float>(), n, 3, 0},
                                                 {y_d.as<const float>(), m, 3, 0},
                                                 {b_d.as<const float>(), m, 1, 0}};
    keops::Options o;
    if (shape.ranges)  // two clusters on each axis: the first rows' with both, the last's with one
      o.ranges = keops::from_matrix({{0, n / 2}, {n / 2, n}}, {{0, m / 2}, {m / 2, m}},
                                    {true, true, false, true});
    const Genred sync_op("Exp(-SqDist(x, y)) * b", {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"}, "Sum",
                         1, o);
    keops::Options queued_options = o;
    queued_options.stream = stream.get();
    cuda::DeviceBuffer expected_d(0, size_t(n) * sizeof(float)),
        got_d(0, size_t(n) * sizeof(float));
    sync_op.run(args, View<float>{expected_d.as<float>(), n, 1, 0});
    sync_op.with_options(queued_options).run(args, View<float>{got_d.as<float>(), n, 1, 0});
    stream.synchronize();
    CHECK(to_host(got_d) == to_host(expected_d));
  }
}

TEST_CASE("gradients of several kernels run on device arrays as on host arrays") {
  if (!keops::test::gpu_usable()) return;
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
