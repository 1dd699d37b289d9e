// A Genred's arguments as a KernelSpec: what keopsc compiles (Genred may build its specs so).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/frontend/aliases.h"
#include "compiler/ir/context.h"
#include "keops/options.h"

namespace keops::runtime {

// The arguments of the Genred constructor.
struct KernelRequest {
  std::string formula;
  std::vector<std::string> aliases;
  std::string reduction = "Sum";
  int axis = 0;
  Options options;
};

// A spec with the context that owns its IR and the arguments it reads, by position.
struct OwnedKernelSpec {
  std::shared_ptr<ir::Context> context;
  codegen::KernelSpec spec;
  std::vector<frontend::ArgInfo> args;
};

// The kernel's sum scheme for Options::sum_scheme (Auto: Block).
codegen::SumScheme codegen_sum_scheme(SumScheme s);

// The GPU target of sm_<sm> with the Options' fast math, matrix units and their precision.
codegen::GpuTarget gpu_target(int sm, const Options& o);

// The spec Genred runs for `request` with arrays of `dtype` on `target`, checked as the
// Genred constructor checks it (keops::Error for a bad formula, alias, reduction, axis or
// option). Options::backend, device, threads, nx and ny do not change the kernel.
// A GPU target's fast math, matrix units and precision are the request's Options'.
OwnedKernelSpec make_kernel_spec(const KernelRequest& request, ir::DType dtype,
                                 const codegen::KernelTarget& target);

}  // namespace keops::runtime
