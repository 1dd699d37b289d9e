// The cluster helpers of keops/ranges.h: pykeops's documented examples, and their errors.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <keops/keops.h>
#include <keops/ranges.h>

using keops::Error;
using keops::Ranges;
using keops::RowRange;
using keops::View;

TEST_CASE("grid_cluster: labels by voxel, compact, in the voxels' lexicographic order") {
  const std::vector<float> x = {0.f, .1f, .9f, .05f, .5f};  // pykeops's example
  CHECK(keops::grid_cluster(View<const float>{x.data(), 5, 1}, .2) ==
        std::vector<int64_t>{0, 0, 2, 0, 1});
  // 2-D: the first coordinate orders the voxels, then the second; the grid starts at the
  // lowest coordinates (-1, 10), not at 0.
  const std::vector<double> p = {-1, 10, 0.5, 10.2, -0.9, 11.9, 0.6, 10.1, -1, 11.1};
  CHECK(keops::grid_cluster(View<const double>{p.data(), 5, 2}, 1.0) ==
        std::vector<int64_t>{0, 2, 1, 2, 1});
  CHECK(keops::grid_cluster(View<const double>{nullptr, 0, 3}, 1.0).empty());
}

TEST_CASE("sort_clusters and permute_rows: clusters made contiguous, stably") {
  const std::vector<float> x = {0.f, 5.f, .4f, .3f, 2.f};  // pykeops's example
  const auto s = keops::sort_clusters(View<const float>{x.data(), 5, 1}, {0, 2, 0, 0, 1});
  CHECK(s.points == std::vector<float>{0.f, .4f, .3f, 2.f, 5.f});
  CHECK(s.labels == std::vector<int64_t>{0, 0, 0, 1, 2});
  CHECK(s.permutation == std::vector<int64_t>{0, 2, 3, 4, 1});
  const std::vector<double> two = {1, 2, 3, 4, 5, 6};
  CHECK(keops::permute_rows(View<const double>{two.data(), 3, 2}, {2, 0, 1}) ==
        std::vector<double>{5, 6, 1, 2, 3, 4});
}

TEST_CASE("cluster_ranges_centroids: rows, (weighted) centroids and weights of each label") {
  const std::vector<float> x = {0.f, .5f, 1.f, 2.f, 3.f};  // pykeops's example
  const View<const float> v{x.data(), 5, 1};
  const auto plain = keops::cluster_ranges_centroids(v, {0, 0, 1, 1, 1});
  CHECK(plain.ranges == std::vector<RowRange>{{0, 2}, {2, 5}});
  CHECK(plain.centroids == std::vector<float>{.25f, 2.f});
  CHECK(plain.weights == std::vector<float>{2.f, 3.f});
  const auto weighted = keops::cluster_ranges_centroids(v, {0, 0, 1, 1, 1}, {1, .5, 1, 1, 10});
  CHECK(weighted.ranges == plain.ranges);
  CHECK(weighted.centroids[0] == doctest::Approx(1.f / 6));
  CHECK(weighted.centroids[1] == doctest::Approx(2.75f));
  CHECK(weighted.weights == std::vector<float>{1.5f, 12.f});
  // A label no point has: an empty range, a NaN centroid, no weight; tiny weights clamped.
  const std::vector<double> p = {1, 2, 3, 4};
  const auto gap =
      keops::cluster_ranges_centroids(View<const double>{p.data(), 2, 2}, {2, 0}, {1, 0});
  CHECK(gap.ranges == std::vector<RowRange>{{0, 1}, {1, 1}, {1, 2}});
  CHECK(gap.centroids[0] == doctest::Approx(3));
  CHECK(std::isnan(gap.centroids[2]));
  CHECK(gap.centroids[4] == 1);
  CHECK(gap.weights == std::vector<double>{1e-9, 0, 1});
}

TEST_CASE("from_matrix and swap_axes: pykeops's example") {
  const std::vector<RowRange> ri = {{2, 5}, {7, 12}}, rj = {{1, 4}, {4, 9}, {20, 30}};
  const Ranges r = keops::from_matrix(ri, rj, {true, true, false, false, true, false});
  CHECK(r.ranges_i == ri);
  CHECK(r.slices_i == std::vector<int64_t>{2, 3});
  CHECK(r.redranges_j == std::vector<RowRange>{{1, 4}, {4, 9}, {4, 9}});
  CHECK(r.ranges_j == rj);
  CHECK(r.slices_j == std::vector<int64_t>{1, 3, 3});
  CHECK(r.redranges_i == std::vector<RowRange>{{2, 5}, {2, 5}, {7, 12}});
  const Ranges s = keops::swap_axes(r);
  CHECK(s.ranges_i == r.ranges_j);
  CHECK(s.slices_i == r.slices_j);
  CHECK(s.redranges_j == r.redranges_i);
  CHECK(s.ranges_j == r.ranges_i);
  CHECK(s.slices_j == r.slices_i);
  CHECK(s.redranges_i == r.redranges_j);
}

TEST_CASE("cluster helpers: bad input is an error that says what is wrong") {
  const std::vector<float> x = {0.f, 1.f, 2.f};
  const View<const float> v{x.data(), 3, 1};
  CHECK_THROWS_WITH_AS(keops::grid_cluster(v, 0),
                       "grid_cluster: voxel_size must be positive and finite, not 0.000000", Error);
  CHECK_THROWS_WITH_AS(keops::grid_cluster(v, NAN),
                       "grid_cluster: voxel_size must be positive and finite, not nan", Error);
  CHECK_THROWS_WITH_AS(keops::grid_cluster(v, 1e-300),
                       "grid_cluster: voxel_size 0.000000 is too small for the points' extent "
                       "(over 2^53 voxels along a side)",
                       Error);
  const std::vector<float> bad = {0.f, INFINITY};
  CHECK_THROWS_WITH_AS(keops::grid_cluster(View<const float>{bad.data(), 2, 1}, 1),
                       "grid_cluster: point 1 has a non-finite coordinate", Error);
  CHECK_THROWS_WITH_AS(keops::grid_cluster(View<const float>{x.data(), 3, 1, 0}, 1),
                       "grid_cluster: points must be in host memory (View::device = -1)", Error);
  CHECK_THROWS_WITH_AS(keops::grid_cluster(View<const float>{nullptr, 3, 1}, 1),
                       "grid_cluster: points has null data and 3 rows", Error);
  CHECK_THROWS_WITH_AS(keops::sort_clusters(v, {0, 1}), "sort_clusters: 2 labels for 3 points",
                       Error);
  CHECK_THROWS_WITH_AS(keops::sort_clusters(v, {0, -1, 1}),
                       "sort_clusters: labels[1] = -1 is negative", Error);
  CHECK_THROWS_WITH_AS(keops::cluster_ranges_centroids(v, {0, 0, 1}, {1.f, 1.f}),
                       "cluster_ranges_centroids: 2 weights for 3 points", Error);
  CHECK_THROWS_WITH_AS(keops::permute_rows(v, {0, 3, 1}),
                       "permute_rows: permutation[1] = 3 is out of bounds for 3 rows", Error);
  CHECK_THROWS_WITH_AS(keops::permute_rows(v, {0, 1}),
                       "permute_rows: a permutation of 2 entries for 3 rows", Error);
  CHECK_THROWS_WITH_AS(keops::from_matrix({{0, 2}}, {{0, 1}, {1, 3}}, {true}),
                       "from_matrix: keep has 1 entries, expected 1 x 2 (i-clusters x j-clusters)",
                       Error);
  CHECK_THROWS_WITH_AS(keops::from_matrix({{3, 2}}, {{0, 1}}, {true}),
                       "from_matrix: ranges_i[0] = [3, 2) is not a range of rows", Error);
}
