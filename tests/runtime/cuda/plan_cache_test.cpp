// The process's GPU kernel plans: lowered once per key, shared afterwards.
#include <doctest/doctest.h>

#include "runtime/cuda/plan_cache.h"
#include "tests/support/gpu_spec.h"

TEST_CASE("a GPU plan is lowered once per kernel key") {
  keops::test::GpuSpec g("Exp(-SqDist(x, y)) * b", "Sum", keops::ir::DType::F32);
  const auto first = keops::runtime::cuda::cached_plan(g.spec);
  CHECK(keops::runtime::cuda::cached_plan(g.spec) == first);
  CHECK(first->spec.key() == g.spec.key());
  g.spec.gpu().scheme = keops::codegen::GpuScheme::Partial;
  const auto partial = keops::runtime::cuda::cached_plan(g.spec);
  CHECK(partial != first);
  CHECK(partial->abi.has(keops::lower::Param::States));
  CHECK_FALSE(first->abi.has(keops::lower::Param::States));
}
