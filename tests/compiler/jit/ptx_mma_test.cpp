// The matrix-unit kernels' PTX: mma.sync TF32 tiles where a product is taken, ptxas accepts it.
#include <doctest/doctest.h>

#include <string>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/jit/ptx.h"
#include "compiler/lower/kernel_plan.h"
#include "tests/support/gpu_spec.h"
#include "tests/support/ptxas.h"

namespace {

using keops::codegen::MatmulPrecision;
using keops::codegen::MatrixUnits;
using keops::test::assemble_ptx;
using keops::test::find_ptxas;
using keops::test::GpuSpec;

const auto count = &keops::test::occurrences;

}  // namespace

TEST_CASE("matrix units: mma.sync TF32 tiles, split in three by default, and ptxas accepts them") {
  const std::string ptxas = find_ptxas();
  struct Case {
    const char* formula;
    const char* reduction;
    int k;
    const char* formula2;
  };
  for (const Case c :
       {Case{"Exp(-SqDist(x, y)) * v", "Sum", 0, ""}, Case{"SqDist(x, y)", "ArgKMin", 10, ""},
        Case{"(x | y)", "SumSoftMaxWeight", 0, "v"}, Case{"-SqDist(x, y)", "LogSumExp", 0, ""}})
    for (int dim : {64, 20, 300})
      for (int sm : {80, 90}) {
        CAPTURE(c.formula);
        CAPTURE(dim);
        CAPTURE(sm);
        GpuSpec g(c.formula, c.reduction, keops::ir::DType::F32, c.k, c.formula2, dim, 16);
        g.spec.gpu().sm = sm;
        g.spec.gpu().matrix_units = MatrixUnits::On;
        CHECK(keops::lower::lower(g.spec).gpu.matrix_units);
        const std::string split = keops::jit::gpu_kernel_ptx(g.spec);
        CHECK(count(split, "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32") == 24);
        CHECK(split.find("cvt.rna.tf32.f32") != std::string::npos);
        g.spec.gpu().matmul_precision = MatmulPrecision::TF32;
        const std::string tf32 = keops::jit::gpu_kernel_ptx(g.spec);
        CHECK(count(tf32, "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32") == 8);
        if (ptxas.empty()) continue;
        CHECK(assemble_ptx(ptxas, split, sm) == "");
        CHECK(assemble_ptx(ptxas, tf32, sm) == "");
      }
  if (ptxas.empty()) MESSAGE("ptxas not found: PTX checked by content only");
}

TEST_CASE("matrix units: 16-bit data take one TF32 product, exact, but SqDist's split stays") {
  const std::string ptxas = find_ptxas();
  const char* mma = "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32";
  for (auto storage : {keops::codegen::Storage::F16, keops::codegen::Storage::BF16}) {
    // float16 and bfloat16 values are TF32 values: the low parts would all be 0.
    GpuSpec product("(x | y) * v", "Sum", keops::ir::DType::F32, 0, "", 64, 16);
    product.spec.storage = storage;
    product.spec.gpu().matrix_units = MatrixUnits::On;
    const std::string one_pass = keops::jit::gpu_kernel_ptx(product.spec);
    CHECK(count(one_pass, mma) == 8);
    // SqDist multiplies differences from the tile's first row, which are not.
    GpuSpec distance("Exp(-SqDist(x, y)) * v", "Sum", keops::ir::DType::F32, 0, "", 64, 16);
    distance.spec.storage = storage;
    distance.spec.gpu().matrix_units = MatrixUnits::On;
    const std::string split = keops::jit::gpu_kernel_ptx(distance.spec);
    CHECK(count(split, mma) == 24);
    if (ptxas.empty()) continue;
    CHECK(assemble_ptx(ptxas, one_pass, 90) == "");
    CHECK(assemble_ptx(ptxas, split, 90) == "");
  }
}

TEST_CASE("matrix units: Auto takes long float32 products on sm_80 and later, nothing else") {
  auto takes = [](const char* formula, int dim, MatrixUnits units, int sm = 90,
                  keops::ir::DType dtype = keops::ir::DType::F32) {
    GpuSpec g(formula, "Sum", dtype, 0, "", dim);
    g.spec.gpu().sm = sm;
    g.spec.gpu().matrix_units = units;
    return keops::lower::lower(g.spec).gpu.matrix_units;
  };
  // Auto: rows the CUDA cores' kernel dimension-tiles too (over 256 values).
  CHECK(takes("Exp(-SqDist(x, y)) * b", 257, MatrixUnits::Auto));
  CHECK(takes("(x | y) * b", 1000, MatrixUnits::Auto));
  CHECK_FALSE(takes("Exp(-SqDist(x, y)) * b", 256, MatrixUnits::Auto));
  CHECK_FALSE(takes("Exp(-SqDist(x, y)) * b", 64, MatrixUnits::Auto));
  CHECK(takes("Exp(-SqDist(x, y)) * b", 64, MatrixUnits::On));
  CHECK(takes("Exp(-SqDist(x, y)) * b", 3, MatrixUnits::On));
  CHECK_FALSE(takes("Exp(-SqDist(x, y)) * b", 64, MatrixUnits::Off));
  CHECK_FALSE(takes("Exp(-SqDist(x, y)) * b", 64, MatrixUnits::On, 75));
  CHECK_FALSE(takes("Exp(-SqDist(x, y)) * b", 64, MatrixUnits::On, 90, keops::ir::DType::F64));
  // Two products (of x with y, and of x with itself is no product): one only, for now.
  CHECK_FALSE(takes("Exp(-SqDist(x, y)) * (x | y)", 64, MatrixUnits::On));
  // Without a product of an output row and a reduced row, nothing to take.
  CHECK_FALSE(takes("Exp(-SqNorm2(x)) * b", 64, MatrixUnits::On));
}

TEST_CASE("matrix units: the mode and precision are in the kernel's key") {
  GpuSpec g("Exp(-SqDist(x, y)) * b", "Sum", keops::ir::DType::F32, 0, "", 64);
  const std::string off = g.spec.key();
  g.spec.gpu().matrix_units = MatrixUnits::Auto;
  const std::string automatic = g.spec.key();
  g.spec.gpu().matrix_units = MatrixUnits::On;
  const std::string on = g.spec.key();
  g.spec.gpu().matmul_precision = MatmulPrecision::TF32;
  const std::string tf32 = g.spec.key();
  CHECK(off != automatic);
  CHECK(automatic != on);
  CHECK(on != tf32);
}
