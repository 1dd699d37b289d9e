// The process-wide CPU kernel cache: specs to loaded kernels, keyed by content.
#pragma once

#include <cstddef>
#include <string>

#include "compiler/codegen/kernel_spec.h"
#include "compiler/jit/cpu_compile.h"

namespace keops::runtime {

// The kernel of spec, made once per process per spec.key(): from the process's disk cache
// (runtime/cache/disk_cache.h) when it holds the kernel's object, else compiled to an
// object, stored there and loaded.
jit::CpuKernel cpu_kernel_for(const codegen::KernelSpec& spec);

// Kernels made (loaded from disk or compiled) by cpu_kernel_for so far.
size_t cpu_kernel_compiles();

// The disk cache's kind and key of spec's kernel object: spec.key() and the build id of
// the compiler (runtime/cache/build_id.h).
inline constexpr const char* kCpuObjectKind = "cpu-object";
std::string cpu_object_cache_key(const codegen::KernelSpec& spec);

}  // namespace keops::runtime
