// GPU kernel plans, lowered once per process per kernel (ARCHITECTURE.md rule 8's memory layer).
#pragma once

#include <memory>
#include <string>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/lower/kernel_plan.h"

namespace keops::runtime::cuda {

// The plan of spec, whose key() is `key`: lowered on the first request, then kept until exit.
std::shared_ptr<const lower::KernelPlan> cached_plan(const codegen::KernelSpec& spec,
                                                     const std::string& key);
inline std::shared_ptr<const lower::KernelPlan> cached_plan(const codegen::KernelSpec& spec) {
  return cached_plan(spec, spec.key());
}

}  // namespace keops::runtime::cuda
