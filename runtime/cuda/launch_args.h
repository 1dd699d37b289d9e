// A reduction kernel's launch on one GPU: its arrays there, the launch, the results back.
#pragma once

#include <cstdint>
#include <vector>

#include "keops/view.h"
#include "runtime/cuda/launch.h"
#include "runtime/cuda/module_cache.h"
#include "runtime/reduction_arrays.h"

namespace keops::runtime::cuda {

inline CUdeviceptr address_of(const void* p) {
  return static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(p));
}

// True when an array (its data and View::device) is to be used in place on `device`
// (checked to be device memory there: a host pointer marked as device memory would fault
// inside the kernel and poison the context), false when it is in host memory (device -1)
// and must be copied. Throws keops::Error for an array on another GPU.
bool in_device_memory(const void* data, int view_device, int device);

// Runs dense `kernel` (codegen/nvptx_kernel.h's signature and launch shape; `config` gives
// the block, the dynamic shared memory and grid.z, the column groups of a long output that
// run at once; grid.x covers the output rows) over `arrays` (dense), and waits for it.
// Arrays with view.device == kernel.device are used in place (checked to be device memory
// there); host arrays (device -1) are copied in, and the outputs back out. Throws
// keops::Error for an array on another GPU and for driver failures, out of memory included,
// with nothing left allocated.
template <class T>
void launch_reduction(const KernelFunction& kernel, LaunchConfig config,
                      const ReductionArrays<T>& arrays);

}  // namespace keops::runtime::cuda
