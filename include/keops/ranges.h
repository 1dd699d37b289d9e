// Helpers that build block-sparse Options::ranges from point clusters (as pykeops.torch.cluster).
#pragma once

#include <cstdint>
#include <vector>

#include "keops/options.h"
#include "keops/view.h"

namespace keops {

// The usual recipe (pykeops's): label the points by voxels (grid_cluster), sort them so that
// each cluster is contiguous (sort_clusters), get each cluster's rows and centroid
// (cluster_ranges_centroids), keep the pairs of clusters whose centroids are close, and turn
// that boolean matrix into ranges (from_matrix) for Options::ranges. Every helper takes host
// arrays (View::device == -1, no batch dims) and throws keops::Error for bad input.

// Labels of points (rows x cols) binned into cubic voxels of side voxel_size, the grid
// anchored at the points' lowest coordinates: points share a label exactly when they share
// a voxel, and labels run over [0, C), C the non-empty voxels, in the lexicographic order of
// the voxels (first coordinate first), as pykeops's grid_cluster for up to 3 dimensions.
std::vector<int64_t> grid_cluster(View<const float> points, double voxel_size);
std::vector<int64_t> grid_cluster(View<const double> points, double voxel_size);

// Points and labels sorted by label (stably), and the permutation that did it: sorted row k
// is row permutation[k] of the input. permute_rows applies it to other arrays of the points.
template <class T>
struct SortedClusters {
  std::vector<T> points;  // rows x cols, as the input
  std::vector<int64_t> labels;
  std::vector<int64_t> permutation;
};
SortedClusters<float> sort_clusters(View<const float> points, const std::vector<int64_t>& labels);
SortedClusters<double> sort_clusters(View<const double> points, const std::vector<int64_t>& labels);

// Rows permutation[0], permutation[1], ... of a rows x cols array.
std::vector<float> permute_rows(View<const float> rows, const std::vector<int64_t>& permutation);
std::vector<double> permute_rows(View<const double> rows, const std::vector<int64_t>& permutation);

// For labels in [0, C) (C = the largest label + 1): the rows [start, end) that cluster c takes
// once the points are sorted by label, the clusters' centroids (C x cols, the mean of their
// points weighted by `weights`, one per point, clamped below at 1e-9 as in pykeops; NaN for a
// label no point has) and their total weights (point counts without weights).
template <class T>
struct ClusterRangesCentroids {
  std::vector<RowRange> ranges;
  std::vector<T> centroids;
  std::vector<T> weights;
};
ClusterRangesCentroids<float> cluster_ranges_centroids(View<const float> points,
                                                       const std::vector<int64_t>& labels,
                                                       const std::vector<float>& weights = {});
ClusterRangesCentroids<double> cluster_ranges_centroids(View<const double> points,
                                                        const std::vector<int64_t>& labels,
                                                        const std::vector<double>& weights = {});

// The ranges of a block-sparse reduction that keeps the pairs of i-cluster k (rows
// ranges_i[k]) and j-cluster l (rows ranges_j[l]) where keep[k * ranges_j.size() + l]: both
// axes' triples, so that gradients run too (pykeops's from_matrix). The clusters must be
// valid row ranges (start <= end, start >= 0); the rest is checked when a Genred runs.
Ranges from_matrix(const std::vector<RowRange>& ranges_i, const std::vector<RowRange>& ranges_j,
                   const std::vector<bool>& keep);

// The same ranges with the i and j triples exchanged: for the Genred with i and j swapped.
Ranges swap_axes(const Ranges& ranges);

}  // namespace keops
