// GPU launch plans without a GPU: the kernel variant, the block size and the tail split,
// from the shapes, the layout and what a (made-up) compiled kernel allows.
#include <doctest/doctest.h>

#include <vector>

#include "runtime/cuda/gpu_launch_plan.h"

namespace {

using keops::runtime::cuda::GpuLaunch;
using keops::runtime::cuda::GpuRunRequest;
using keops::runtime::cuda::GpuVariant;
using keops::runtime::cuda::KernelLimits;
using keops::runtime::cuda::plan_launch;
using keops::runtime::cuda::plan_variant;

constexpr int64_t kGiB = int64_t(1) << 30;

// A float32 Gaussian sum on 132 multiprocessors, every array on the device.
GpuRunRequest gauss(int64_t nx, int64_t ny) {
  GpuRunRequest r;
  r.layout = {256, 1024, 1, 4, 4, 1, 1, false};
  r.shape.out_rows = nx;
  r.shape.n_reduced = ny;
  r.shape.block_threads = 256;
  r.shape.multiprocessors = 132;
  r.shape.fixed = 3 * 8;
  r.shape.state_row = 8;
  r.budget = 64 * kGiB;
  r.budget_source = "a test's budget";
  r.several_rows_pay = true;
  r.sum_may_split = true;
  r.value_cols = 1;
  r.element_bytes = 4;
  r.arg_count = 3;
  return r;
}

// A kernel whose dense launches take `dense` threads and whose blocks fit `resident` per SM.
KernelLimits limits(int dense = 512, int64_t resident = 4, int registers = 1024) {
  KernelLimits k;
  k.register_limited_threads = registers;
  k.opt_in_threads = [](int64_t bytes) { return int(227 * 1024 / bytes) / 32 * 32; };
  k.dense_threads = [dense](int64_t) { return dense; };
  k.resident_blocks = [resident](int) { return resident; };
  return k;
}

}  // namespace

TEST_CASE("a dense launch: the kernel's block size, several rows per thread where they pay") {
  const GpuRunRequest r = gauss(1000000, 1000000);
  const GpuVariant v = plan_variant(r);
  CHECK_FALSE(v.sparse);
  CHECK_FALSE(v.slices.partial);
  CHECK(v.slices.rows == 1000000);
  CHECK(v.dense.rows_per_thread == 4);
  const GpuLaunch l = plan_launch(r, v, limits(512));
  CHECK(l.block_threads == 512);
  CHECK(l.rows_per_block == 2048);
  // 489 blocks, 528 at once: less than a wave past the first, no tail to split.
  CHECK(l.resident == 4 * 132);
  CHECK(l.most_splits == 1);
}

TEST_CASE("forced rows per thread and block size, cut to what the registers allow") {
  GpuRunRequest r = gauss(100000, 100000);
  r.knobs.rows_per_thread = 2;
  r.knobs.block_threads = 1024;
  const GpuVariant v = plan_variant(r);
  CHECK(v.dense.rows_per_thread == 2);
  const GpuLaunch l = plan_launch(r, v, limits(512, 4, 640));
  CHECK(l.block_threads == 640);
  CHECK(l.rows_per_block == 1280);
}

TEST_CASE("a dense sum's tail splits when its last wave leaves the device idle") {
  GpuRunRequest r = gauss(300000, 1000000);
  r.several_rows_pay = false;
  const GpuVariant v = plan_variant(r);
  const GpuLaunch l = plan_launch(r, v, limits(256, 2));
  // 1172 blocks of 256 rows, 264 at once: a last wave of 116 blocks.
  REQUIRE(l.resident == 264);
  CHECK(l.most_splits > 1);
  const auto tail = l.tail_split(r, v, r.shape.out_rows);
  CHECK(tail.whole_blocks == 1056);
  CHECK(tail.splits == l.most_splits);
  CHECK(l.slice_values == tail.splits * (300000 - 1056 * 256));

  // Not where the slices' outputs would pass the budget, nor for Kahan sums or long outputs.
  GpuRunRequest tight = r;
  tight.budget = v.slices.device_bytes + 1;
  CHECK(plan_launch(tight, plan_variant(tight), limits(256, 2)).most_splits == 1);
  GpuRunRequest kahan = r;
  kahan.sum_may_split = false;
  const GpuLaunch kahan_launch = plan_launch(kahan, plan_variant(kahan), limits(256, 2));
  CHECK(kahan_launch.resident == 0);
  CHECK(kahan_launch.most_splits == 1);
  GpuRunRequest grouped = r;
  grouped.layout.column_groups = 4;
  grouped.shape.column_groups = 4;
  CHECK(plan_launch(grouped, plan_variant(grouped), limits(256, 2)).most_splits == 1);
  // Tests may force a split, and the blocks of a wave.
  GpuRunRequest forced = r;
  forced.knobs.tail_splits = 3;
  forced.knobs.tail_resident = 1000;
  const GpuLaunch forced_launch = plan_launch(forced, plan_variant(forced), limits(256, 2));
  CHECK(forced_launch.resident == 1000);
  CHECK(forced_launch.most_splits == 3);
}

TEST_CASE("the 2-D scheme: partial kernels of the layout's blocks, wider where tiles pay") {
  GpuRunRequest r = gauss(1000, 1000000);  // few rows: splits of the reduced axis
  const GpuVariant v = plan_variant(r);
  CHECK(v.slices.partial);
  CHECK(v.slices.splits > 1);
  CHECK(v.dense.rows_per_thread == 1);
  CHECK(plan_launch(r, v, limits()).block_threads == 256);
  r.layout.wide_tiles_pay = true;
  r.layout.staged_values = 130;  // 520 bytes a thread: 416 threads fit 227 KiB
  CHECK(plan_launch(r, plan_variant(r), limits()).block_threads == 384);
}

TEST_CASE("a block-sparse launch: one block per work item, the items cut to a row slice") {
  const std::vector<keops::RowRange> clusters = {{0, 600}, {600, 1000}};
  const std::vector<int64_t> slices = {1, 2};
  const std::vector<keops::RowRange> reduced = {{0, 500}, {500, 1000}};
  const keops::runtime::SparseAxis axis{clusters, slices, reduced};
  GpuRunRequest r = gauss(1000, 1000);
  r.sparse = &axis;
  r.shape.sparse = true;
  const GpuVariant v = plan_variant(r);
  CHECK(v.sparse);
  CHECK_FALSE(v.slices.partial);
  CHECK(v.items.items.size() == 5);  // 256, 256, 88 rows, then 256, 144
  const GpuLaunch l = plan_launch(r, v, limits());
  CHECK(l.block_threads == 256);
  CHECK(l.most_splits == 1);
}
