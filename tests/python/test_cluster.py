"""The cluster helpers (NumPy and PyTorch) and block-sparse reductions built with them: a kept
pair of clusters reduces exactly as the dense reduction restricted to those pairs."""

import numpy as np
import pytest
import torch
from conftest import assert_close, torch_cuda_or_skip

import pykeops.numpy.cluster as npc
import pykeops.torch.cluster as tc
from pykeops.numpy import Genred as NumpyGenred
from pykeops.torch import Genred, LazyTensor


def test_grid_cluster_labels_voxels_in_lexicographic_order():
    x = torch.tensor([[0.05, 0.9], [0.15, 0.1], [0.06, 0.95], [0.9, 0.0]], dtype=torch.float64)
    lab = tc.grid_cluster(x, 0.5)
    assert lab.dtype == torch.int32
    assert lab.tolist() == [1, 0, 1, 2]  # voxels (0, 1), (0, 0), (0, 1), (1, 0) from the min
    lab_np = npc.grid_cluster(x.numpy(), 0.5)
    assert lab_np.tolist() == [1, 0, 1, 2]
    # Any dimension and grid size (pykeops stops at 3 dimensions and 1024 voxels a side).
    y = torch.rand(200, 5, dtype=torch.float64)
    cells = torch.floor((y - y.min(0).values) / 0.001).long()
    lab = tc.grid_cluster(y, 0.001)
    same_cell = (cells[:, None] == cells[None]).all(-1)
    assert torch.equal(same_cell, lab[:, None] == lab[None])


def test_sort_ranges_and_centroids():
    x = torch.tensor([[0.0], [3.0], [1.0], [3.5]], dtype=torch.float64)
    lab = torch.tensor([0, 1, 0, 1])
    (xs, w), labs = tc.sort_clusters((x, torch.arange(4.0)), lab)
    assert labs.tolist() == [0, 0, 1, 1] and w.tolist() == [0.0, 2.0, 1.0, 3.0]
    ranges, centroids, weights = tc.cluster_ranges_centroids(x, lab)
    assert ranges.tolist() == [[0, 2], [2, 4]]
    assert centroids.tolist() == [[0.5], [3.25]] and weights.tolist() == [2.0, 2.0]
    weights = torch.tensor([1.0, 3.0, 0.0, 1.0], dtype=torch.float64)
    _, centroids, w_c = tc.cluster_ranges_centroids(x, lab, weights=weights)
    assert torch.allclose(centroids[0], torch.tensor([(0 + 1e-9) / (1 + 1e-9)], dtype=torch.float64))
    assert w_c[1].item() == 4.0
    r_np, c_np, w_np = npc.cluster_ranges_centroids(x.numpy(), lab.numpy())
    assert r_np.tolist() == [[0, 2], [2, 4]] and c_np.tolist() == [[0.5], [3.25]]
    assert tc.swap_axes(None) is None
    assert tc.swap_axes(tuple(range(6))) == (3, 4, 5, 0, 1, 2)


def _clustered(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 2, dtype=torch.float64, generator=g)
    lab = tc.grid_cluster(x, 0.25)
    x, lab = tc.sort_clusters(x, lab)
    ranges, centroids, _ = tc.cluster_ranges_centroids(x, lab)
    return x, lab, ranges, centroids


def _block_sparse_case():
    x, lab_x, ranges_x, c_x = _clustered(300, 1)
    y, lab_y, ranges_y, c_y = _clustered(400, 2)
    keep = ((c_x[:, None] - c_y[None]) ** 2).sum(-1) < 0.3**2
    ranges = tc.from_matrix(ranges_x, ranges_y, keep)
    mask = keep[lab_x.long()][:, lab_y.long()]
    return x, y, ranges, mask


def test_block_sparse_reduction_is_the_masked_dense_one():
    x, y, ranges, mask = _block_sparse_case()
    b = torch.rand(len(y), 1, dtype=torch.float64)
    op = Genred("Exp(-SqDist(x, y) * 10) * b", ["x = Vi(2)", "y = Vj(2)", "b = Vj(1)"], axis=1)
    dense = (torch.exp(-((x[:, None] - y[None]) ** 2).sum(-1) * 10) * mask) @ b
    assert_close(op(x, y, b, ranges=ranges), dense, "float64")
    K = (-((LazyTensor(x[:, None]) - LazyTensor(y[None])) ** 2).sum(-1) * 10).exp()
    K.ranges = ranges
    assert_close(K @ b, dense, "float64")
    # The gradient with respect to y reduces over i: it takes the other triple of ranges.
    yg = y.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(op(x, yg, b, ranges=ranges).sum(), yg)
    yd = y.clone().requires_grad_(True)
    dense = (torch.exp(-((x[:, None] - yd[None]) ** 2).sum(-1) * 10) * mask) @ b
    (gd,) = torch.autograd.grad(dense.sum(), yd)
    assert_close(g, gd, "float64")
    # NumPy arrays, int32 ranges.
    ranges_np = tuple(r.numpy().astype(np.int32) for r in ranges)
    op_np = NumpyGenred("Exp(-SqDist(x, y) * 10) * b", ["x = Vi(2)", "y = Vj(2)", "b = Vj(1)"],
                        axis=1)
    assert_close(op_np(x.numpy(), y.numpy(), b.numpy(), ranges=ranges_np),
                 op(x, y, b, ranges=ranges), "float64")


def test_bad_ranges_are_refused():
    x, y, ranges, _ = _block_sparse_case()
    op = Genred("SqDist(x, y)", ["x = Vi(2)", "y = Vj(2)"], axis=1)
    bad = list(ranges)
    bad[2] = bad[2] + 1000
    with pytest.raises(ValueError, match="redranges_j"):
        op(x, y, ranges=tuple(bad))
    with pytest.raises(ValueError, match="6-tuple"):
        op(x, y, ranges=ranges[:3])


def test_cluster_helpers_on_cuda_tensors():
    torch_cuda_or_skip()
    x = torch.rand(500, 3, device="cuda")
    lab = tc.grid_cluster(x, 0.2)
    assert lab.is_cuda
    assert torch.equal(lab.cpu(), tc.grid_cluster(x.cpu(), 0.2))
    xs, labs = tc.sort_clusters(x, lab)
    ranges, centroids, _ = tc.cluster_ranges_centroids(xs, labs)
    assert ranges.is_cuda and centroids.is_cuda
    keep = ((centroids[:, None] - centroids[None]) ** 2).sum(-1) < 0.5**2
    ranges6 = tc.from_matrix(ranges, ranges, keep)
    op = Genred("Exp(-SqDist(x, y))", ["x = Vi(3)", "y = Vj(3)"], axis=1)
    got = op(xs, xs, ranges=ranges6)
    assert got.is_cuda
    mask = keep[labs.long()][:, labs.long()]
    dense = (torch.exp(-((xs[:, None] - xs[None]) ** 2).sum(-1)) * mask).sum(1, keepdim=True)
    assert_close(got.cpu(), dense.cpu(), "float32", scale=10)
