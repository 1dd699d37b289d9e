"""KernelSolve (NumPy and PyTorch): solutions against dense solves, KeOps's alpha and eps,
gradients against gradcheck, batch dims, errors."""

import numpy as np
import pytest
import torch
from conftest import assert_close

import pykeops.numpy
import pykeops.torch

FORMULA = "Exp(-g * SqDist(x, y)) * b"
ALIASES = ["x = Vi(2)", "y = Vj(2)", "b = Vj(3)", "g = Pm(1)"]


def problem(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 2))
    b = rng.standard_normal((n, 3))
    g = np.array([2.0])
    return x, b, g


def dense_solution(x, b, g, alpha):
    K = np.exp(-g[0] * ((x[:, None] - x[None]) ** 2).sum(-1))
    return np.linalg.solve(alpha * np.eye(len(x)) + K, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numpy_solve_matches_a_dense_solve(dtype):
    x, b, g = problem()
    solve = pykeops.numpy.KernelSolve(FORMULA, ALIASES, "b", axis=1)
    a = solve(x.astype(dtype), x.astype(dtype), b.astype(dtype), g.astype(dtype), alpha=0.5,
              eps=1e-12 if dtype == "float64" else 1e-7)
    assert a.shape == b.shape and a.dtype == np.dtype(dtype)
    assert_close(a, dense_solution(x, b, g, 0.5), dtype, scale=1e3 if dtype == "float32" else 10)


def test_eps_is_keops_absolute_criterion():
    x, b, g = problem()
    solve = pykeops.numpy.KernelSolve(FORMULA, ALIASES, "b", axis=1)
    exact = dense_solution(x, b, g, 0.5)
    loose = solve(x, x, b, g, alpha=0.5, eps=1e-1)
    tight = solve(x, x, b, g, alpha=0.5, eps=1e-10)
    assert np.abs(tight - exact).max() < np.abs(loose - exact).max()
    # ||b||^2 below size(b) eps^2: KeOps's solver returns 0 at once.
    np.testing.assert_array_equal(solve(x, x, 1e-9 * b, g, alpha=0.5, eps=1e-6), 0 * b)


def test_torch_solve_and_its_gradients():
    x, b, g = (torch.from_numpy(v) for v in problem(n=15))
    x.requires_grad_(True)
    b.requires_grad_(True)
    g.requires_grad_(True)
    solve = pykeops.torch.KernelSolve(FORMULA, ALIASES, "b", axis=1)
    a = solve(x, x, b, g, alpha=0.5, eps=1e-12)
    expected = torch.from_numpy(dense_solution(x.detach().numpy(), b.detach().numpy(),
                                               g.detach().numpy(), 0.5))
    assert_close(a.detach(), expected, "float64", scale=10)

    def f(x, b, g):
        return solve(x, x, b, g, alpha=0.5, eps=1e-13)

    assert torch.autograd.gradcheck(f, (x, b, g), atol=1e-6)


def test_lazytensor_solve_with_symbolic_unknown():
    x, b, g = problem(n=20)
    xi = pykeops.numpy.Vi(x)
    xj = pykeops.numpy.Vj(x)
    K = (-(xi - xj).sqnorm2() * 2.0).exp()
    a = K.solve(pykeops.numpy.Vi(b), alpha=0.5, eps=1e-12)
    assert_close(a, dense_solution(x, b, g, 0.5), "float64", scale=10)
    unknown = pykeops.numpy.Vj(0, 3)
    deferred = (K * unknown).solve(pykeops.numpy.Vi(1, 3), var=unknown, alpha=0.5, eps=1e-12,
                                   call=False)
    assert_close(deferred(b), dense_solution(x, b, g, 0.5), "float64", scale=10)


def test_batched_solve_is_each_batch_element_solved():
    x, b, g = problem(n=12)
    xs = np.stack([x, x[::-1].copy()])
    bs = np.stack([b, 2 * b])
    solve = pykeops.numpy.KernelSolve(FORMULA, ALIASES, "b", axis=1)
    a = solve(xs, xs, bs, g, alpha=0.5, eps=1e-12)
    assert a.shape == bs.shape
    for k in range(2):
        assert_close(a[k], dense_solution(xs[k], bs[k], g, 0.5), "float64", scale=10)


def test_solve_errors():
    x, b, g = problem()
    with pytest.raises(ValueError, match="not linear in"):
        pykeops.numpy.KernelSolve("Exp(-SqDist(x, y)) * Exp(b)", ALIASES, "b", axis=1)
    solve = pykeops.numpy.KernelSolve(FORMULA, ALIASES, "b", axis=1)
    with pytest.raises(ValueError, match="alpha must be finite and >= 0"):
        solve(x, x, b, g, alpha=-1.0)
    with pytest.raises(ValueError, match=r"expected 4 argument\(s\), got 3"):
        solve(x, x, b)
