// GpuSpec: a GPU KernelSpec (sm_90) parsed from a formula over x, y, b, v and p, for PTX tests.
#pragma once

#include <string>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/frontend/aliases.h"
#include "compiler/frontend/parser.h"
#include "compiler/ir/context.h"

namespace keops::test {

// A row of a table of GPU test cases: GpuSpec's arguments but the dtype.
struct GpuCase {
  const char* formula;
  const char* reduction;
  int k = 0;
  const char* formula2 = "";
  int dim = 3;
  int e = 1;
};

// x = Vi(dim), y = Vj(dim), b = Vj(1), v = Vj(e), p = Pm(1), reduced over j, for sm_90 (set
// spec.gpu_sm for another).
struct GpuSpec {
  ir::Context ctx;
  codegen::KernelSpec spec;
  GpuSpec(const std::string& formula, const std::string& reduction, ir::DType dtype, int k = 0,
          const std::string& formula2 = "", int dim = 3, int e = 1) {
    const std::string d = std::to_string(dim);
    const auto aliases =
        frontend::AliasTable::parse({"x = Vi(" + d + ")", "y = Vj(" + d + ")", "b = Vj(1)",
                                     "v = Vj(" + std::to_string(e) + ")", "p = Pm(1)"});
    spec.formula = frontend::parse_formula(formula, aliases, ctx, dtype);
    spec.reduction.kind = ir::reduction_by_name(reduction);
    spec.reduction.k = k;
    if (!formula2.empty())
      spec.reduction.formula2 = frontend::parse_formula(formula2, aliases, ctx, dtype);
    spec.dtype = dtype;
    spec.args = {{dim, ir::CatI}, {dim, ir::CatJ}, {1, ir::CatJ}, {e, ir::CatJ}, {1, ir::CatP}};
    spec.gpu_sm = 90;
  }
  GpuSpec(const GpuCase& c, ir::DType dtype)
      : GpuSpec(c.formula, c.reduction, dtype, c.k, c.formula2, c.dim, c.e) {}
};

}  // namespace keops::test
