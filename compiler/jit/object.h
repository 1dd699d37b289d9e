// Ahead-of-time objects for keopsc: a kernel and its C entry in one self-contained ELF object.
#pragma once

#include <string>

#include "compiler/codegen/kernel_spec.h"

namespace keops::jit {

// The relocatable object (PIC, for spec.target) defining `symbol`, API.md's keopsc C ABI
// for spec (see aot_entry.h); it needs only the OpenMP runtime besides itself.
std::string compile_aot_object(const codegen::KernelSpec& spec, const std::string& symbol);

}  // namespace keops::jit
