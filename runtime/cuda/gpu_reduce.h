// The GPU driver of a reduction: device buffers, the cached module, the launch, the copies back.
#pragma once

#include <cstdint>
#include <vector>

#include "compiler/codegen/kernel_spec.h"
#include "keops/view.h"
#include "runtime/cpu/block_sparse.h"
#include "runtime/cuda/gpu_launch_plan.h"
#include "runtime/cuda/module_cache.h"
#include "runtime/reduction_arrays.h"

namespace keops::runtime::cuda {

// How one reduction uses the GPU.
struct GpuRunOptions {
  // Device memory the run may take, in bytes (Options::gpu_memory_limit); 0: what the
  // device has free, less a margin. Must be >= 0.
  int64_t memory_limit = 0;
  // When set, the run's result is its partial states, not its outputs (several GPUs that
  // split the reduced axis): slot 0 of every output row, GpuLayout::state_bytes() bytes per
  // row, copied to this host buffer; the states' indices count from index_offset.
  void* states_out = nullptr;
  int64_t index_offset = 0;
  // A caller's stream (Options::stream). When every array is on the device (and there is no
  // states_out), the run is queued on it and returns before its work completes; otherwise
  // the run waits for the stream's earlier work first, then for its own.
  CUstream stream = nullptr;
};

// Runs spec (a GPU spec for `device`'s sm; its scheme and rows per thread are chosen
// here) over `arrays`. Arguments and outputs may be in host memory (view.device == -1:
// copied in and out) or on `device` (used in place). Host arrays that do not fit in the device
// memory the run may take are copied a slice at a time: output rows in slices, and when the reduced
// arrays do not fit either, reduced rows in slices whose partial states are merged. Throws
// keops::Error for driver failures, out of memory included, with nothing left allocated,
// and when that memory cannot hold one output row. Block-sparse arrays (arrays.sparse) run
// spec's block-sparse kernel, one block per work item of block_threads rows at most.
// Tests may force launch choices (`forced`); runs leave them to the planner.
template <class T>
void run_gpu_reduction(const codegen::KernelSpec& spec, int device,
                       const ReductionArrays<T>& arrays, const GpuRunOptions& options = {},
                       const GpuLaunchKnobs& forced = {});

// Merges the partial states of spec's reduction (GpuRunOptions::states_out, one host block
// per slot, slots folded in order) on `device` into the outputs, in host memory or on
// `device`.
template <class T>
void merge_gpu_states(const codegen::KernelSpec& spec, int device, int64_t out_rows,
                      const std::vector<std::vector<char>>& slots, View<T> values,
                      View<int64_t> indices);

// The same merge into the merged states (one slot of them), not the outputs: partial
// reductions (Genred::accumulate) on the GPU.
std::vector<char> merge_gpu_states(const codegen::KernelSpec& spec, int device, int64_t out_rows,
                                   const std::vector<std::vector<char>>& slots);

// The bytes of one output row's partial states (GpuRunOptions::states_out) for spec.
size_t partial_state_bytes(const codegen::KernelSpec& spec);

// The sm_XX number of a device (90 for an H100).
int device_sm(int device);

// The threads per block of a dense launch of `kernel` (compiled for shape.rows_per_thread
// rows per thread) over shape.rows output rows: plan_dense_launch's choice (gpu_plan.h)
// among the sizes up to shape.max_block_threads that the kernel's registers allow, its tile
// taking shared_bytes_per_thread per thread. Where wide tiles pay, up to the shared memory a
// block may opt into. The device's multiprocessors are its own; four rows per thread are
// not considered (the kernel is compiled). Genred and ahead-of-time objects launch a kernel
// alike, so that their sums run over the same tiles.
int dense_block_threads(const KernelFunction& kernel, DenseLaunchShape shape,
                        int64_t shared_bytes_per_thread);

// The most threads per block the kernel's registers allow (a multiple of 32).
int register_limited_threads(const KernelFunction& kernel);

}  // namespace keops::runtime::cuda
