// How a GPU reduction runs: the 2-D scheme's splits, and chunks that fit the device memory.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace keops::runtime::cuda {

// Splits of the reduced axis for `rows` output rows (the 2-D scheme): 1 (the 1-D scheme)
// when the blocks of rows (times the column groups of a long output) alone give every
// multiprocessor two blocks or the reduced axis is short, else enough splits, each of
// kMinSplitRows reduced rows at least, to give every multiprocessor about
// kBlocksPerMultiprocessor blocks.
inline constexpr int64_t kMinSplitRows = 4096;
inline constexpr int64_t kBlocksPerMultiprocessor = 4;
int64_t auto_splits(int64_t rows, int64_t n_reduced, int block_threads, int multiprocessors,
                    int column_groups = 1);

// How a dense 1-D launch covers its output rows: a thread takes rows_per_thread rows, a
// block block_threads threads.
struct DenseLaunch {
  int rows_per_thread = 1;
  int block_threads = 256;
};

// Threads of a kernel that one SM holds at once in blocks of `block_threads` (what the
// driver's occupancy calculator says for its registers and shared memory).
using ResidentThreads = std::function<int64_t(int block_threads)>;

// What a dense launch is planned from: the output rows (times column_groups blocks per block
// of rows), the device's multiprocessors, the most threads the kernel's tile allows, whether
// four rows per thread may pay (lower::several_rows_per_thread_pay) and wide tiles pay
// (GpuLayout::wide_tiles_pay), and the rows per thread the kernel is compiled for (0: free).
struct DenseLaunchShape {
  int64_t rows = 0;
  int multiprocessors = 1;
  int column_groups = 1;
  int max_block_threads = 1024;
  bool four_rows_pay = false;
  bool wide_tiles_pay = false;
  int rows_per_thread = 0;
};

// The dense launch predicted fastest for the shape, block_threads a multiple of 128 in
// [256, max_block_threads] (only max_block_threads when it is below 256):
// - with resident_threads, only sizes that keep 85% of the most resident threads (a kernel
//   of many registers may hold one large block where it holds several small ones), 50%
//   with rows_per_thread > 1, 70% where wide tiles pay (GpuLayout::wide_tiles_pay: long
//   pair bodies gain more from larger tiles than from more warps);
// - each SM's time follows the blocks it runs, ceil(blocks / multiprocessors): the launch
//   minimizes that against the ideal share, times a per-block overhead of
//   1 + 7.5 / block_threads, times 0.926 for four rows per thread (allowed by
//   four_rows_pay), sizes other than the first only with 2 blocks per SM at least unless
//   wide tiles pay;
// - rows_per_thread > 0 fixes the rows per thread (the kernel is compiled for it).
// Block sizes stay multiples of 4 warps, one per scheduler of an SM: others leave schedulers
// unevenly loaded. (Fitted on an H100 to gauss_sum_D3 from 1e5 to 1e6 rows, block sizes 128
// to 1024 and 1, 2, 4 or 8 rows per thread: 2 gained nothing, 8 no more than 4; and to
// knn_D3, see gpu_plan.cpp.)
DenseLaunch plan_dense_launch(const DenseLaunchShape& shape,
                              const ResidentThreads& resident_threads = nullptr);

// A dense launch's tail split: its blocks of rows run `resident` at a time on the device,
// so that a last wave of `tail` blocks (blocks % resident) leaves resident - tail of them
// idle. The blocks from whole_blocks = blocks - tail on then run as `splits` launches of the
// same kernel, each over a slice of the reduced axis (kMinSplitRows reduced rows at least,
// kMaxTailSplits slices at most), on streams of their own beside the whole blocks' launch,
// and their outputs are summed (sums only): the last wave takes
// ceil(tail * splits / resident) / splits of a whole one. splits = 1 (no split) where that
// saves less than kMinTailGain of the launch, and for launches of less than a wave (those
// take the 2-D scheme, auto_splits).
inline constexpr int64_t kMaxTailSplits = 64;
inline constexpr double kMinTailGain = 0.01;
struct TailSplit {
  int64_t whole_blocks = 0;
  int64_t splits = 1;
};
TailSplit plan_tail_split(int64_t blocks, int64_t resident, int64_t n_reduced);

// The shape of a reduction and what its arrays take on the device, in bytes.
struct GpuRunShape {
  int64_t out_rows = 0;
  int64_t n_reduced = 0;
  int block_threads = 256;
  int multiprocessors = 1;
  int column_groups = 1;     // blocks per block of rows (GpuLayout::column_groups)
  bool sparse = false;       // block-sparse: no splits, the reduced axis whole
  int64_t splits = 0;        // 0: auto_splits; > 0: forced (1: the 1-D scheme)
  int64_t fixed = 0;         // whatever the run uploads whole (parameters, tables, ranges)
  int64_t outer_row = 0;     // host arrays of the output category and host outputs, per row
  int64_t inner_row = 0;     // host arrays of the reduced category, per reduced row
  int64_t state_row = 0;     // one row's partial state in one slot (GpuLayout::state_bytes)
  bool keep_states = false;  // the states are the result: a partial kernel even at 1 split
};

// Output rows [r0, r0 + rows) run in turn, and within each, reduced rows [j0, j0 + reduced)
// in turn. With a partial kernel (splits > 1, or the reduced axis cut), each launch writes
// `splits` slots of a state buffer of slot_stride slots per row: slots [0, splits) for
// the first reduced chunk, [1, splits + 1) for the next ones, slot 0 holding the merged
// total of the chunks before (gpu_reduce.cpp).
struct GpuRunPlan {
  int64_t rows = 0;
  int64_t reduced = 0;
  int64_t splits = 1;
  bool partial = false;
  int64_t slot_stride = 0;
  int64_t device_bytes = 0;  // the most the run holds on the device at once
};

// The plan for `shape` within `budget` bytes: everything at once when it fits, else output
// rows in slices (the reduced arrays whole), else both axes sliced. keops::Error when the
// budget cannot hold one output row and one reduced row; `budget_source` says in that
// message where the budget comes from.
GpuRunPlan plan_gpu_run(const GpuRunShape& shape, int64_t budget, const std::string& budget_source);

}  // namespace keops::runtime::cuda
