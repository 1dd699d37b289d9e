// A GPU reduction's launch, planned without the GPU: its kernel variant, slices, block size and
// tail split, from the shapes, the kernel's layout and what the compiled kernel allows.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "compiler/lower/kernel_plan.h"
#include "runtime/cpu/block_sparse.h"
#include "runtime/cuda/gpu_plan.h"

namespace keops::runtime::cuda {

// Threads per block of the 2-D scheme's partial kernels where wide tiles pay (H100, 1e4 x 1e6:
// knn_D64 88.6 -> 76.7 ms, gauss_D64_E16 93.6 -> 82.3 with 384 instead of 256; attention_D64
// at 2e4: 8.2 -> 7.0 ms with 256 or 384 instead of 192). Their splits are planned for the
// layout's blocks.
inline constexpr int kWidePartialThreads = 384;

// Launch choices that tests force (0: the planner chooses).
struct GpuLaunchKnobs {
  // Splits of the reduced axis across blocks (the 2-D scheme, gpu_plan.h): 1 forces the 1-D
  // scheme, more forces that many.
  int64_t splits = 0;
  // The dense 1-D launch (gpu_plan.h); block_threads, a multiple of 32, is cut to what the
  // kernel's registers allow.
  int rows_per_thread = 0;
  int block_threads = 0;
  // The tail split of a dense sum (gpu_plan.h): 1 never splits, more forces that many slices
  // of the blocks after the last whole wave; tail_resident > 0 takes that many blocks for a
  // wave instead of what the device holds at once.
  int64_t tail_splits = 0;
  int64_t tail_resident = 0;
};

// What the planner knows of a run before its kernel is compiled.
struct GpuRunRequest {
  GpuRunShape shape;        // the arrays' bytes on the device (gpu_plan.h)
  lower::GpuLayout layout;  // of the spec's dense kernel
  const SparseAxis* sparse = nullptr;
  int64_t budget = 0;             // device bytes the run may take
  std::string budget_source;      // where the budget comes from, for messages
  bool several_rows_pay = false;  // lower::several_rows_per_thread_pay
  // A dense sum whose tail may split (gpu_plan.h): not Kahan sums, float64 accumulators nor
  // 16-bit outputs, whose slices would be rounded to T and summed without compensation.
  bool sum_may_split = false;
  int64_t value_cols = 0;
  int element_bytes = 4;
  int64_t arg_count = 0;
  GpuLaunchKnobs knobs{};
};

// The kernel variant and the slices of the arrays: decided before the kernel is compiled.
struct GpuVariant {
  GpuRunPlan slices;
  SparsePlan items;  // block-sparse: the work items, one block each
  bool sparse = false;
  DenseLaunch dense{1, 256};  // rows_per_thread: what the kernel is compiled for
};
GpuVariant plan_variant(const GpuRunRequest& request);

// What the compiled kernel allows, from the driver.
struct KernelLimits {
  int register_limited_threads = 1024;  // the most threads per block its registers allow
  // The most threads whose tiles (of the given bytes per thread) fit the shared memory a
  // block may opt into.
  std::function<int(int64_t shared_bytes_per_thread)> opt_in_threads;
  // A dense launch's block size over the given output rows (dense_block_threads).
  std::function<int(int64_t rows)> dense_threads;
  // Blocks of the given threads (with their tiles) one multiprocessor holds at once.
  std::function<int64_t(int threads)> resident_blocks;
};

// The launch: block size, and how a dense sum's tail splits.
struct GpuLaunch {
  int block_threads = 256;
  int64_t rows_per_block = 256;  // block_threads * rows_per_thread
  int64_t resident = 0;          // blocks the device holds at once; 0: no tail split
  int64_t most_splits = 1;       // the most slices a tail splits into (buffers hold them)
  int64_t slice_values = 0;      // the T values of the slices' outputs, at most
  TailSplit tail_split(const GpuRunRequest& request, const GpuVariant& variant, int64_t rows) const;
};
GpuLaunch plan_launch(const GpuRunRequest& request, const GpuVariant& variant,
                      const KernelLimits& limits);

}  // namespace keops::runtime::cuda
