// Ahead-of-time objects for keopsc: a kernel and its C entry in one self-contained ELF object.
#pragma once

#include <string>

#include "compiler/codegen/kernel_spec.h"

namespace keops::jit {

// The relocatable object (PIC, for spec's CPU target, x86-64 for a GPU spec) defining `symbol`,
// API.md's keopsc C ABI for spec. A CPU spec's object holds the kernel and needs only the OpenMP
// runtime besides itself (see aot_entry.h); a GPU spec's holds the kernel's PTX and an entry that
// runs it through libkeops's keops_aot_gpu_launch (see aot_gpu_entry.h).
std::string compile_aot_object(const codegen::KernelSpec& spec, const std::string& symbol);

// The spec of the kernel that spec's object holds: a CPU object's computes on float32 arrays
// where spec's are 16-bit (its entry widens them once), a GPU object's is spec's.
codegen::KernelSpec aot_kernel_spec(const codegen::KernelSpec& spec);

}  // namespace keops::jit
