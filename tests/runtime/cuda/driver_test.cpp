// The CUDA driver layer: probing and errors everywhere; memory, modules and launches on a GPU.
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <keops/keops.h>

#include "runtime/cuda/device.h"
#include "runtime/cuda/driver_api.h"
#include "runtime/cuda/errors.h"
#include "runtime/cuda/launch.h"
#include "runtime/cuda/memory.h"
#include "runtime/cuda/module_cache.h"
#include "runtime/cuda/self_test.h"
#include "runtime/cuda/stream.h"
#include "tests/support/backends.h"
#include "tests/support/ptxas.h"
#include "tests/support/scratch.h"

namespace keops::runtime::cuda {

namespace {

using keops::test::ScopedEnv;

std::optional<std::string> find_stub_driver() {
  for (const char* path : {"/usr/local/cuda/lib64/stubs/libcuda.so",
                           "/usr/local/cuda/targets/x86_64-linux/lib/stubs/libcuda.so"})
    if (std::filesystem::exists(path)) return path;
  return std::nullopt;
}

// keops_vector_add(a, a, out, n) on GPU 0 over n copies of a value: its buffers, arguments
// and a launch of n / 128 blocks of 128 threads.
struct VectorAddRun {
  unsigned n = 4096;
  DeviceBuffer a{0, n * sizeof(float)}, out{0, n * sizeof(float)};
  CUdeviceptr pa = a.address(), pout = out.address();
  void* args[4] = {&pa, &pa, &pout, &n};
  LaunchConfig config;
  explicit VectorAddRun(float value) {
    const std::vector<float> values(n, value);
    a.upload(values.data(), n * sizeof(float));
    config.block.x = 128;
    config.grid.x = n / 128;
  }
  VectorAddRun(const VectorAddRun&) = delete;  // args points into the object
  std::vector<float> result() const {
    std::vector<float> values(n);
    out.download(values.data(), n * sizeof(float));
    return values;
  }
};

}  // namespace

TEST_CASE("cuda: without a usable GPU the backend is unavailable with a reason") {
  const DriverProbe& probe = driver_probe();
  CHECK(gpu_available() == probe.available);
  CHECK(gpu_unavailable_reason() == probe.reason);
  if (gpu_available()) {
    CHECK(gpu_unavailable_reason().empty());
    CHECK(device_count() >= 1);
    MESSAGE("GPU available: " << probe.device_count << " device(s), driver " << probe.driver_version
                              << ", " << probe.library_path);
    return;
  }
  MESSAGE("no GPU here: " << gpu_unavailable_reason());
  CHECK_FALSE(gpu_unavailable_reason().empty());
  CHECK(device_count() == 0);
  CHECK(list_devices().empty());
  CHECK_THROWS_WITH_AS(driver(), doctest::Contains(gpu_unavailable_reason().c_str()), Error);
  CHECK_THROWS_WITH_AS(DeviceBuffer(0, 64), doctest::Contains("GPU backend is unavailable"), Error);
  CHECK_THROWS_WITH_AS(check_device(0), doctest::Contains(gpu_unavailable_reason().c_str()), Error);
}

TEST_CASE("cuda: KEOPS_DISABLE_GPU disables the backend before anything is loaded") {
  DriverProbeOptions options;
  options.disabled = true;
  options.library = "/nonexistent/never-opened.so";
  const DriverProbe probe = probe_driver(options);
  CHECK_FALSE(probe.available);
  CHECK(probe.reason.find("disabled") != std::string::npos);
  CHECK(probe.reason.find("KEOPS_DISABLE_GPU") != std::string::npos);
  CHECK(probe.library_path.empty());
}

TEST_CASE("cuda: probe options come from KEOPS_DISABLE_GPU and KEOPS_LIBCUDA") {
  {
    ScopedEnv disable("KEOPS_DISABLE_GPU", "1");
    ScopedEnv library("KEOPS_LIBCUDA", "/opt/driver/libcuda.so.1");
    const DriverProbeOptions options = probe_options_from_environment();
    CHECK(options.disabled);
    CHECK(options.library == "/opt/driver/libcuda.so.1");
    CHECK(probe_driver(options).reason.find("KEOPS_DISABLE_GPU") != std::string::npos);
  }
  {
    ScopedEnv disable("KEOPS_DISABLE_GPU", "0");
    ScopedEnv library("KEOPS_LIBCUDA", nullptr);
    const DriverProbeOptions options = probe_options_from_environment();
    CHECK_FALSE(options.disabled);
    CHECK(options.library.empty());
  }
  ScopedEnv disable("KEOPS_DISABLE_GPU", nullptr);
  CHECK_FALSE(probe_options_from_environment().disabled);
}

TEST_CASE("cuda: a driver path that does not exist is named with dlerror's text") {
  DriverProbeOptions options;
  options.library = "/nonexistent/keops-test/libcuda.so.1";
  const DriverProbe probe = probe_driver(options);
  CHECK_FALSE(probe.available);
  CHECK(probe.reason.find("/nonexistent/keops-test/libcuda.so.1") != std::string::npos);
  CHECK(probe.reason.find("cannot open shared object file") != std::string::npos);
  CHECK((probe.api.cuInit == nullptr));
}

TEST_CASE("cuda: a library without the driver's symbols is rejected, naming a missing symbol") {
  DriverProbeOptions options;
  options.library = "libm.so.6";
  const DriverProbe probe = probe_driver(options);
  CHECK_FALSE(probe.available);
  CHECK(probe.reason.find("libm.so.6") != std::string::npos);
  CHECK(probe.reason.find("lacks the symbol cuInit") != std::string::npos);
  CHECK(probe.reason.find("more driver functions") != std::string::npos);
  CHECK((probe.api.cuInit == nullptr));  // nothing points into the closed library
}

TEST_CASE("cuda: the toolkit's stub driver fails cuInit, and that is the reason") {
  const std::optional<std::string> stub = find_stub_driver();
  if (!stub) {
    MESSAGE("skipped: no stub libcuda.so in the CUDA toolkit here");
    return;
  }
  gpu_available();  // the process-wide probe runs first: the stub must not be what it finds
  DriverProbeOptions options;
  options.library = *stub;
  const DriverProbe probe = probe_driver(options);
  MESSAGE("stub probe: " << probe.reason);
  CHECK_FALSE(probe.available);
  CHECK(probe.reason.find("cuInit failed with CUDA_ERROR_STUB_LIBRARY") != std::string::npos);
  CHECK(probe.reason.find(*stub) != std::string::npos);
  CHECK((probe.api.cuInit == nullptr));
}

TEST_CASE("cuda: driver errors become keops::Error naming the call and the code") {
  CHECK_NOTHROW(check(CUDA_SUCCESS, "cuInit"));
  try {
    check(static_cast<CUresult>(12345), "cuFakeCall");
    FAIL("check did not throw");
  } catch (const DriverError& e) {
    CHECK(e.code == 12345);
    CHECK(std::string(e.what()) == "cuFakeCall: CUDA error 12345");
  }
  CHECK_THROWS_AS(check(CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc"), Error);
  CHECK_THROWS_WITH(check(CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc"),
                    doctest::Contains("cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY"));
  // Without a driver to ask, a known code keeps its name and every code its number.
  CHECK(describe_result(CUDA_ERROR_NO_DEVICE, nullptr) == "CUDA_ERROR_NO_DEVICE (CUDA error 100)");
  CHECK(describe_result(CUDA_ERROR_STUB_LIBRARY, nullptr) ==
        "CUDA_ERROR_STUB_LIBRARY (CUDA error 34)");
  CHECK(describe_result(CUDA_ERROR_INVALID_PTX, nullptr) == "CUDA error 218");
  if (gpu_available())
    CHECK(describe_result(CUDA_ERROR_INVALID_PTX) ==
          "CUDA_ERROR_INVALID_PTX (a PTX JIT compilation failed)");
}

TEST_CASE("cuda: byte counts in messages") {
  CHECK(format_bytes(0) == "0 B");
  CHECK(format_bytes(1000) == "1000 B");
  CHECK(format_bytes(1536) == "1.50 KiB");
  CHECK(format_bytes(size_t{80} << 30) == "80.00 GiB");
  CHECK(format_bytes(size_t{1} << 50) == "1.00 PiB");
}

TEST_CASE("cuda: the smoke-test PTX assembles with ptxas (where installed)") {
  const std::string ptxas = keops::test::find_ptxas();
  if (ptxas.empty()) {
    MESSAGE("skipped: no ptxas here");
    return;
  }
  CHECK(keops::test::assemble_ptx(ptxas, vector_add_ptx(), 90) == "");
}

TEST_CASE("cuda: devices are listed with their properties") {
  if (!keops::test::gpu_usable()) return;
  const std::vector<DeviceInfo> devices = list_devices();
  REQUIRE(static_cast<int>(devices.size()) == device_count());
  for (const DeviceInfo& d : devices) {
    MESSAGE("GPU " << d.index << ": " << d.name << ", " << d.multiprocessors << " SMs, " << d.arch()
                   << ", " << format_bytes(d.free_memory) << " free of "
                   << format_bytes(d.total_memory) << ", shared memory per block "
                   << d.max_shared_per_block << " (opt-in " << d.max_shared_per_block_optin << ")");
    CHECK_FALSE(d.name.empty());
    CHECK(d.multiprocessors > 0);
    CHECK(d.compute_major >= 5);
    CHECK(d.warp_size == 32);
    CHECK(d.max_threads_per_block >= 512);
    CHECK(d.total_memory > 0);
    CHECK(d.free_memory <= d.total_memory);
    CHECK(d.max_shared_per_block_optin >= d.max_shared_per_block);
  }
  CHECK_THROWS_WITH_AS(check_device(device_count()), doctest::Contains("does not exist"), Error);
  CHECK_THROWS_WITH_AS(check_device(-1), doctest::Contains("GPU -1 does not exist"), Error);
}

TEST_CASE("cuda: device buffers copy to and from the host") {
  if (!keops::test::gpu_usable()) return;
  std::vector<int> host(1000);
  for (int i = 0; i < 1000; ++i) host[i] = i * 7;
  const size_t bytes = host.size() * sizeof(int);
  DeviceBuffer buffer(0, bytes);
  CHECK(buffer.bytes() == bytes);
  CHECK(buffer.address() != 0);
  buffer.upload(host.data(), bytes);
  std::vector<int> back(host.size(), -1);
  buffer.download(back.data(), bytes);
  CHECK(back == host);

  // A slice at an offset, and device-to-device copies.
  std::vector<int> slice(10);
  buffer.download(slice.data(), 10 * sizeof(int), 100 * sizeof(int));
  CHECK(slice[0] == 700);
  DeviceBuffer copy(0, bytes);
  copy_on_device(0, copy.address(), buffer.address(), bytes);
  buffer.fill_zero();
  buffer.download(back.data(), bytes);
  CHECK(back == std::vector<int>(host.size(), 0));
  copy.download(back.data(), bytes);
  CHECK(back == host);

  CHECK_THROWS_WITH_AS(buffer.upload(host.data(), bytes, 4),
                       doctest::Contains("outside the buffer"), Error);
  CHECK_THROWS_AS(buffer.download(back.data(), 8, bytes), Error);

  // Ownership moves; the moved-from buffer owns nothing.
  DeviceBuffer moved(std::move(copy));
  CHECK(copy.address() == 0);
  CHECK(moved.bytes() == bytes);
  DeviceBuffer empty(0, 0);
  CHECK(empty.address() == 0);
}

TEST_CASE("cuda: async copies, memset and timing on a stream") {
  if (!keops::test::gpu_usable()) return;
  Stream stream(0);
  Event start(0), end(0);
  std::vector<float> host(1 << 20, 2.5f), back(host.size(), 0.0f);
  const size_t bytes = host.size() * sizeof(float);
  DeviceBuffer buffer(0, bytes);
  start.record(stream.get());
  buffer.fill_zero_async(stream.get());
  buffer.upload_async(host.data(), bytes, stream.get());
  buffer.download_async(back.data(), bytes, stream.get());
  end.record(stream.get());
  stream.synchronize();
  CHECK(back == host);
  end.synchronize();
  const float ms = end.milliseconds_since(start);
  MESSAGE("4 MiB up and down: " << ms << " ms");
  CHECK(ms >= 0.0f);
}

TEST_CASE("cuda: stream-ordered buffers, and small uploads staged without waiting for the stream") {
  if (!keops::test::gpu_usable()) return;
  Stream stream(0);
  DeviceBuffer busy(0, size_t(1) << 30);
  for (int k = 0; k < 32; ++k) busy.fill_zero_async(stream.get());  // some 15 ms of work
  std::vector<int64_t> host(512), back(host.size(), -1);
  for (size_t q = 0; q < host.size(); ++q) host[q] = int64_t(q) * 7;
  const std::vector<int64_t> sent = host;
  {
    DeviceBuffer buffer(0, host.size() * sizeof(int64_t), stream.get());
    CHECK(buffer.address() != 0);
    buffer.upload_async(host.data(), buffer.bytes(), stream.get());  // 4 KiB: staged
    CHECK_FALSE(stream.idle());              // the upload did not wait for the memsets
    std::fill(host.begin(), host.end(), 0);  // the source is free at once
    buffer.download_async(back.data(), buffer.bytes(), stream.get());
  }  // freed in the stream's order, after the download
  stream.synchronize();
  CHECK(back == sent);
  CHECK(DeviceBuffer(0, 0, stream.get()).address() == 0);
}

TEST_CASE("cuda: an impossible allocation throws and leaves nothing allocated") {
  if (!keops::test::gpu_usable()) return;
  const MemoryInfo before = memory_info(0);
  const size_t impossible = size_t{1} << 50;  // 1 PiB
  try {
    DeviceBuffer buffer(0, impossible);
    FAIL("allocating 1 PiB succeeded");
  } catch (const DriverError& e) {
    const std::string message = e.what();
    MESSAGE(message);
    CHECK(message.find("cuMemAlloc") != std::string::npos);
    CHECK(message.find("could not allocate 1.00 PiB") != std::string::npos);
    CHECK(message.find("free of") != std::string::npos);
  }
  const MemoryInfo after = memory_info(0);
  CHECK(after.total == before.total);
  CHECK(after.free + (size_t{4} << 20) >= before.free);  // 4 MiB of slack for other processes
}

TEST_CASE("cuda: the vector-add self test passes") {
  if (!keops::test::gpu_usable()) return;
  for (int d = 0; d < device_count(); ++d) {
    const SelfTestResult result = run_vector_add_self_test(d);
    INFO(result.detail);
    CHECK(result.passed);
    MESSAGE(result.detail);
  }
}

TEST_CASE("cuda: the module cache loads once per (kernel, device)") {
  if (!keops::test::gpu_usable()) return;
  std::atomic<int> builds = 0;
  auto make_ptx = [&] {
    ++builds;
    return std::string(vector_add_ptx());
  };
  const std::string key = "driver_test-vector_add-" + std::to_string(getpid());
  std::vector<std::shared_ptr<const Module>> modules(8);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < modules.size(); ++t)
    threads.emplace_back([&, t] { modules[t] = cached_module(key, 0, make_ptx); });
  for (std::thread& thread : threads) thread.join();
  CHECK(builds == 1);
  for (const auto& module : modules) CHECK(module == modules[0]);
  CHECK(cached_module(key, 0, make_ptx) == modules[0]);
  CHECK(cached_module(key + "-other", 0, make_ptx) != modules[0]);
  CHECK(builds == 2);

  // A failed load is reported and not cached: the next request tries again.
  const std::string bad_key = key + "-bad";
  CHECK_THROWS_AS(cached_module(bad_key, 0, [] { return std::string("not ptx"); }), DriverError);
  CHECK(cached_module(bad_key, 0, make_ptx) != nullptr);
}

TEST_CASE("cuda: bad PTX and missing kernels are reported with the driver's words") {
  if (!keops::test::gpu_usable()) return;
  const std::string bad_ptx =
      ".version 6.0\n.target sm_50\n.address_size 64\n"
      ".visible .entry broken() {\n  bogus.instruction %r1;\n  ret;\n}\n";
  try {
    Module module(0, bad_ptx);
    FAIL("bad PTX loaded");
  } catch (const DriverError& e) {
    const std::string message = e.what();
    MESSAGE(message);
    CHECK(message.find("cuModuleLoadDataEx: CUDA_ERROR_INVALID_PTX") != std::string::npos);
    CHECK(message.find("the JIT said") != std::string::npos);
  }
  const Module module(0, vector_add_ptx());
  const KernelFunction kernel = module.function("keops_vector_add");
  CHECK(function_attribute(kernel, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK) >= 256);
  CHECK(function_attribute(kernel, CU_FUNC_ATTRIBUTE_NUM_REGS) > 0);
  CHECK(function_attribute(kernel, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES) == 0);
  CHECK_THROWS_WITH_AS(
      module.function("no_such_kernel"),
      doctest::Contains("cuModuleGetFunction(no_such_kernel): CUDA_ERROR_NOT_FOUND"), DriverError);
}

TEST_CASE("cuda: a module from the driver's quickest JIT runs as the fully optimized one") {
  if (!keops::test::gpu_usable()) return;
  const Module module(0, vector_add_ptx(), JitEffort::Quick);
  VectorAddRun run(1.5f);
  launch(module.function("keops_vector_add"), run.config, run.args);
  CHECK(run.result() == std::vector<float>(run.n, 3.0f));
}

TEST_CASE("cuda: launches with more than 48 KiB of dynamic shared memory opt in") {
  if (!keops::test::gpu_usable()) return;
  const DeviceInfo info = device_info(0);
  const Module module(0, vector_add_ptx());
  const KernelFunction kernel = module.function("keops_vector_add");
  VectorAddRun run(1.0f);
  LaunchConfig& config = run.config;
  void** args = run.args;
  config.dynamic_shared_bytes = static_cast<unsigned>(info.max_shared_per_block_optin);
  REQUIRE(config.dynamic_shared_bytes > kDefaultDynamicSharedLimit);
  launch(kernel, config, args);
  CHECK(run.result() == std::vector<float>(run.n, 2.0f));

  config.dynamic_shared_bytes = static_cast<unsigned>(info.max_shared_per_block_optin) + 1024;
  CHECK_THROWS_WITH_AS(launch(kernel, config, args),
                       doctest::Contains("MAX_DYNAMIC_SHARED_SIZE_BYTES"), DriverError);
  config.dynamic_shared_bytes = 0;
  config.block.x = 4096;  // beyond any device's threads per block
  CHECK_THROWS_WITH_AS(launch(kernel, config, args),
                       doctest::Contains("cuLaunchKernel(keops_vector_add, grid 32x1x1, block "
                                         "4096x1x1"),
                       DriverError);
}

TEST_CASE("cuda: small device buffers are recycled, large ones freed") {
  if (!keops::test::gpu_usable()) return;
  CUdeviceptr small = 0;
  {
    DeviceBuffer a(0, 1000);
    small = a.address();
    CHECK(a.bytes() == 1000);
  }
  DeviceBuffer again(0, 1024);  // the same size class (1 KiB): the same memory
  CHECK(again.address() == small);
  std::vector<unsigned char> bytes(1024, 7), back(1024);
  again.upload(bytes.data(), bytes.size());
  again.download(back.data(), back.size());
  CHECK(back == bytes);
  CHECK_THROWS_WITH(again.upload(bytes.data(), 1025), doctest::Contains("outside the buffer"));
  const MemoryInfo before = memory_info(0);
  { DeviceBuffer large(0, size_t(256) << 20); }
  CHECK(memory_info(0).free + (size_t{4} << 20) >= before.free);  // freed, not kept
}

}  // namespace keops::runtime::cuda
