// PTX generation, checked everywhere: expected instructions, and ptxas assembles it where found.
#include <doctest/doctest.h>

#include <string>
#include <utility>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/codegen/nvptx_kernel.h"
#include "compiler/jit/ptx.h"
#include "tests/support/gpu_spec.h"
#include "tests/support/ptxas.h"

namespace {

using keops::test::assemble_ptx;
using keops::test::find_ptxas;
using keops::test::GpuCase;
using keops::test::GpuSpec;

}  // namespace

TEST_CASE("the Gaussian kernel's PTX stages j rows in shared memory and has no calls") {
  GpuSpec g("Exp(-p * SqDist(x, y)) * b", "Sum", keops::ir::DType::F32);
  const std::string ptx = keops::jit::gpu_kernel_ptx(g.spec);
  CHECK(ptx.find(".target sm_90") != std::string::npos);
  CHECK(ptx.find(".version 8.0") != std::string::npos);
  CHECK(ptx.find(".entry " + keops::jit::gpu_kernel_symbol(g.spec)) != std::string::npos);
  CHECK(ptx.find("bar.sync") != std::string::npos);
  CHECK(ptx.find("st.shared") != std::string::npos);
  CHECK(ptx.find("ld.shared") != std::string::npos);
  CHECK(ptx.find("call") == std::string::npos);
}

TEST_CASE("float32 fast math: Gaussian exponents are ex2 of scaled points, no multiply per pair") {
  // log2(e) as PTX writes a float32 constant, and sqrt(log2(e)), the points' scale.
  const std::string log2e = "0f3FB8AA3B", minus_log2e = "0fBFB8AA3B", scale = "0f3F99BE61";
  GpuSpec gauss("Exp(-SqDist(x, y)) * b", "Sum", keops::ir::DType::F32);
  std::string ptx = keops::jit::gpu_kernel_ptx(gauss.spec);
  CHECK(ptx.find("ex2.approx.ftz.f32") != std::string::npos);
  CHECK(ptx.find(scale) != std::string::npos);
  CHECK(ptx.find(log2e) == std::string::npos);
  CHECK(ptx.find(minus_log2e) == std::string::npos);
  // x - y also used elsewhere: the differences are shared and the exponent keeps its product.
  GpuSpec shared("Exp(-SqDist(x, y)) * Sum(x - y)", "Sum", keops::ir::DType::F32);
  ptx = keops::jit::gpu_kernel_ptx(shared.spec);
  CHECK(ptx.find(scale) == std::string::npos);
  CHECK(ptx.find(minus_log2e) != std::string::npos);
  // Without fast math the points stay as they are.
  gauss.spec.gpu().fast_math = false;
  ptx = keops::jit::gpu_kernel_ptx(gauss.spec);
  CHECK(ptx.find("ex2.approx") == std::string::npos);
  CHECK(ptx.find(scale) == std::string::npos);
}

TEST_CASE("float32 fast math: a parameter's scale takes log2(e), through the negation") {
  // Simplified, Exp(-SqDist(x, y) * p) is Exp(-(p * SqDist(x, y))): p * -log2(e) once per
  // thread, one product per pair, no negation.
  GpuSpec gauss("Exp(-SqDist(x, y) * p) * b", "Sum", keops::ir::DType::F32);
  const std::string ptx = keops::jit::gpu_kernel_ptx(gauss.spec);
  size_t products = 0;
  for (size_t at = ptx.find("0fBFB8AA3B"); at != std::string::npos;
       at = ptx.find("0fBFB8AA3B", at + 1))
    ++products;
  CHECK(products == 1);
  CHECK(ptx.find("0f3FB8AA3B") == std::string::npos);
  CHECK(ptx.find("neg.f32") == std::string::npos);
}

TEST_CASE("SumSoftMaxWeight's PTX: one reciprocal per row, no per-column select on rare paths") {
  auto count = [](const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  GpuSpec g("(x | y)", "SumSoftMaxWeight", keops::ir::DType::F32, 0, "v", 3, 16);
  std::string ptx = keops::jit::gpu_kernel_ptx(g.spec);
  CHECK(count(ptx, "rcp.rn.f32") == 1);
  CHECK(count(ptx, "div.rn.f32") == 0);
  // The output's select of an empty row is one per column; the rare paths (a term above the
  // running max, a tile folded into the total) add none per column (merge had two).
  CHECK(count(ptx, "selp.f32") < 3 * 16);
  g.spec.gpu().fast_math = false;  // then a correctly rounded quotient per column
  ptx = keops::jit::gpu_kernel_ptx(g.spec);
  CHECK(count(ptx, "div.rn.f32") == 16);
}

TEST_CASE("long rows' distances and products are computed in dimension tiles of shared memory") {
  const std::string ptxas = find_ptxas();
  for (auto dtype : {keops::ir::DType::F32, keops::ir::DType::F64}) {
    GpuSpec gauss("Exp(-SqDist(x, y) * p) * b", "Sum", dtype, 0, "", 1000);
    std::string ptx = keops::jit::gpu_kernel_ptx(gauss.spec);
    CHECK(ptx.find("keops_dim_tile") != std::string::npos);
    CHECK(keops::lower::lower(gauss.spec).dim_tiled());  // optimized at O3 (ptx.cpp)
    CHECK(ptx.find(dtype == keops::ir::DType::F32 ? "ld.shared.v4.f32" : "ld.shared.v2.f64") !=
          std::string::npos);
    // The next chunk is copied while this one is multiplied (cp.async, from sm_80).
    CHECK(ptx.find("cp.async.ca.shared.global") != std::string::npos);
    CHECK(ptx.find("cp.async.wait_group 1") != std::string::npos);
    if (!ptxas.empty()) CHECK(assemble_ptx(ptxas, ptx, 90) == "");
    gauss.spec.gpu().sm = 75;  // before sm_80: plain loads and stores
    ptx = keops::jit::gpu_kernel_ptx(gauss.spec);
    CHECK(ptx.find("cp.async") == std::string::npos);
    CHECK(ptx.find("keops_dim_tile") != std::string::npos);
    if (!ptxas.empty()) CHECK(assemble_ptx(ptxas, ptx, 75) == "");
    gauss.spec.gpu().sm = 90;
    gauss.spec.gpu().scheme =
        keops::codegen::GpuScheme::Partial;  // the 2-D scheme's partial kernel too
    ptx = keops::jit::gpu_kernel_ptx(gauss.spec);
    CHECK(ptx.find("keops_dim_tile") != std::string::npos);
    if (!ptxas.empty()) CHECK(assemble_ptx(ptxas, ptx, 90) == "");
  }
  // The same written as sums over components.
  GpuSpec sums("Exp(-Sum(Square(x - y)) * p) * Sum(x * y)", "Sum", keops::ir::DType::F32, 0, "",
               1000);
  CHECK(keops::jit::gpu_kernel_ptx(sums.spec).find("keops_dim_tile") != std::string::npos);
  // Rows short enough to stage keep the pair loop.
  GpuSpec short_rows("Exp(-SqDist(x, y)) * b", "Sum", keops::ir::DType::F32, 0, "", 64);
  CHECK(keops::jit::gpu_kernel_ptx(short_rows.spec).find("keops_dim_tile") == std::string::npos);
  CHECK_FALSE(keops::lower::lower(short_rows.spec).dim_tiled());
  // A long row read otherwise too: the products are tiled, the other reads stay in the pair
  // loop; a gradient's long output (column groups) likewise.
  GpuSpec summed("SqDist(x, y) * Sum(x)", "Sum", keops::ir::DType::F32, 0, "", 1000);
  CHECK(keops::jit::gpu_kernel_ptx(summed.spec).find("keops_dim_tile") != std::string::npos);
  CHECK(keops::lower::lower(summed.spec).dim_tiled());
  GpuSpec gradient("(x - y) * Exp(-SqDist(x, y) * p)", "Sum", keops::ir::DType::F32, 0, "", 1000);
  const std::string ptx = keops::jit::gpu_kernel_ptx(gradient.spec);
  CHECK(ptx.find("keops_dim_tile") != std::string::npos);
  if (!ptxas.empty()) CHECK(assemble_ptx(ptxas, ptx, 90) == "");
  // Each column group computes the products again: groups of 64 columns there, 32 elsewhere.
  CHECK(keops::lower::lower(gradient.spec).gpu.column_groups == 16);
  GpuSpec weights("Exp(-SqDist(x, y)) * v", "Sum", keops::ir::DType::F32, 0, "", 3, 1000);
  CHECK(keops::lower::lower(weights.spec).gpu.column_groups == 32);
  GpuSpec gradient64("(x - y) * Exp(-SqDist(x, y) * p)", "Sum", keops::ir::DType::F64, 0, "",
                     1000);  // two registers a column: 32 columns
  CHECK(keops::lower::lower(gradient64.spec).gpu.column_groups == 32);
}

TEST_CASE("PTX for every reduction kind assembles with ptxas for sm_80 and sm_90") {
  const std::string ptxas = find_ptxas();
  const GpuCase cases[] = {{"Exp(-SqDist(x, y)) * b", "Sum", 0, ""},
                           {"SqDist(x, y)", "ArgKMin", 5, ""},
                           {"x - y", "Min_ArgMin", 0, ""},
                           {"-SqDist(x, y)", "LogSumExp", 0, ""},
                           {"(x | y)", "SumSoftMaxWeight", 0, "y"}};
  for (const GpuCase& c : cases)
    for (auto dtype : {keops::ir::DType::F32, keops::ir::DType::F64})
      for (int sm : {80, 90}) {
        CAPTURE(std::string(c.reduction));
        CAPTURE(sm);
        GpuSpec g(c, dtype);
        g.spec.gpu().sm = sm;
        const std::string ptx = keops::jit::gpu_kernel_ptx(g.spec);
        CHECK(ptx.find(".target sm_" + std::to_string(sm)) != std::string::npos);
        if (ptxas.empty()) continue;
        CHECK(assemble_ptx(ptxas, ptx, sm) == "");
      }
  if (ptxas.empty()) MESSAGE("ptxas not found: PTX checked by content only");
}

TEST_CASE("long vectors on the GPU: loops over components, a bounded tile, PTX that assembles") {
  const std::string ptxas = find_ptxas();
  for (int dim : {64, 300, 4096}) {
    for (auto dtype : {keops::ir::DType::F32, keops::ir::DType::F64}) {
      CAPTURE(dim);
      GpuSpec g("Exp(-p * SqDist(x, y)) * b", "Sum", dtype, 0, "", dim);
      const auto layout = keops::lower::lower(g.spec).gpu;
      CHECK(layout.shared_bytes() <= 96 * 1024);
      CHECK(layout.block_threads >= 64);
      const std::string ptx = keops::jit::gpu_kernel_ptx(g.spec);
      // Unrolled, 4096 components would take some 100 kB of PTX.
      CHECK(ptx.size() < 40000);
      if (ptxas.empty()) continue;
      CHECK(assemble_ptx(ptxas, ptx, 90) == "");
    }
  }
  // Rows too long for a tile are read from global memory: nothing is staged.
  GpuSpec g("Exp(-p * SqDist(x, y)) * b", "Sum", keops::ir::DType::F32, 0, "", 4096);
  CHECK(keops::lower::lower(g.spec).gpu.staged_values == 0);
  if (ptxas.empty()) MESSAGE("ptxas not found: PTX checked by content only");
}

TEST_CASE("LogSumExp with a G emits LogSumExpWeight's PTX, but for the kernel's name") {
  auto body = [](const char* reduction, const char* formula2 = "v") {
    GpuSpec g("-SqDist(x, y)", reduction, keops::ir::DType::F32, 0, formula2, 3, 4);
    std::string ptx = keops::jit::gpu_kernel_ptx(g.spec);
    const std::string symbol = keops::jit::gpu_kernel_symbol(g.spec);
    for (size_t at = ptx.find(symbol); at != std::string::npos; at = ptx.find(symbol, at))
      ptx.replace(at, symbol.size(), "KERNEL");
    return ptx;
  };
  const std::string weighted = body("LogSumExpWeight");
  CHECK(weighted.find("KERNEL") != std::string::npos);
  CHECK(body("LogSumExp") == weighted);
  CHECK(body("LogSumExp", "") != weighted);  // without G: one sum, not four
}

TEST_CASE("SoftDTW_SqDist's loops assemble for the GPU: the gradient's, and long streamed series") {
  const std::string ptxas = find_ptxas();
  for (keops::ir::DType dtype : {keops::ir::DType::F32, keops::ir::DType::F64}) {
    // The gradient's tables in local memory; series of 300 values (past kGpuStreamDim) read
    // from their rows.
    const std::pair<const char*, int> cases[] = {{"SoftDTW_SqDist_Grad(x, y, p)", 12},
                                                 {"SoftDTW_SqDist(x, y, p)", 300}};
    for (const auto& c : cases) {
      GpuSpec g(c.first, "Sum", dtype, 0, "", c.second);
      const std::string ptx = keops::jit::gpu_kernel_ptx(g.spec);
      CHECK(ptx.find(".local") != std::string::npos);
      if (!ptxas.empty()) CHECK(assemble_ptx(ptxas, ptx, 90) == "");
    }
  }
}
