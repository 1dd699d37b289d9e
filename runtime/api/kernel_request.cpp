// A Genred's arguments as a KernelSpec (see kernel_request.h).
#include "runtime/api/kernel_request.h"

#include "compiler/program/reduction_program.h"
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

codegen::GpuTarget gpu_target(int sm, const Options& o) {
  codegen::GpuTarget target{sm, o.gpu_fast_math};
  target.matrix_units = o.tensor_cores == TensorCores::On    ? codegen::MatrixUnits::On
                        : o.tensor_cores == TensorCores::Off ? codegen::MatrixUnits::Off
                                                             : codegen::MatrixUnits::Auto;
  target.matmul_precision = o.matmul_precision == MatmulPrecision::TF32
                                ? codegen::MatmulPrecision::TF32
                                : codegen::MatmulPrecision::Split3;
  return target;
}

OwnedKernelSpec make_kernel_spec(const KernelRequest& request, ir::DType dtype,
                                 const codegen::KernelTarget& target) {
  if (request.axis != 0 && request.axis != 1)
    throw Error("axis must be 0 (reduce over i) or 1 (reduce over j), not " +
                std::to_string(request.axis));
  program::ReductionProgram p =
      program::parse_program(request.formula, request.aliases, request.reduction, request.axis,
                             request.options.k, request.options.formula2);
  OwnedKernelSpec owned;
  owned.context = p.context;
  owned.args = std::move(p.args);
  codegen::KernelSpec& spec = owned.spec;
  spec.formula = p.main.f.of(dtype);
  spec.reduction = p.main.reduction;
  spec.reduction.formula2 = p.main.g.of(dtype);
  spec.reduction.check(spec.formula->dim);
  spec.axis = request.axis;
  spec.dtype = dtype;
  spec.args = p.main.args;
  spec.target = target;
  if (spec.on_gpu()) spec.target = gpu_target(spec.gpu().sm, request.options);
  spec.sum_scheme = codegen_sum_scheme(request.options.sum_scheme);
  spec.float64_accumulator = request.options.float64_accumulator;
  return owned;
}

}  // namespace keops::runtime
