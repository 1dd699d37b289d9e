"""Dense NumPy references that pykeops's tests and examples compare reductions with (the helpers
of KeOps's pykeops.numpy.utils), and pykeops.numpy's array tools under their KeOps name."""

import numpy as np

from pykeops.numpy.tools import NumpyTools as numpytools  # noqa: F401 (KeOps's name)


def squared_distances(x, y):
    """|x_i - y_j|^2 for x (M, D) and y (N, D): (M, N)."""
    return (x**2).sum(1)[:, None] + (y**2).sum(1)[None, :] - 2.0 * x @ y.T


def differences(x, y):
    """x_i - y_j component by component: (D, M, N)."""
    return x.T[:, :, None] - y.T[:, None, :]


def np_kernel(x, y, s, kernel):
    """The radial kernel k(|x_i - y_j| / s): gaussian, laplacian, cauchy, inverse_multiquadric."""
    r2 = squared_distances(x, y) / (s * s)
    return {
        "gaussian": lambda: np.exp(-r2),
        "laplacian": lambda: np.exp(-np.sqrt(r2)),
        "cauchy": lambda: 1.0 / (1.0 + r2),
        "inverse_multiquadric": lambda: 1.0 / np.sqrt(1.0 + r2),
    }[kernel]()


def log_np_kernel(x, y, s, kernel):
    """log k(|x_i - y_j| / s) for the kernels of np_kernel."""
    r2 = squared_distances(x, y) / (s * s)
    return {
        "gaussian": lambda: -r2,
        "laplacian": lambda: -np.sqrt(r2),
        "cauchy": lambda: -np.log1p(r2),
        "inverse_multiquadric": lambda: -0.5 * np.log1p(r2),
    }[kernel]()


def grad_np_kernel(x, y, s, kernel):
    """dk/d(|x_i - y_j|^2) for the kernels of np_kernel."""
    r2 = squared_distances(x, y) / (s * s)
    return {
        "gaussian": lambda: -np.exp(-r2) / (s * s),
        "laplacian": lambda: -np.exp(-np.sqrt(r2)) / (2 * s * s * np.sqrt(r2)),
        "cauchy": lambda: -1.0 / (s * (1.0 + r2)) ** 2,
        "inverse_multiquadric": lambda: -0.5 / (s * s * (1.0 + r2) ** 1.5),
    }[kernel]()


def np_kernel_sphere(nalpha, nbeta, s, kernel):
    """Kernels on unit normals: binet, linear, gaussian_unoriented, gaussian_oriented."""
    prs = nalpha @ nbeta.T
    return {
        "binet": lambda: prs**2,
        "linear": lambda: prs,
        "gaussian_unoriented": lambda: np.exp((-2.0 + 2.0 * prs * prs) / (s * s)),
        "gaussian_oriented": lambda: np.exp((-2.0 + 2.0 * prs) / (s * s)),
    }[kernel]()


def chain_rules(q, ax, by, Aa, p):
    """sum_j q_i . (2 (x_i - y_j) Aa_ij p_j), component by component: (M, D) float32."""
    res = np.zeros(ax.shape, dtype=np.float32)
    for d in range(ax.shape[1]):
        diff = ax[:, d][:, None] - by[:, d][None, :]
        res[:, d] = np.sum(q * ((2 * diff * Aa) @ p), axis=1)
    return res


def log_sum_exp(mat, axis=0):
    """log sum exp(mat) along axis, with the maximum factored out."""
    top = mat.max(axis=axis)
    return top + np.log(np.sum(np.exp(mat - np.expand_dims(top, axis=axis)), axis=axis))


def WarmUpGpu():
    """Nothing to warm up: keops loads the driver and compiles kernels on first use."""
