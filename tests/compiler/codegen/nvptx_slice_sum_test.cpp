// The kernel that sums an output's slices (a dense sum's tail split) as PTX.
#include <doctest/doctest.h>

#include <string>

#include "compiler/jit/ptx.h"
#include "tests/support/ptxas.h"

using keops::ir::DType;

TEST_CASE("slice sums: each value's slices loaded and added in float64, one store") {
  const std::string ptxas = keops::test::find_ptxas();
  for (DType dtype : {DType::F32, DType::F64})
    for (int sm : {80, 90}) {
      CAPTURE(int(dtype));
      CAPTURE(sm);
      const std::string ptx = keops::jit::gpu_slice_sum_ptx(dtype, sm);
      const std::string symbol = keops::jit::gpu_slice_sum_symbol(dtype);
      CHECK(symbol == (dtype == DType::F32 ? "keops_slice_sum_f32" : "keops_slice_sum_f64"));
      CHECK(ptx.find(".visible .entry " + symbol + "(") != std::string::npos);
      CHECK(ptx.find(".target sm_" + std::to_string(sm)) != std::string::npos);
      CHECK(ptx.find("add.f64") != std::string::npos);
      if (dtype == DType::F32) {
        // Loads widened, the sum rounded once.
        CHECK(ptx.find("ld.global.f32") != std::string::npos);
        CHECK(ptx.find("cvt.f64.f32") != std::string::npos);
        CHECK(ptx.find("cvt.rn.f32.f64") != std::string::npos);
        CHECK(ptx.find("st.global.f32") != std::string::npos);
      } else {
        CHECK(ptx.find("ld.global.f64") != std::string::npos);
        CHECK(ptx.find(".f32") == std::string::npos);
        CHECK(ptx.find("st.global.f64") != std::string::npos);
      }
      if (!ptxas.empty()) CHECK(keops::test::assemble_ptx(ptxas, ptx, sm) == "");
    }
  if (keops::test::find_ptxas().empty()) MESSAGE("ptxas not found: PTX checked by content only");
}
