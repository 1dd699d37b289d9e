// Tests of KernelSpec keys: what makes two kernels interchangeable in the caches.
#include <doctest/doctest.h>

#include <cctype>
#include <string>

#include "compiler/codegen/kernel_spec.h"
#include "tests/support/gpu_spec.h"

namespace {

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

}  // namespace
