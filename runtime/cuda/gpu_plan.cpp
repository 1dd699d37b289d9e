// The 2-D scheme's splits and the chunking of GPU reductions (see gpu_plan.h).
#include "runtime/cuda/gpu_plan.h"

#include <algorithm>
#include <vector>

#include "keops/error.h"
#include "runtime/cuda/memory.h"

namespace keops::runtime::cuda {
namespace {

// grid.y's limit, and grid.x's.
constexpr int64_t kMaxSplits = 65535;
constexpr int64_t kMaxRowBlocks = 2147483647;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

int64_t auto_splits(int64_t rows, int64_t n_reduced, int block_threads, int multiprocessors,
                    int column_groups) {
  const int64_t blocks = std::max<int64_t>(1, ceil_div(rows, block_threads)) * column_groups;
  if (blocks >= 2 * int64_t(multiprocessors)) return 1;
  const int64_t wanted = ceil_div(kBlocksPerMultiprocessor * multiprocessors, blocks);
  return std::clamp(std::min(wanted, n_reduced / kMinSplitRows), int64_t(1), kMaxSplits);
}

DenseLaunch plan_dense_launch(const DenseLaunchShape& shape,
                              const ResidentThreads& resident_threads) {
  const int64_t rows = shape.rows;
  const int column_groups = shape.column_groups, rows_per_thread = shape.rows_per_thread;
  const bool wide_tiles_pay = shape.wide_tiles_pay;
  // gauss_sum_D3 at 1e6 rows on an H100 (ms): one row per thread, E = 1.01 for every size,
  // 385 (128 threads), 377 (256), 373 (384), 369 (512), 367 (640, 768); four rows per thread,
  // 353 (128, E = 1.01), 373 (256, E = 1.08), 350 (384, E = 1.01), 364 (512, E = 1.08),
  // 340 (640, E = 1.01), 403 (768, E = 1.21); 192, 320 and 480 threads: 398, 408, 364.
  // knn_D3 (55 registers) at 1e6: 448 ms with 256 threads, 444 with 512, 488 with 768
  // (one block of 24 warps per SM, where 256 threads give four of 8).
  constexpr double kBlockOverhead = 7.5;
  constexpr double kFourRowsGain = 0.926;
  // Resident threads kept: 85% of the most; half with four rows per thread, whose four
  // independent chains hide latency with fewer warps (640 threads, one block of 20 warps per
  // SM, is the 340 ms above, where 384 threads, three blocks, give 350).
  // Where wide tiles pay (long pair bodies: many registers, few warps anyway), 70%: knn_D64 at 1e5
  // x 1e6 ran in 675 ms with 384 threads, one block of 12 warps per SM, and 741 with 256, two of 8
  // (gauss_D64_E16 at 1e5: 76 and 79 ms).
  const double min_resident_share = rows_per_thread > 1 ? 0.5 : wide_tiles_pay ? 0.7 : 0.85;
  const int64_t sms = std::max(shape.multiprocessors, 1);
  std::vector<int> sizes;
  for (int threads = 256; threads <= shape.max_block_threads; threads += 128)
    sizes.push_back(threads);
  if (sizes.empty()) sizes.push_back(std::max(shape.max_block_threads, 1));  // a wide tile
  if (resident_threads) {  // the sizes that keep the most threads resident on an SM
    int64_t most = 0;
    for (int threads : sizes) most = std::max(most, resident_threads(threads));
    std::vector<int> kept;
    for (int threads : sizes)
      if (double(resident_threads(threads)) >= min_resident_share * double(most))
        kept.push_back(threads);
    if (!kept.empty()) sizes = kept;
  }
  DenseLaunch best{rows_per_thread > 0 ? rows_per_thread : 1, sizes.front()};
  double best_cost = 0;
  for (const int per_thread : {1, 4}) {
    if (rows_per_thread > 0 ? per_thread != rows_per_thread
                            : per_thread > 1 && !shape.four_rows_pay)
      continue;
    for (const int threads : sizes) {
      const int64_t block_rows = int64_t(threads) * per_thread;
      const int64_t blocks = ceil_div(rows, block_rows) * column_groups;
      // Other launches than the first keep 2 blocks per SM at least (measured only there),
      // unless wide tiles pay (knn_D64 at 1e5: 261 blocks of 384 threads).
      if (best_cost > 0 && blocks < 2 * sms && !wide_tiles_pay) continue;
      // Each SM's share is ceil(blocks / sms) blocks, the ideal rows / sms.
      const double spread = double(ceil_div(blocks, sms) * sms * block_rows) /
                            double(std::max<int64_t>(rows, 1) * column_groups);
      const double cost =
          spread * (1 + kBlockOverhead / threads) * (per_thread > 1 ? kFourRowsGain : 1.0);
      if (best_cost == 0 || cost < best_cost * 0.999) {
        best = {per_thread, threads};
        best_cost = cost;
      }
    }
  }
  return best;
}

TailSplit plan_tail_split(int64_t blocks, int64_t resident, int64_t n_reduced) {
  const TailSplit none{blocks, 1};
  if (blocks <= 0 || resident <= 0) return none;
  const int64_t waves = blocks / resident, tail = blocks % resident;
  const int64_t most_splits = std::min(kMaxTailSplits, n_reduced / kMinSplitRows);
  if (waves == 0 || tail == 0 || most_splits < 2) return none;
  // The last wave's length with s splits, in whole waves; the fewest splits within 0.2% of a
  // wave of the shortest (fewer launches, and fewer slices to sum).
  auto last_wave = [&](int64_t s) { return double(ceil_div(tail * s, resident)) / double(s); };
  double shortest = 1;
  for (int64_t s = 2; s <= most_splits; ++s) shortest = std::min(shortest, last_wave(s));
  int64_t splits = 2;
  while (last_wave(splits) > shortest + 0.002) ++splits;
  if ((1 - last_wave(splits)) / double(waves + 1) < kMinTailGain) return none;
  return {waves * resident, splits};
}

GpuRunPlan plan_gpu_run(const GpuRunShape& shape, int64_t budget,
                        const std::string& budget_source) {
  const int64_t n = shape.n_reduced, bt = shape.block_threads;
  auto splits_for = [&](int64_t rows, int64_t reduced) -> int64_t {
    if (shape.sparse) return 1;
    if (shape.splits > 0) return std::min(shape.splits, kMaxSplits);
    return auto_splits(rows, reduced, shape.block_threads, shape.multiprocessors,
                       shape.column_groups);
  };
  // State slots per row: none for the 1-D kernel; one more than the splits when the reduced
  // axis is cut (slot 0 carries the chunks before).
  auto slot_stride = [&](int64_t reduced, int64_t splits) -> int64_t {
    const bool cut = reduced < n;
    return splits > 1 || cut || shape.keep_states ? splits + (cut ? 1 : 0) : 0;
  };
  auto per_row = [&](int64_t reduced, int64_t splits) {
    return shape.outer_row + slot_stride(reduced, splits) * shape.state_row;
  };
  auto make = [&](int64_t rows, int64_t reduced, int64_t splits) {
    GpuRunPlan p;
    p.rows = std::max<int64_t>(1, std::min({rows, shape.out_rows, kMaxRowBlocks * bt}));
    p.reduced = reduced;
    p.splits = splits;
    p.slot_stride = slot_stride(reduced, splits);
    p.partial = p.slot_stride > 0;
    p.device_bytes = shape.fixed + reduced * shape.inner_row + p.rows * per_row(reduced, splits);
    return p;
  };
  // Rows that `avail` bytes hold at `bytes_per_row` each: a multiple of the block when
  // more than one block, all of them when nothing is per row.
  auto rows_within = [&](int64_t avail, int64_t bytes_per_row) {
    if (avail < 0) return int64_t(0);
    if (bytes_per_row == 0) return shape.out_rows;
    const int64_t rows = std::min(shape.out_rows, avail / bytes_per_row);
    return rows > bt && rows < shape.out_rows ? rows / bt * bt : rows;
  };

  // Everything at once.
  const int64_t whole_splits = splits_for(shape.out_rows, n);
  const GpuRunPlan whole = make(shape.out_rows, n, whole_splits);
  if (whole.device_bytes <= budget) return whole;

  // Output rows in slices of one block at least, the reduced arrays whole.
  const int64_t avail_rows = budget - shape.fixed - n * shape.inner_row;
  // The 2-D scheme's states take room from the rows: worth it unless they take half.
  const int64_t rows_1d = rows_within(avail_rows, per_row(n, 1));
  int64_t splits = splits_for(rows_1d, n), rows = rows_1d;
  if (splits > 1) {
    const int64_t fewer = rows_within(avail_rows, per_row(n, splits));
    if (shape.splits > 0 || 2 * fewer >= rows_1d)
      rows = fewer;
    else
      splits = 1;
  }
  if (rows >= std::min(shape.out_rows, int64_t(bt))) return make(rows, n, splits);

  const std::string limit =
      budget_source + " (" + format_bytes(size_t(std::max<int64_t>(budget, 0))) + ")";
  // Cutting the reduced axis saves memory only for host arrays of more than one row.
  if (shape.sparse || shape.inner_row == 0 || n <= 1) {
    if (rows >= 1) return make(rows, n, splits);
    throw Error("running on the GPU: " + limit + " cannot hold even one output row of this " +
                "reduction with its reduced arrays (" +
                format_bytes(size_t(shape.fixed + n * shape.inner_row + per_row(n, splits))) +
                (shape.sparse ? "; a block-sparse reduction keeps them whole)" : ")"));
  }
  // Both axes in slices: half the budget to the reduced rows, the rest to output rows.
  const int64_t forced = shape.splits > 0 ? std::min(shape.splits, kMaxSplits) : 1;
  const int64_t least = shape.fixed + shape.inner_row + per_row(1, forced);
  if (budget < least)
    throw Error("running on the GPU: " + limit + " cannot hold even one output row of this " +
                "reduction with one reduced row (" + format_bytes(size_t(least)) + ")");
  const int64_t avail = budget - shape.fixed;
  int64_t reduced = std::clamp(avail / 2 / shape.inner_row, int64_t(1), n - 1);
  int64_t cut_rows = rows_within(avail - reduced * shape.inner_row, per_row(reduced, forced));
  if (cut_rows < 1) {
    reduced = std::clamp((avail - per_row(1, forced)) / shape.inner_row, int64_t(1), n - 1);
    cut_rows = 1;
  }
  int64_t cut_splits = forced;
  if (shape.splits == 0) {  // as above
    const int64_t wanted = splits_for(cut_rows, reduced);
    const int64_t fewer = rows_within(avail - reduced * shape.inner_row, per_row(reduced, wanted));
    if (wanted > 1 && fewer >= 1 && 2 * fewer >= cut_rows) {
      cut_splits = wanted;
      cut_rows = fewer;
    }
  }
  return make(cut_rows, reduced, cut_splits);
}

}  // namespace keops::runtime::cuda
