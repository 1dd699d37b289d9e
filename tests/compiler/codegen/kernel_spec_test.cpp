// Tests of KernelSpec keys: what makes two kernels interchangeable in the caches.
#include <doctest/doctest.h>

#include <cctype>
#include <set>
#include <stdexcept>
#include <string>

#include "compiler/codegen/kernel_spec.h"
#include "tests/support/gpu_spec.h"

namespace {

using keops::codegen::CpuTarget;
using keops::codegen::GpuScheme;
using keops::codegen::GpuTarget;
using keops::ir::DType;
using keops::test::GpuSpec;

TEST_CASE("kernel keys start with the version and a digest of this build's sources") {
  GpuSpec g("Exp(-SqDist(x, y)) * b", "Sum", DType::F32);
  const std::string key = g.spec.key();
  const std::string version = "keops-0.1.0+";
  REQUIRE(key.rfind(version, 0) == 0);
  // 16 hex digits (cmake/source_digest.cmake), then the formula's fields.
  const std::string digest = key.substr(version.size(), 16);
  CHECK(digest.size() == 16);
  for (char c : digest) CHECK(std::isxdigit(static_cast<unsigned char>(c)));
  CHECK(key.substr(version.size() + 16, 3) == "|F=");
  // The rest tells specs apart as before.
  GpuSpec other("Exp(-SqDist(x, y)) * b", "Sum", DType::F64);
  CHECK(other.spec.key() != key);
  CHECK(other.spec.key().substr(0, version.size() + 16) == key.substr(0, version.size() + 16));
}

TEST_CASE("a spec's target is a CPU or a GPU, and every field of it is in the key") {
  GpuSpec g("Exp(-SqDist(x, y)) * b", "Sum", DType::F32);
  REQUIRE(g.spec.on_gpu());
  CHECK(g.spec.gpu().sm == 90);
  CHECK_THROWS_WITH_AS(g.spec.cpu(), doctest::Contains("CPU kernel's target asked of a GPU spec"),
                       std::logic_error);
  std::set<std::string> keys;
  for (GpuTarget t :
       {GpuTarget{90}, GpuTarget{80}, GpuTarget{90, false},
        GpuTarget{90, true, GpuScheme::BlockSparse}, GpuTarget{90, true, GpuScheme::Partial},
        GpuTarget{90, true, GpuScheme::Dense, 4}}) {
    g.spec.target = t;
    keys.insert(g.spec.key());
  }
  g.spec.target = CpuTarget::named("skylake-avx512");
  CHECK_FALSE(g.spec.on_gpu());
  CHECK_THROWS_WITH_AS(g.spec.gpu(), doctest::Contains("GPU kernel's target asked of a CPU spec"),
                       std::logic_error);
  keys.insert(g.spec.key());
  g.spec.target = CpuTarget::named("x86-64-v3");
  keys.insert(g.spec.key());
  CHECK(keys.size() == 8);
}

}  // namespace
