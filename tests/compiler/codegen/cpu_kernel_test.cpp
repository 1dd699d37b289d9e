// Tests of the CPU kernel builder's choices: the width of a long output's column groups.
#include <doctest/doctest.h>

#include "compiler/codegen/cpu_kernel.h"
#include "tests/support/gpu_spec.h"

namespace {

using keops::codegen::cpu_column_group;
using keops::codegen::kColumnGroup;
using keops::ir::DType;
using keops::test::GpuSpec;

// cpu_column_group of a CPU spec over GpuSpec's aliases (x = Vi(dim), y = Vj(dim), v = Vj(e)).
int width(const char* formula, const char* reduction, int dim, int e = 1,
          const char* formula2 = "") {
  GpuSpec g(formula, reduction, DType::F32, 0, formula2, dim, e);
  g.spec.gpu_sm = 0;
  return cpu_column_group(g.spec);
}

TEST_CASE("CPU column groups: wider where every group would compute long products again") {
  // The gradient of a Gaussian w.r.t. x: SqDist of rows of 100 and 1000 components per pair.
  CHECK(width("(x - y) * Exp(-SqDist(x, y))", "Sum", 1000) == 4 * kColumnGroup);
  CHECK(width("(x - y) * Exp(-SqDist(x, y))", "Sum", 100) == 4 * kColumnGroup);
  // Products of 64 components, a long output of 1000 read from v; G's groups likewise.
  CHECK(width("Exp(-SqDist(x, y)) * v", "Sum", 64, 1000) == 4 * kColumnGroup);
  CHECK(width("(x | y)", "SumSoftMaxWeight", 64, 1000, "v") == 4 * kColumnGroup);
  // Short products (3 or 48 components), or none: groups of kColumnGroup.
  CHECK(width("Exp(-SqDist(x, y)) * v", "Sum", 3, 1000) == kColumnGroup);
  CHECK(width("Exp(-SqDist(x, y)) * v", "Sum", 48, 1000) == kColumnGroup);
  CHECK(width("x - y * b", "Sum", 1000) == kColumnGroup);
}

}  // namespace
