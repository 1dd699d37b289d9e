// A Genred's arguments as a KernelSpec (see kernel_request.h).
#include "runtime/api/kernel_request.h"

#include "compiler/frontend/parser.h"
#include "compiler/ir/verifier.h"
#include "keops/error.h"

namespace keops::runtime {
codegen::SumScheme codegen_sum_scheme(SumScheme s) {
  switch (s) {
    case SumScheme::Direct:
      return codegen::SumScheme::Direct;
    case SumScheme::Kahan:
      return codegen::SumScheme::Kahan;
    case SumScheme::Auto:
    case SumScheme::Block:
      break;
  }
  return codegen::SumScheme::Block;
}

OwnedKernelSpec make_kernel_spec(const KernelRequest& request, ir::DType dtype,
                                 const codegen::CpuTarget& target) {
  if (request.axis != 0 && request.axis != 1)
    throw Error("axis must be 0 (reduce over i) or 1 (reduce over j), not " +
                std::to_string(request.axis));
  OwnedKernelSpec owned;
  owned.context = std::make_shared<ir::Context>();
  codegen::KernelSpec& spec = owned.spec;
  spec.reduction.kind = ir::reduction_by_name(request.reduction);
  spec.reduction.k = request.options.k;
  const auto table = frontend::AliasTable::parse(request.aliases);
  spec.formula = frontend::parse_formula(request.formula, table, *owned.context, dtype);
  std::vector<ir::Expr> roots{spec.formula};
  if (!request.options.formula2.empty()) {
    spec.reduction.formula2 =
        frontend::parse_formula(request.options.formula2, table, *owned.context, dtype);
    roots.push_back(spec.reduction.formula2);
  }
  // Collected first: a position used with two shapes is the user's error, named there.
  owned.args = frontend::collect_arguments(table, roots);
  for (ir::Expr root : roots) ir::verify(root);
  spec.reduction.check(spec.formula->dim);
  spec.axis = request.axis;
  spec.dtype = dtype;
  for (const frontend::ArgInfo& a : owned.args) spec.args.push_back({a.dim, a.cat});
  spec.target = target;
  spec.sum_scheme = codegen_sum_scheme(request.options.sum_scheme);
  spec.float64_accumulator = request.options.float64_accumulator;
  return owned;
}

}  // namespace keops::runtime
