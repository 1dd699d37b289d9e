"""pykeops.numpy.cluster: block-sparse ranges from point clusters, on NumPy arrays."""

import numpy as np

from pykeops.common.cluster import permuted


def grid_cluster(x, size):
    """Labels of points (N, D) binned into the voxels floor(x / size) (as pykeops.numpy):
    labels 0..C-1 in the voxels' lexicographic order (first coordinate first)."""
    cells = np.floor(np.asarray(x) / size).astype(np.int64)
    _, labels = np.unique(cells, axis=0, return_inverse=True)
    return labels.reshape(-1).astype(np.int64)


def sort_clusters(x, lab):
    """x (an array, or a tuple or list of arrays) and lab sorted by label (stably)."""
    perm = np.argsort(lab.ravel(), kind="stable")
    lab = lab.ravel()[perm]
    return permuted(x, perm), lab


def cluster_ranges(lab, Nlab=None):
    """The rows [start, end) of each cluster once the points are sorted by label: (C, 2)."""
    if Nlab is None:
        Nlab = np.bincount(lab)
    ends = np.cumsum(Nlab).astype(np.int64)
    return np.stack((ends - np.asarray(Nlab, dtype=np.int64), ends), axis=1)


def cluster_centroids(x, lab, Nlab=None, weights=None, weights_c=None):
    """Each cluster's centroid (C, D): the mean of its points, weighted by `weights`."""
    if weights is None:
        counts = np.bincount(lab) if Nlab is None else Nlab
        total = np.zeros((len(counts), x.shape[1]), dtype=x.dtype)
        np.add.at(total, lab, x)
        return (total / np.asarray(counts).reshape(-1, 1)).astype(x.dtype)
    w = np.asarray(weights).ravel()
    if weights_c is None:
        weights_c = np.bincount(lab, weights=w)
    total = np.zeros((len(np.ravel(weights_c)), x.shape[1]), dtype=np.float64)
    np.add.at(total, lab, x * w[:, None])
    return (total / np.ravel(weights_c)[:, None]).astype(x.dtype)


def cluster_ranges_centroids(x, lab, weights=None, min_weight=1e-9):
    """(ranges, centroids, weights) of the clusters: their rows once sorted, their centroids
    and their total weights (point counts without weights; weights clamped below at
    min_weight)."""
    Nlab = np.bincount(lab).astype(float)
    if weights is None:
        return cluster_ranges(lab, Nlab), cluster_centroids(x, lab, Nlab), Nlab
    weights = np.maximum(np.asarray(weights, dtype=float), min_weight)
    w_c = np.bincount(lab, weights=weights.ravel()).ravel()
    return cluster_ranges(lab, Nlab), cluster_centroids(x, lab, Nlab, weights, w_c), w_c


def swap_axes(ranges):
    """The ranges with the i and j triples exchanged, for the transposed reduction."""
    return None if ranges is None else (*ranges[3:6], *ranges[0:3])


def from_matrix(ranges_i, ranges_j, keep):
    """The 6-tuple of ranges that keeps the pairs of clusters (k, l) where keep[k, l]."""
    I, J = np.meshgrid(np.arange(keep.shape[0]), np.arange(keep.shape[1]), indexing="ij")
    redranges_i = ranges_i[I.T[keep.T]]
    redranges_j = ranges_j[J[keep]]
    slices_i = np.cumsum(np.sum(keep, axis=1), axis=0).astype(np.int64)
    slices_j = np.cumsum(np.sum(keep, axis=0), axis=0).astype(np.int64)
    return (ranges_i, slices_i, redranges_j, ranges_j, slices_j, redranges_i)
