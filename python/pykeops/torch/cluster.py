"""pykeops.torch.cluster: block-sparse ranges from point clusters, on CPU and CUDA tensors."""

import torch

from pykeops.common.cluster import permuted


def grid_cluster(x, size):
    """Labels of points (N, D) binned into voxels of side `size`, the grid anchored at the
    points' lowest coordinates: labels 0..C-1 in the voxels' lexicographic order (first
    coordinate first), as pykeops's (which handles D <= 3 and 1024 voxels a side; any here)."""
    with torch.no_grad():
        cells = torch.floor((x - x.min(dim=0, keepdim=True).values) / size).to(torch.int64)
        _, labels = torch.unique(cells, dim=0, return_inverse=True)
    return labels.to(torch.int32)


def sort_clusters(x, lab):
    """x (an array, or a tuple or list of arrays) and lab sorted by label (stably)."""
    lab, perm = torch.sort(lab.view(-1), stable=True)
    return permuted(x, perm), lab


def cluster_ranges(lab, Nlab=None):
    """The rows [start, end) of each cluster once the points are sorted by label: (C, 2)."""
    if Nlab is None:
        Nlab = torch.bincount(lab.long())
    ends = Nlab.cumsum(0).to(torch.int64)
    return torch.stack((ends - Nlab.to(torch.int64), ends), dim=1)


def cluster_centroids(x, lab, Nlab=None, weights=None, weights_c=None):
    """Each cluster's centroid (C, D): the mean of its points, weighted by `weights`."""
    lab = lab.long()
    if weights is None:
        counts = (torch.bincount(lab) if Nlab is None else Nlab).to(x.dtype)
        total = torch.zeros((len(counts), x.shape[1]), dtype=x.dtype, device=x.device)
        return total.index_add_(0, lab, x) / counts.view(-1, 1)
    w = weights.view(-1).to(x.dtype)
    if weights_c is None:
        weights_c = torch.bincount(lab, weights=w)
    total = torch.zeros((len(weights_c.view(-1)), x.shape[1]), dtype=x.dtype, device=x.device)
    return total.index_add_(0, lab, x * w.view(-1, 1)) / weights_c.view(-1, 1).to(x.dtype)


def cluster_ranges_centroids(x, lab, weights=None, min_weight=1e-9):
    """(ranges, centroids, weights) of the clusters: their rows once sorted, their centroids
    and their total weights (point counts without weights; weights clamped below at
    min_weight)."""
    Nlab = torch.bincount(lab.long()).to(x.dtype)
    if weights is None:
        return cluster_ranges(lab, Nlab), cluster_centroids(x, lab, Nlab), Nlab
    weights = weights.clone()
    weights[weights <= min_weight] = min_weight
    w_c = torch.bincount(lab.long(), weights=weights.view(-1)).view(-1)
    return cluster_ranges(lab, Nlab), cluster_centroids(x, lab, Nlab, weights, w_c), w_c


def swap_axes(ranges):
    """The ranges with the i and j triples exchanged, for the transposed reduction."""
    return None if ranges is None else (*ranges[3:6], *ranges[0:3])


def from_matrix(ranges_i, ranges_j, keep):
    """The 6-tuple of ranges that keeps the pairs of clusters (k, l) where keep[k, l]."""
    I, J = torch.meshgrid(
        torch.arange(keep.shape[0], device=keep.device),
        torch.arange(keep.shape[1], device=keep.device),
        indexing="ij",
    )
    redranges_i = ranges_i[I.t()[keep.t()]]
    redranges_j = ranges_j[J[keep]]
    slices_i = keep.sum(1).cumsum(0).to(torch.int64)
    slices_j = keep.sum(0).cumsum(0).to(torch.int64)
    return (ranges_i, slices_i, redranges_j, ranges_j, slices_j, redranges_i)
