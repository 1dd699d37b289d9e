// The in-memory kernel cache and the OpenMP driver: one compile per kernel, any thread count.
#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include <keops/keops.h>

#include "runtime/cpu/kernels.h"
#include "tests/support/reference_check.h"

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
