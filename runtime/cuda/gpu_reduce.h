// The GPU driver of a reduction: device buffers, the cached module, the launch, the copies back.
#pragma once

#include <cstdint>
#include <vector>

#include "compiler/codegen/kernel_spec.h"
#include "keops/view.h"
#include "runtime/cpu/block_sparse.h"

namespace keops::runtime::cuda {

// Runs spec (a GPU spec: spec.gpu_sm set for `device`) over out_rows output rows reducing
// n_reduced rows. Arguments and outputs may be in host memory (view.device == -1: copied
// in and out) or on `device` (used in place). Throws keops::Error for driver failures,
// out of memory included, with nothing left allocated. With `sparse`, each row reduces only
// over its cluster's ranges (rows in no cluster get the identity): spec's block-sparse
// kernel runs one block per work item of block_threads rows at most.
template <class T>
void run_gpu_reduction(const codegen::KernelSpec& spec, int device, int64_t out_rows,
                       int64_t n_reduced, const std::vector<View<const T>>& args, View<T> values,
                       View<int64_t> indices, const SparseAxis* sparse = nullptr);

// The sm_XX number of a device (90 for an H100).
int device_sm(int device);

}  // namespace keops::runtime::cuda
