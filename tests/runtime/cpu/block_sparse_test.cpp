// The block-sparse work plan of the drivers: items that cover each row once, merged ranges.
#include <doctest/doctest.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "runtime/cpu/block_sparse.h"

using keops::RowRange;
using keops::runtime::plan_sparse;
using keops::runtime::SparseAxis;
using keops::runtime::SparseItem;
using keops::runtime::SparsePlan;

namespace {

// Clusters [30, 50) (out of order), [0, 10) and [60, 61); rows 10-29, 50-59, 61-69 in none.
const std::vector<RowRange> kClusters = {{30, 50}, {0, 10}, {60, 61}};
const std::vector<int64_t> kSlices = {5, 6, 6};
// [30, 50)'s ranges unsorted, three touching, an empty one; [0, 10) one; [60, 61) none.
const std::vector<RowRange> kReduced = {{20, 30}, {5, 5}, {0, 10}, {40, 41}, {10, 20}, {0, 10}};

SparsePlan plan(int64_t align, int64_t parts) {
  return plan_sparse(SparseAxis{kClusters, kSlices, kReduced}, 70, align, parts);
}

// The reduced ranges of the item that holds `row`, as pairs.
std::vector<RowRange> ranges_at(const SparsePlan& p, int64_t row) {
  for (const SparseItem& item : p.items)
    if (item.begin <= row && row < item.end) {
      std::vector<RowRange> out;
      for (int64_t r = item.first; r < item.last; ++r)
        out.push_back({p.ranges[size_t(2 * r)], p.ranges[size_t(2 * r + 1)]});
      return out;
    }
  FAIL("row " << row << " is in no item");
  return {};
}

}  // namespace

TEST_CASE("plan_sparse: every row in one item, each cluster's ranges sorted and merged") {
  for (const auto& entry : {std::pair<int64_t, int64_t>{8, 0}, {4, 3}, {1, 1}, {16, 64}}) {
    // (Not structured bindings: CAPTURE's lambda reads them, which Clang 14 refuses.)
    const auto& align = std::get<0>(entry);
    const auto& parts = std::get<1>(entry);
    CAPTURE(align);
    CAPTURE(parts);
    const SparsePlan p = plan(align, parts);
    std::vector<int> covered(70);
    for (const SparseItem& item : p.items) {
      CHECK(item.begin < item.end);
      if (parts == 0) CHECK(item.end - item.begin <= align);
      for (int64_t r = item.begin; r < item.end; ++r) ++covered[size_t(r)];
    }
    CHECK(covered == std::vector<int>(70, 1));
    for (int64_t row : {30, 49})
      CHECK(ranges_at(p, row) == std::vector<RowRange>{{0, 30}, {40, 41}});
    CHECK(ranges_at(p, 9) == std::vector<RowRange>{{0, 10}});
    for (int64_t row : {10, 29, 50, 60, 61, 69}) CHECK(ranges_at(p, row).empty());
  }
  // Items of a cluster start at its first row and hold whole multiples of align rows.
  const SparsePlan p = plan(8, 0);
  std::vector<int64_t> begins;
  for (const SparseItem& item : p.items) begins.push_back(item.begin);
  std::sort(begins.begin(), begins.end());
  CHECK(begins == std::vector<int64_t>{0, 8, 10, 18, 26, 30, 38, 46, 50, 58, 60, 61, 69});
}

TEST_CASE("plan_sparse: about `parts` items of equal work, the heaviest first") {
  // One cluster of 1000 rows over 100 indices, one of 1000 rows over 10: the first is cut
  // into more items, and items come heaviest first.
  const std::vector<RowRange> clusters = {{0, 1000}, {1000, 2000}};
  const std::vector<int64_t> slices = {1, 2};
  const std::vector<RowRange> reduced = {{0, 100}, {0, 10}};
  const SparsePlan p = plan_sparse(SparseAxis{clusters, slices, reduced}, 2000, 10, 11);
  int heavy = 0, light = 0;
  double previous = 1e300;
  for (const SparseItem& item : p.items) {
    (item.begin < 1000 ? heavy : light) += 1;
    const double work = double(item.end - item.begin) * (item.begin < 1000 ? 100 : 10);
    CHECK(work <= previous);
    previous = work;
    CHECK((item.end - item.begin) % 10 == 0);
  }
  CHECK(heavy == 10);
  CHECK(light == 1);
}
