// Helpers that build block-sparse ranges from point clusters (see keops/ranges.h).
#include "keops/ranges.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "keops/error.h"

namespace keops {
namespace {

// Throws unless v is a host array without batch dims whose data can be read.
template <class T>
void check_points(const char* fn, const char* what, const View<const T>& v) {
  const std::string where = std::string(fn) + ": " + what;
  if (v.device != -1) throw Error(where + " must be in host memory (View::device = -1)");
  if (v.batch.count != 0) throw Error(where + " must have no batch dims");
  if (v.rows < 0 || v.cols < 0) throw Error(where + " has a negative shape");
  if (v.data == nullptr && v.rows > 0 && v.cols > 0)
    throw Error(where + " has null data and " + std::to_string(v.rows) + " rows");
}

void check_labels(const char* fn, const std::vector<int64_t>& labels, int64_t rows) {
  if (int64_t(labels.size()) != rows)
    throw Error(std::string(fn) + ": " + std::to_string(labels.size()) + " labels for " +
                std::to_string(rows) + " points");
  for (size_t k = 0; k < labels.size(); ++k)
    if (labels[k] < 0)
      throw Error(std::string(fn) + ": labels[" + std::to_string(k) +
                  "] = " + std::to_string(labels[k]) + " is negative");
}

template <class T>
std::vector<int64_t> grid_cluster_impl(View<const T> points, double voxel_size) {
  check_points("grid_cluster", "points", points);
  if (!(voxel_size > 0) || !std::isfinite(voxel_size))
    throw Error("grid_cluster: voxel_size must be positive and finite, not " +
                std::to_string(voxel_size));
  const int64_t n = points.rows, d = points.cols;
  std::vector<double> low(size_t(d), std::numeric_limits<double>::infinity());
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < d; ++c) {
      const double x = double(points.data[r * d + c]);
      if (!std::isfinite(x))
        throw Error("grid_cluster: point " + std::to_string(r) + " has a non-finite coordinate");
      low[size_t(c)] = std::min(low[size_t(c)], x);
    }
  // Voxel coordinates; 2^53 keeps them exact as doubles and far from int64 overflow.
  std::vector<int64_t> voxel(size_t(n * d));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < d; ++c) {
      const double v = std::floor((double(points.data[r * d + c]) - low[size_t(c)]) / voxel_size);
      if (v >= 9007199254740992.0)
        throw Error("grid_cluster: voxel_size " + std::to_string(voxel_size) +
                    " is too small for the points' extent (over 2^53 voxels along a side)");
      voxel[size_t(r * d + c)] = int64_t(v);
    }
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  auto less = [&](int64_t a, int64_t b) {
    return std::lexicographical_compare(voxel.begin() + a * d, voxel.begin() + (a + 1) * d,
                                        voxel.begin() + b * d, voxel.begin() + (b + 1) * d);
  };
  std::sort(order.begin(), order.end(), less);
  std::vector<int64_t> labels(static_cast<size_t>(n));
  int64_t label = -1;
  for (size_t k = 0; k < order.size(); ++k) {
    if (k == 0 || less(order[k - 1], order[k])) ++label;
    labels[size_t(order[k])] = label;
  }
  return labels;
}

template <class T>
SortedClusters<T> sort_clusters_impl(View<const T> points, const std::vector<int64_t>& labels) {
  check_points("sort_clusters", "points", points);
  check_labels("sort_clusters", labels, points.rows);
  SortedClusters<T> s;
  s.permutation.resize(labels.size());
  std::iota(s.permutation.begin(), s.permutation.end(), 0);
  std::stable_sort(s.permutation.begin(), s.permutation.end(),
                   [&](int64_t a, int64_t b) { return labels[size_t(a)] < labels[size_t(b)]; });
  s.points = permute_rows(points, s.permutation);
  for (int64_t k : s.permutation) s.labels.push_back(labels[size_t(k)]);
  return s;
}

template <class T>
std::vector<T> permute_rows_impl(View<const T> rows, const std::vector<int64_t>& permutation) {
  check_points("permute_rows", "rows", rows);
  if (int64_t(permutation.size()) != rows.rows)
    throw Error("permute_rows: a permutation of " + std::to_string(permutation.size()) +
                " entries for " + std::to_string(rows.rows) + " rows");
  std::vector<T> out(size_t(rows.rows * rows.cols));
  for (size_t k = 0; k < permutation.size(); ++k) {
    const int64_t from = permutation[k];
    if (from < 0 || from >= rows.rows)
      throw Error("permute_rows: permutation[" + std::to_string(k) + "] = " + std::to_string(from) +
                  " is out of bounds for " + std::to_string(rows.rows) + " rows");
    std::copy_n(rows.data + from * rows.cols, rows.cols, out.begin() + int64_t(k) * rows.cols);
  }
  return out;
}

template <class T>
ClusterRangesCentroids<T> cluster_ranges_centroids_impl(View<const T> points,
                                                        const std::vector<int64_t>& labels,
                                                        const std::vector<T>& weights) {
  const char* fn = "cluster_ranges_centroids";
  check_points(fn, "points", points);
  check_labels(fn, labels, points.rows);
  if (!weights.empty() && int64_t(weights.size()) != points.rows)
    throw Error(std::string(fn) + ": " + std::to_string(weights.size()) + " weights for " +
                std::to_string(points.rows) + " points");
  const int64_t d = points.cols;
  const size_t clusters =
      labels.empty() ? 0 : size_t(*std::max_element(labels.begin(), labels.end()) + 1);
  // Sums in double: a cluster may hold millions of float points.
  std::vector<double> counts(clusters), total(clusters), sums(clusters * size_t(d));
  for (size_t k = 0; k < labels.size(); ++k) {
    const size_t c = size_t(labels[k]);
    // pykeops clamps small weights so that no cluster weighs 0.
    const double w = weights.empty() ? 1.0 : std::max(double(weights[k]), 1e-9);
    counts[c] += 1;
    total[c] += w;
    for (int64_t m = 0; m < d; ++m)
      sums[c * size_t(d) + size_t(m)] += w * double(points.data[int64_t(k) * d + m]);
  }
  ClusterRangesCentroids<T> out;
  int64_t start = 0;
  for (size_t c = 0; c < clusters; ++c) {
    out.ranges.push_back({start, start + int64_t(counts[c])});
    start += int64_t(counts[c]);
    out.weights.push_back(T(total[c]));
    for (int64_t m = 0; m < d; ++m)
      out.centroids.push_back(counts[c] > 0 ? T(sums[c * size_t(d) + size_t(m)] / total[c])
                                            : std::numeric_limits<T>::quiet_NaN());
  }
  return out;
}

void check_clusters(const char* name, const std::vector<RowRange>& ranges) {
  for (size_t k = 0; k < ranges.size(); ++k)
    if (ranges[k][0] < 0 || ranges[k][0] > ranges[k][1])
      throw Error(std::string("from_matrix: ") + name + "[" + std::to_string(k) + "] = [" +
                  std::to_string(ranges[k][0]) + ", " + std::to_string(ranges[k][1]) +
                  ") is not a range of rows");
}

}  // namespace

std::vector<int64_t> grid_cluster(View<const float> points, double voxel_size) {
  return grid_cluster_impl(points, voxel_size);
}
std::vector<int64_t> grid_cluster(View<const double> points, double voxel_size) {
  return grid_cluster_impl(points, voxel_size);
}

SortedClusters<float> sort_clusters(View<const float> points, const std::vector<int64_t>& labels) {
  return sort_clusters_impl(points, labels);
}
SortedClusters<double> sort_clusters(View<const double> points,
                                     const std::vector<int64_t>& labels) {
  return sort_clusters_impl(points, labels);
}

std::vector<float> permute_rows(View<const float> rows, const std::vector<int64_t>& permutation) {
  return permute_rows_impl(rows, permutation);
}
std::vector<double> permute_rows(View<const double> rows, const std::vector<int64_t>& permutation) {
  return permute_rows_impl(rows, permutation);
}

ClusterRangesCentroids<float> cluster_ranges_centroids(View<const float> points,
                                                       const std::vector<int64_t>& labels,
                                                       const std::vector<float>& weights) {
  return cluster_ranges_centroids_impl(points, labels, weights);
}
ClusterRangesCentroids<double> cluster_ranges_centroids(View<const double> points,
                                                        const std::vector<int64_t>& labels,
                                                        const std::vector<double>& weights) {
  return cluster_ranges_centroids_impl(points, labels, weights);
}

Ranges from_matrix(const std::vector<RowRange>& ranges_i, const std::vector<RowRange>& ranges_j,
                   const std::vector<bool>& keep) {
  check_clusters("ranges_i", ranges_i);
  check_clusters("ranges_j", ranges_j);
  const size_t m = ranges_i.size(), n = ranges_j.size();
  if (keep.size() != m * n)
    throw Error("from_matrix: keep has " + std::to_string(keep.size()) + " entries, expected " +
                std::to_string(m) + " x " + std::to_string(n) + " (i-clusters x j-clusters)");
  Ranges r;
  r.ranges_i = ranges_i;
  r.ranges_j = ranges_j;
  for (size_t k = 0; k < m; ++k) {
    for (size_t l = 0; l < n; ++l)
      if (keep[k * n + l]) r.redranges_j.push_back(ranges_j[l]);
    r.slices_i.push_back(int64_t(r.redranges_j.size()));
  }
  for (size_t l = 0; l < n; ++l) {
    for (size_t k = 0; k < m; ++k)
      if (keep[k * n + l]) r.redranges_i.push_back(ranges_i[k]);
    r.slices_j.push_back(int64_t(r.redranges_i.size()));
  }
  return r;
}

Ranges swap_axes(const Ranges& ranges) {
  return {ranges.ranges_j, ranges.slices_j, ranges.redranges_i,
          ranges.ranges_i, ranges.slices_i, ranges.redranges_j};
}

}  // namespace keops
