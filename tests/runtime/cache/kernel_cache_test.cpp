// Tests of the in-process kernel cache: one compile per key, failures not kept, holds().
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "runtime/cache/kernel_cache.h"

namespace {

using keops::runtime::KernelCache;

TEST_CASE("kernel cache: a key compiles once and is held from then on") {
  KernelCache<std::string> cache;
  CHECK_FALSE(cache.holds("a"));
  int compiles = 0;
  auto compile = [&] {
    ++compiles;
    return std::string("kernel a");
  };
  CHECK(cache.get("a", compile) == "kernel a");
  CHECK(cache.holds("a"));
  CHECK_FALSE(cache.holds("b"));
  CHECK(cache.get("a", compile) == "kernel a");
  CHECK(compiles == 1);
  CHECK(cache.compiles() == 1);
}

TEST_CASE("kernel cache: a failed compile is not held, and a later request compiles again") {
  KernelCache<std::string> cache;
  CHECK_THROWS_WITH(cache.get("a", []() -> std::string { throw std::runtime_error("no PTX"); }),
                    "no PTX");
  CHECK_FALSE(cache.holds("a"));
  CHECK(cache.get("a", [] { return std::string("kernel a"); }) == "kernel a");
  CHECK(cache.holds("a"));
  CHECK(cache.compiles() == 2);
}

}  // namespace
