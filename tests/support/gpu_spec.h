// GpuSpec: a GPU KernelSpec (sm_90) parsed from a formula and its aliases, for GPU tests.
#pragma once

#include <string>
#include <vector>

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

// A GPU spec for sm_90 (set spec.gpu().sm for another).
struct GpuSpec {
  ir::Context ctx;
  codegen::KernelSpec spec;
  // Over `aliases`: each argument's dim and category as its alias says; reduced over j
  // (axis 1) or i (axis 0).
  GpuSpec(const std::vector<std::string>& aliases, const std::string& formula,
          const std::string& reduction, ir::DType dtype, int k = 0,
          const std::string& formula2 = "", int axis = 1) {
    const auto table = frontend::AliasTable::parse(aliases);
    spec.formula = frontend::parse_formula(formula, table, ctx, dtype);
    spec.reduction.kind = ir::reduction_by_name(reduction);
    spec.reduction.k = k;
    if (!formula2.empty())
      spec.reduction.formula2 = frontend::parse_formula(formula2, table, ctx, dtype);
    spec.axis = axis;
    spec.dtype = dtype;
    for (const auto& a : frontend::collect_arguments(table, {spec.formula}))
      spec.args.push_back({a.dim, a.cat});
    spec.target = codegen::GpuTarget{90};
  }
  // x = Vi(dim), y = Vj(dim), b = Vj(1), v = Vj(e), p = Pm(1), reduced over j.
  GpuSpec(const std::string& formula, const std::string& reduction, ir::DType dtype, int k = 0,
          const std::string& formula2 = "", int dim = 3, int e = 1)
      : GpuSpec({"x = Vi(" + std::to_string(dim) + ")", "y = Vj(" + std::to_string(dim) + ")",
                 "b = Vj(1)", "v = Vj(" + std::to_string(e) + ")", "p = Pm(1)"},
                formula, reduction, dtype, k, formula2) {}
  GpuSpec(const GpuCase& c, ir::DType dtype)
      : GpuSpec(c.formula, c.reduction, dtype, c.k, c.formula2, c.dim, c.e) {}
};

}  // namespace keops::test
