// GPU run plans (no GPU needed): the 2-D scheme's splits, chunks within a memory budget.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <utility>

#include <keops/error.h>

#include "runtime/cuda/gpu_plan.h"

namespace {

using keops::runtime::cuda::auto_splits;
using keops::runtime::cuda::DenseLaunch;
using keops::runtime::cuda::DenseLaunchShape;
using keops::runtime::cuda::GpuRunPlan;
using keops::runtime::cuda::GpuRunShape;
using keops::runtime::cuda::plan_dense_launch;
using keops::runtime::cuda::plan_gpu_run;

constexpr int64_t kGiB = int64_t(1) << 30;

// Gaussian sum, float32, every array on the host: x = Vi(3), y = Vj(3), b = Vj(1), p = Pm(1).
GpuRunShape gauss(int64_t nx, int64_t ny) {
  GpuRunShape s;
  s.out_rows = nx;
  s.n_reduced = ny;
  s.block_threads = 256;
  s.multiprocessors = 132;
  s.fixed = 4 * 8 + 4;
  s.outer_row = 3 * 4 + 4;  // x and the output
  s.inner_row = 4 * 4;      // y and b
  s.state_row = 8;
  return s;
}

// What a plan takes at most: the same formula as plan_gpu_run's, from its fields.
int64_t held(const GpuRunShape& s, const GpuRunPlan& p) {
  return s.fixed + p.reduced * s.inner_row + p.rows * (s.outer_row + p.slot_stride * s.state_row);
}

}  // namespace

TEST_CASE("the 2-D scheme is chosen when the output rows leave the GPU idle") {
  // 1000 rows are 4 blocks of 256: splits give the 132 SMs about 4 blocks each.
  CHECK(auto_splits(1000, 10'000'000, 256, 132) == 132);
  CHECK(auto_splits(100, 10'000'000, 256, 132) == 528);
  // Enough row blocks already (2 per SM), or a reduced axis too short to split.
  CHECK(auto_splits(1'000'000, 10'000'000, 256, 132) == 1);
  CHECK(auto_splits(264 * 256, 10'000'000, 256, 132) == 1);
  CHECK(auto_splits(1000, 1000, 256, 132) == 1);
  // Splits of 4096 reduced rows at least.
  CHECK(auto_splits(1000, 40'960, 256, 132) == 10);
  CHECK(auto_splits(1, int64_t(1) << 40, 256, 132) == 528);
  // The column groups of a long output are blocks too.
  CHECK(auto_splits(1000, 10'000'000, 256, 132, 32) == 5);
  CHECK(auto_splits(10'000, 10'000'000, 256, 132, 32) == 1);
}

TEST_CASE("a run that fits is one chunk: the 1-D kernel, or the 2-D one with its states") {
  GpuRunPlan p = plan_gpu_run(gauss(1'000'000, 1'000'000), 70 * kGiB, "test");
  CHECK(p.rows == 1'000'000);
  CHECK(p.reduced == 1'000'000);
  CHECK(p.splits == 1);
  CHECK_FALSE(p.partial);
  CHECK(p.slot_stride == 0);
  CHECK(p.device_bytes == held(gauss(1'000'000, 1'000'000), p));

  p = plan_gpu_run(gauss(1000, 10'000'000), 70 * kGiB, "test");
  CHECK(p.rows == 1000);
  CHECK(p.reduced == 10'000'000);
  CHECK(p.splits == 132);
  CHECK(p.partial);
  CHECK(p.slot_stride == 132);

  // Forced: the 1-D scheme, or 3 splits.
  GpuRunShape s = gauss(1000, 10'000'000);
  s.splits = 1;
  CHECK_FALSE(plan_gpu_run(s, 70 * kGiB, "test").partial);
  s.splits = 3;
  p = plan_gpu_run(s, 70 * kGiB, "test");
  CHECK(p.splits == 3);
  CHECK(p.slot_stride == 3);
  // Block-sparse runs are never split.
  s = gauss(1000, 10'000'000);
  s.sparse = true;
  CHECK(plan_gpu_run(s, 70 * kGiB, "test").splits == 1);
  // A run whose result is its states (several GPUs splitting the reduced axis) keeps them
  // in a slot even with one split.
  s = gauss(1'000'000, 1'000'000);
  s.keep_states = true;
  p = plan_gpu_run(s, 70 * kGiB, "test");
  CHECK(p.splits == 1);
  CHECK(p.partial);
  CHECK(p.slot_stride == 1);
  CHECK(p.device_bytes == held(s, p));
}

TEST_CASE("output rows in slices when the host arrays do not fit, the reduced arrays whole") {
  const GpuRunShape s = gauss(1'000'000, 1'000'000);
  const int64_t budget = 16'000'000 + 100 + 5000 * 16;  // y and b, and some 5000 rows
  const GpuRunPlan p = plan_gpu_run(s, budget, "test");
  CHECK(p.reduced == 1'000'000);
  CHECK(p.rows == 4864);  // a multiple of the block
  CHECK(p.rows % 256 == 0);
  CHECK_FALSE(p.partial);  // 4864 rows are 19 blocks, but the reduced axis is split
  CHECK(held(s, p) <= budget);
  CHECK(p.device_bytes == held(s, p));
}

TEST_CASE("both axes in slices when the reduced arrays do not fit") {
  for (int64_t budget : {int64_t(300'000), int64_t(20'000), int64_t(200)}) {
    for (int64_t splits : {int64_t(0), int64_t(1), int64_t(4)}) {
      CAPTURE(budget);
      CAPTURE(splits);
      GpuRunShape s = gauss(100'000, 1'000'000);
      s.splits = splits;
      const GpuRunPlan p = plan_gpu_run(s, budget, "test");
      CHECK(p.reduced >= 1);
      CHECK(p.reduced < 1'000'000);
      CHECK(p.rows >= 1);
      CHECK(p.partial);
      // One slot more than the splits: slot 0 carries the reduced chunks before.
      CHECK(p.slot_stride == p.splits + 1);
      if (splits > 0) CHECK(p.splits == splits);
      CHECK(held(s, p) <= budget);
    }
  }
}

TEST_CASE("a budget too small for one output row is an error that says so") {
  GpuRunShape s = gauss(1000, 1000);
  // One row, one reduced row: 36 + 16 + 16 + 2 * 8 bytes.
  CHECK_NOTHROW(plan_gpu_run(s, 84, "test"));
  try {
    plan_gpu_run(s, 83, "Options::gpu_memory_limit");
    FAIL("no error");
  } catch (const keops::Error& e) {
    CHECK(std::string(e.what()) ==
          "running on the GPU: Options::gpu_memory_limit (83 B) cannot hold even one output row "
          "of this reduction with one reduced row (84 B)");
  }
  // Block-sparse reductions keep their reduced arrays whole.
  s.sparse = true;
  try {
    plan_gpu_run(s, 10'000, "Options::gpu_memory_limit");
    FAIL("no error");
  } catch (const keops::Error& e) {
    CHECK(std::string(e.what()) ==
          "running on the GPU: Options::gpu_memory_limit (9.77 KiB) cannot hold even one output "
          "row of this reduction with its reduced arrays (15.68 KiB; a block-sparse reduction "
          "keeps them whole)");
  }
  s.sparse = false;
  CHECK_THROWS_AS(plan_gpu_run(s, -5, "the free memory of GPU 0 less a margin"), keops::Error);
}

TEST_CASE("arrays in device memory take no budget") {
  GpuRunShape s = gauss(1'000'000, 1'000'000);
  s.outer_row = 0;
  s.inner_row = 0;
  const GpuRunPlan p = plan_gpu_run(s, 1000, "test");
  CHECK(p.rows == 1'000'000);
  CHECK(p.reduced == 1'000'000);
  CHECK_FALSE(p.partial);
}

TEST_CASE("dense launches: blocks spread evenly over the multiprocessors") {
  auto plan = [](int64_t rows, bool four_rows_pay, int groups = 1, int max_threads = 1024) {
    const DenseLaunch d = plan_dense_launch({.rows = rows,
                                             .multiprocessors = 132,
                                             .column_groups = groups,
                                             .max_block_threads = max_threads,
                                             .four_rows_pay = four_rows_pay});
    return std::pair{d.rows_per_thread, d.block_threads};
  };
  // gauss_sum_D3 at 1e6 on an H100: 391 blocks of 640 x 4 rows, 2.96 per SM (the fastest).
  CHECK(plan(1'000'000, true) == std::pair{4, 640});
  // One row per thread where four do not pay, or leave fewer than 2 blocks per SM.
  CHECK(plan(1'000'000, false).first == 1);
  CHECK(plan(200'000, true).first == 1);
  // 1e5 rows: 256 threads give 391 blocks, 2.96 per SM; larger blocks, fewer than 2 per SM.
  CHECK(plan(100'000, true) == std::pair{1, 256});
  // 5e5 rows: 768 threads give 652 blocks, 4.94 per SM (256: 1954 blocks, 14.8 per SM).
  CHECK(plan(500'000, false) == std::pair{1, 768});
  // Sizes are multiples of 128 threads (4 warps), within the most the tile allows...
  for (int64_t rows : {1, 1000, 77'777, 1'000'000, 123'456'789})
    for (int max_threads : {256, 512, 1024}) {
      const auto [per_thread, threads] = plan(rows, true, 1, max_threads);
      CHECK(threads % 128 == 0);
      CHECK(threads >= 256);
      CHECK(threads <= max_threads);
      CHECK((per_thread == 1 || per_thread == 4));
    }
  // ... and that most when it is below 256 (a wide tile).
  CHECK(plan(1'000'000, false, 1, 64) == std::pair{1, 64});
  // Column groups multiply the blocks: 1000 rows x 32 groups.
  CHECK(plan(1000, false, 32).first == 1);
}

TEST_CASE("dense launches: block sizes that keep the SMs' threads resident") {
  // An H100 SM holds 2048 threads, 32 blocks and 65536 registers, given to warps in
  // multiples of 256: a kernel of 55 registers (knn_D3) holds four blocks of 256 threads,
  // three of 384, two of 512, but one of 640 or 768.
  auto resident = [](int registers) {
    return [registers](int threads) -> int64_t {
      const int64_t warps = (threads + 31) / 32;
      const int64_t per_warp = (registers * 32 + 255) / 256 * 256;
      const int64_t blocks =
          std::min({int64_t(65536) / (per_warp * warps), int64_t(2048) / threads, int64_t(32)});
      return blocks * threads;
    };
  };
  auto threads_for = [&](int64_t rows, int registers, int rows_per_thread) {
    return plan_dense_launch({.rows = rows,
                              .multiprocessors = 132,
                              .four_rows_pay = rows_per_thread > 1,
                              .rows_per_thread = rows_per_thread},
                             resident(registers))
        .block_threads;
  };
  // knn_D3 at 1e6: 512 (444 ms on an H100), not 768 (488 ms), whose E is no better.
  CHECK(threads_for(1'000'000, 55, 1) == 512);
  // gauss_sum_D3 (32 registers): every size from 256 to 1024 but 768 holds 1792 threads
  // or more; 640 spreads the blocks best.
  CHECK(threads_for(1'000'000, 32, 1) == 640);
  // Four rows per thread (54 registers): 384 holds 1152 threads, 640 only 640, which is
  // enough with four rows (half the most); 640 spreads the blocks best.
  CHECK(threads_for(1'000'000, 54, 4) == 640);
  // Long pair bodies (128 registers: 512 threads resident in two blocks of 256 or one of 512,
  // 384 in one of 384) keep 384, 75% of the most, which spreads 1e5 rows best (knn_D64 on an
  // H100: 675 ms, 741 with 256); short ones keep 85% and take 256.
  auto long_bodies = [](bool wide_tiles_pay) {
    return DenseLaunchShape{.rows = 100'000,
                            .multiprocessors = 132,
                            .max_block_threads = 512,
                            .wide_tiles_pay = wide_tiles_pay,
                            .rows_per_thread = 1};
  };
  CHECK(plan_dense_launch(long_bodies(true), resident(128)).block_threads == 384);
  CHECK(plan_dense_launch(long_bodies(false), resident(128)).block_threads == 256);
  // The rows per thread stay as given.
  const DenseLaunchShape four{.rows = 1'000'000, .multiprocessors = 132, .rows_per_thread = 4};
  CHECK(plan_dense_launch(four, resident(54)).rows_per_thread == 4);
  // Without a size that fits (0 resident threads everywhere), the sizes are all kept: 768
  // spreads 1e6 rows best (1303 blocks, 9.9 per SM).
  CHECK(plan_dense_launch({.rows = 1'000'000, .multiprocessors = 132}, [](int) {
          return int64_t(0);
        }).block_threads == 768);
}

TEST_CASE(
    "tail splits: the last, partly filled wave of a dense launch cut across the reduced axis") {
  using keops::runtime::cuda::plan_tail_split;
  // gauss_sum_D3 at 1e6 on an H100: 391 blocks of 2560 rows, one per SM at a time, the
  // third wave 127 blocks: 27 splits of them take 26/27 of a wave (the fewest within 0.2% of
  // 127/132), 1.2% of the launch saved.
  auto tail = plan_tail_split(391, 132, 1'000'000);
  CHECK(tail.whole_blocks == 264);
  CHECK(tail.splits == 27);
  // One block past a wave: as many splits as bring it near 1/132 of a wave.
  tail = plan_tail_split(133, 132, 1'000'000);
  CHECK(tail.whole_blocks == 132);
  CHECK(tail.splits >= 50);
  CHECK(tail.splits <= keops::runtime::cuda::kMaxTailSplits);
  // Splits of kMinSplitRows reduced rows at least: 5 of 4096 here.
  tail = plan_tail_split(133, 132, 5 * 4096 + 100);
  CHECK(tail.whole_blocks == 132);
  CHECK(tail.splits == 5);
  // No split: whole waves; less than a wave (the 2-D scheme's); a reduced axis too short
  // to cut in two; a last wave nearly full after many (131 of 132 after 20: the best split
  // saves 0.04%).
  for (const auto& entry : {std::tuple<int64_t, int64_t, int64_t>{396, 132, 1'000'000},
                            {100, 132, 1'000'000},
                            {391, 132, 8191},
                            {20 * 132 + 131, 132, 1'000'000},
                            {391, 0, 1'000'000}}) {
    // (Not structured bindings: CAPTURE's lambda reads them, which Clang 14 refuses.)
    const auto& blocks = std::get<0>(entry);
    const auto& resident = std::get<1>(entry);
    const auto& reduced = std::get<2>(entry);
    CAPTURE(blocks);
    CAPTURE(resident);
    CAPTURE(reduced);
    tail = plan_tail_split(blocks, resident, reduced);
    CHECK(tail.splits == 1);
    CHECK(tail.whole_blocks == blocks);
  }
}
