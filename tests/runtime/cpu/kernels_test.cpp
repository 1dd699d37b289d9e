// The in-memory kernel cache and the OpenMP driver: one compile per kernel, any thread count.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include <keops/keops.h>

#include "compiler/jit/cpu_compile.h"
#include "runtime/cache/disk_cache.h"
#include "runtime/cpu/driver.h"
#include "runtime/cpu/kernels.h"
#include "tests/support/gpu_spec.h"
#include "tests/support/reference_check.h"
#include "tests/support/scratch.h"

using keops::Genred;
using keops::Options;

namespace {
const std::vector<std::string> kAliases = {"x = Vi(3)", "y = Vj(3)", "b = Vj(1)"};

// These tests are about the CPU kernels, also on machines where Auto would pick a GPU.
Options cpu() {
  Options o;
  o.backend = keops::Backend::CPU;
  return o;
}
}  // namespace

TEST_CASE("the same Genred built twice compiles once") {
  const char* formula = "Exp(-SqDist(x, y) * 3) * b";
  const auto args = keops::test::random_args<float>(formula, kAliases, 100, 50, 1);
  const size_t before = keops::runtime::cpu_kernel_compiles();
  auto first = Genred(formula, kAliases, "Sum", 1, cpu())(args.views);
  auto second = Genred(formula, kAliases, "Sum", 1, cpu())(args.views);
  CHECK(keops::runtime::cpu_kernel_compiles() == before + 1);
  CHECK(first.values == second.values);
  Genred(formula, kAliases, "Sum", 0, cpu())(args.views);  // another axis: another kernel
  CHECK(keops::runtime::cpu_kernel_compiles() == before + 2);
}

TEST_CASE("concurrent first calls from 8 threads compile once and agree") {
  const char* formula = "Exp(-SqDist(x, y) * 5) * b";
  const auto args = keops::test::random_args<float>(formula, kAliases, 300, 200, 2);
  const size_t before = keops::runtime::cpu_kernel_compiles();
  std::vector<std::vector<float>> results(8);
  std::vector<std::string> errors(8);  // an exception must not escape a thread
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      try {
        results[size_t(t)] = Genred(formula, kAliases, "Sum", 1, cpu())(args.views).values;
      } catch (const std::exception& e) {
        errors[size_t(t)] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (const auto& e : errors) CHECK(e == "");
  CHECK(keops::runtime::cpu_kernel_compiles() == before + 1);
  for (const auto& r : results) CHECK(r == results[0]);
}

TEST_CASE("results are bitwise the same with 1 and 2 threads") {
  const char* formula = "Exp(-SqDist(x, y)) * b";
  const auto args = keops::test::random_args<float>(formula, kAliases, 5001, 3001, 3);
  for (int axis : {0, 1}) {
    Options one = cpu(), two = cpu();
    one.threads = 1;
    two.threads = 2;
    auto r1 = Genred(formula, kAliases, "Sum", axis, one)(args.views);
    auto r2 = Genred(formula, kAliases, "Sum", axis, two)(args.views);
    CHECK(r1.values == r2.values);
  }
}

namespace {

// A float32 CPU kernel of Exp(-SqDist(x, y) * scale) * b on this host.
struct HostGauss : keops::test::GpuSpec {
  explicit HostGauss(const std::string& scale)
      : GpuSpec("Exp(-SqDist(x, y) * " + scale + ") * b", "Sum", keops::ir::DType::F32) {
    spec.target = keops::codegen::CpuTarget::host();
  }
};

}  // namespace

TEST_CASE("an object that is not the kernel's own is refused before it is loaded") {
  const HostGauss a("3.3125"), b("5.4375");
  const std::string symbol = keops::jit::cpu_kernel_symbol(a.spec);
  const std::string refusal =
      "it defines " + keops::jit::cpu_kernel_symbol(b.spec) + ", not " + symbol + " alone";
  CHECK_THROWS_WITH_AS(
      keops::jit::load_cpu_kernel_object(a.spec, keops::jit::cpu_kernel_object(b.spec)),
      doctest::Contains(refusal.c_str()), keops::Error);
  CHECK_THROWS_WITH_AS(keops::jit::load_cpu_kernel_object(a.spec, "not an ELF object"),
                       doctest::Contains("not an object file"), keops::Error);
  CHECK(keops::jit::load_cpu_kernel_object(a.spec, keops::jit::cpu_kernel_object(a.spec)).entry !=
        nullptr);
}

TEST_CASE("a disk cache entry holding another kernel's object is rebuilt, not run") {
  keops::test::TempDir dir;
  keops::runtime::set_process_disk_cache(
      keops::runtime::DiskCacheSettings{true, dir.path(), 1 << 30});
  const HostGauss a("6.0625"), b("0.0625");
  // b's object under a's key, with a valid header and checksum.
  const keops::runtime::DiskCache disk(dir.path(), 1 << 30);
  const std::string key = keops::runtime::cpu_object_cache_key(a.spec);
  disk.store(keops::runtime::kCpuObjectKind, key, keops::jit::cpu_kernel_object(b.spec));
  const std::vector<float> x = {0.5f, 0, 0, 1, 1, 1}, y = {0, 0, 0}, one = {1};
  keops::runtime::ReductionArrays<float> arrays;
  arrays.out_rows = 2;
  arrays.n_reduced = 1;
  arrays.args = {{x.data(), 2, 3}, {y.data(), 1, 3}, {one.data(), 1, 1}};
  std::vector<float> out(2);
  arrays.values = {out.data(), 2, 1};
  keops::runtime::run_cpu_kernel<float>(keops::runtime::cpu_kernel_for(a.spec), arrays, 1);
  CHECK(out[0] == doctest::Approx(std::exp(-0.25 * 6.0625)));
  CHECK(out[1] == doctest::Approx(std::exp(-3 * 6.0625)));
  // The entry now holds a's own object.
  CHECK(disk.load(keops::runtime::kCpuObjectKind, key) == keops::jit::cpu_kernel_object(a.spec));
  keops::runtime::set_process_disk_cache(std::nullopt);
}
