"""Dense PyTorch references (the helpers of KeOps's pykeops.torch.utils) and pykeops.torch's
tensor tools under their KeOps name."""

import torch

from pykeops.torch.tools import TorchTools as torchtools  # noqa: F401 (KeOps's name)


def is_on_device(x):
    return x.is_cuda


def squared_distances(x, y):
    """|x_i - y_j|^2 for x (M, D) and y (N, D): (M, N)."""
    return (x**2).sum(1)[:, None] + (y**2).sum(1)[None, :] - 2 * x @ y.t()


def torch_kernel(x, y, s, kernel):
    """The radial kernel k(|x_i - y_j| / s): gaussian, laplacian, cauchy, inverse_multiquadric."""
    r2 = squared_distances(x, y) / (s * s)
    return {
        "gaussian": lambda: torch.exp(-r2),
        "laplacian": lambda: torch.exp(-torch.sqrt(r2)),
        "cauchy": lambda: 1.0 / (1.0 + r2),
        "inverse_multiquadric": lambda: torch.rsqrt(1.0 + r2),
    }[kernel]()


def WarmUpGpu():
    """Nothing to warm up: keops loads the driver and compiles kernels on first use."""
