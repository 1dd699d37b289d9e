// A reduction kernel's launch on one GPU: its arrays there, the launch, the results back.
#pragma once

#include <cstdint>
#include <vector>

#include "keops/view.h"
#include "runtime/cuda/module_cache.h"

namespace keops::runtime::cuda {

inline CUdeviceptr address_of(const void* p) {
  return static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(p));
}

// True when an array (its data and View::device) is to be used in place on `device`
// (checked to be device memory there: a host pointer marked as device memory would fault
// inside the kernel and poison the context), false when it is in host memory (device -1)
// and must be copied. Throws keops::Error for an array on another GPU.
bool in_device_memory(const void* data, int view_device, int device);

// Runs `kernel` (codegen/nvptx_kernel.h's signature and launch shape: block_threads per
// block, shared_bytes of dynamic shared memory, grid_z blocks along grid.z: the column
// groups of a long output that run at once, 1 otherwise) over out_rows output rows
// reducing n_reduced rows, and waits for it. Arrays with view.device == kernel.device are
// used in place (checked to be device memory there); host arrays (device -1) are copied
// in, and the outputs back out. Throws keops::Error for an array on another GPU and for driver
// failures, out of memory included, with nothing left allocated.
// A block-sparse kernel (codegen/nvptx_kernel.h) runs `blocks` blocks, one per work item,
// and takes the device addresses of its items and ranges after the other parameters.
struct SparseLaunch {
  int64_t blocks;
  CUdeviceptr items;
  CUdeviceptr ranges;
};
template <class T>
void launch_reduction(const KernelFunction& kernel, int block_threads, int64_t shared_bytes,
                      unsigned grid_z, int64_t out_rows, int64_t n_reduced,
                      const std::vector<View<const T>>& args, View<T> values, View<int64_t> indices,
                      const SparseLaunch* sparse = nullptr);

}  // namespace keops::runtime::cuda
