// A GPU reduction's launch plan (see gpu_launch_plan.h).
#include "runtime/cuda/gpu_launch_plan.h"

#include <algorithm>

namespace keops::runtime::cuda {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

GpuVariant plan_variant(const GpuRunRequest& request) {
  GpuVariant v;
  GpuRunShape shape = request.shape;
  const lower::GpuLayout& layout = request.layout;
  v.sparse = request.sparse != nullptr;
  if (v.sparse) {
    // One block per item: items of at most block_threads rows, each within one cluster.
    // (Narrower blocks for small clusters measured slower on an H100: more tiles staged.)
    v.items = plan_sparse(*request.sparse, shape.out_rows, layout.block_threads, 0);
    shape.fixed += int64_t(v.items.items.size() * sizeof(SparseItem) +
                           v.items.ranges.size() * sizeof(int64_t));
  }
  v.slices = plan_gpu_run(shape, request.budget, request.budget_source);
  // Row slices narrower than a block cut the items to their width.
  if (v.sparse && v.slices.rows < layout.block_threads)
    v.items = plan_sparse(*request.sparse, shape.out_rows, v.slices.rows, 0);
  v.dense = {1, layout.block_threads};
  if (!v.sparse && !v.slices.partial)
    v.dense = plan_dense_launch({.rows = v.slices.rows,
                                 .multiprocessors = shape.multiprocessors,
                                 .column_groups = layout.column_groups,
                                 .max_block_threads = layout.max_block_threads,
                                 .four_rows_pay = request.several_rows_pay});
  if (request.knobs.rows_per_thread > 0) v.dense.rows_per_thread = request.knobs.rows_per_thread;
  return v;
}

TailSplit GpuLaunch::tail_split(const GpuRunRequest& request, const GpuVariant& variant,
                                int64_t rows) const {
  const int64_t blocks = ceil_div(rows, rows_per_block);
  if (resident > 0 && request.knobs.tail_splits > 1 && blocks % resident > 0)
    return TailSplit{blocks - blocks % resident, request.knobs.tail_splits};
  return plan_tail_split(blocks, resident, variant.slices.reduced);
}

GpuLaunch plan_launch(const GpuRunRequest& request, const GpuVariant& variant,
                      const KernelLimits& limits) {
  const lower::GpuLayout& layout = request.layout;
  const GpuRunPlan& slices = variant.slices;
  const bool dense = !variant.sparse && !slices.partial;
  GpuLaunch launch;
  // The block size, now that the kernel's registers are known.
  launch.block_threads = layout.block_threads;
  if (dense)
    launch.block_threads =
        request.knobs.block_threads > 0
            ? std::min(request.knobs.block_threads, limits.register_limited_threads)
            : limits.dense_threads(slices.rows);
  else if (slices.partial && layout.wide_tiles_pay && layout.shared_bytes(1) > 0)
    launch.block_threads =
        std::max(launch.block_threads,
                 std::min(kWidePartialThreads, limits.opt_in_threads(layout.shared_bytes(1))));
  // A matrix-unit kernel's static shared memory holds the products of that many threads.
  if (layout.matrix_units)
    launch.block_threads = std::min(launch.block_threads, layout.max_block_threads);
  launch.rows_per_block = int64_t(launch.block_threads) * variant.dense.rows_per_thread;

  // Dense sums split their tail (gpu_plan.h) where the slices' outputs fit the budget; not
  // long outputs, whose column groups are blocks of their own. (A split needs a whole wave
  // first: smaller launches skip the occupancy query.)
  const bool tail_may_split =
      dense && layout.column_groups == 1 && request.sum_may_split && request.knobs.tail_splits != 1;
  const int multiprocessors = request.shape.multiprocessors;
  launch.resident = !tail_may_split                   ? 0
                    : request.knobs.tail_resident > 0 ? request.knobs.tail_resident
                    : ceil_div(slices.rows, launch.rows_per_block) <= multiprocessors
                        ? 0
                        : limits.resident_blocks(launch.block_threads) * multiprocessors;
  // Slices of slices.rows output rows, the last one shorter: the buffers hold either's.
  for (const int64_t rows : {slices.rows, request.shape.out_rows % slices.rows})
    if (const TailSplit tail = launch.tail_split(request, variant, rows);
        rows > 0 && tail.splits > 1) {
      launch.most_splits = std::max(launch.most_splits, tail.splits);
      launch.slice_values = std::max(
          launch.slice_values,
          tail.splits * (rows - tail.whole_blocks * launch.rows_per_block) * request.value_cols);
    }
  // (Forced splits, for tests, take what they need.)
  const int64_t split_bytes = launch.slice_values * request.element_bytes +
                              launch.most_splits * request.arg_count * int64_t(sizeof(uint64_t));
  if (slices.device_bytes + split_bytes > request.budget && request.knobs.tail_splits <= 1)
    launch.most_splits = 1;
  return launch;
}

}  // namespace keops::runtime::cuda
