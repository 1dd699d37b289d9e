"""float16 and bfloat16 arrays through pykeops: Genred, LazyTensor reductions and autograd
gradients against float64 on the same values, NumPy's float16, KernelSolve's refusal; on CUDA
(skipped, saying why, without a GPU) against the CPU."""

import numpy as np
import pytest
import torch
from conftest import torch_cuda_or_skip

from pykeops.numpy import Genred as NumpyGenred
from pykeops.torch import Genred, KernelSolve, LazyTensor

ALIASES = ["x = Vi(3)", "y = Vj(3)", "b = Vj(2)"]
GAUSS = "Exp(-SqDist(x, y)) * b"
ROUNDOFF = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8}
DTYPES = [torch.float16, torch.bfloat16]


def data(dtype, device="cpu", m=70, n=45, seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = ((m, 3), (n, 3), (n, 2))
    return [(0.7 * torch.randn(s, generator=g)).to(dtype).to(device) for s in shapes]


def assert_rounded_once(got, want, dtype):
    """got (16-bit) is want (float64) rounded once, up to float32's accumulation."""
    assert got.dtype == dtype
    got, want = got.double().cpu(), want.double().cpu()
    bound = 1.01 * ROUNDOFF[dtype] * want.abs() + 1e-5 * want.abs().max()
    assert bool(((got - want).abs() <= bound).all()), (got - want).abs().max()


@pytest.mark.parametrize("dtype", DTYPES)
def test_genred_sum_and_lazytensor_reductions(dtype):
    x, y, b = data(dtype)
    op = Genred(GAUSS, ALIASES, reduction_op="Sum", axis=1)
    assert_rounded_once(op(x, y, b), op(x.double(), y.double(), b.double()), dtype)
    X, Y = LazyTensor(x[:, None, :]), LazyTensor(y[None, :, :])
    Xd, Yd = LazyTensor(x.double()[:, None, :]), LazyTensor(y.double()[None, :, :])
    D, Dd = ((X - Y) ** 2).sum(-1), ((Xd - Yd) ** 2).sum(-1)
    assert_rounded_once(D.logsumexp(dim=1), Dd.logsumexp(dim=1), dtype)
    assert_rounded_once(D.min(dim=0), Dd.min(dim=0), dtype)
    # Indices: the float64 distances at the 16-bit picks are the smallest (data may tie).
    picks = D.argKmin(3, dim=1)
    exact = ((x.double()[:, None, :] - y.double()[None, :, :]) ** 2).sum(-1)
    best = exact.sort(dim=1).values[:, :3]
    assert torch.allclose(exact.gather(1, picks), best, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_autograd_gradients(dtype):
    x, y, b = data(dtype, seed=1)
    op = Genred(GAUSS, ALIASES, reduction_op="Sum", axis=1)
    grads = []
    for cast in (lambda t: t, lambda t: t.double()):
        xs, ys = (cast(t).detach().clone().requires_grad_() for t in (x, y))
        e = cast(torch.linspace(-1, 1, 2 * len(x)).reshape(-1, 2).to(dtype))
        (op(xs, ys, cast(b)) * e).sum().backward()
        grads.append((xs.grad, ys.grad))
    for got, want in zip(grads[0], grads[1]):
        assert_rounded_once(got, want, dtype)


def test_numpy_float16():
    x, y, b = (t.numpy() for t in data(torch.float16))
    op = NumpyGenred(GAUSS, ALIASES, reduction_op="Sum", axis=1)
    got = op(x, y, b, backend="CPU")
    assert got.dtype == np.float16
    want = op(x.astype(np.float64), y.astype(np.float64), b.astype(np.float64), backend="CPU")
    assert_rounded_once(torch.from_numpy(got), torch.from_numpy(want), torch.float16)


def test_kernel_solve_refuses_16_bits():
    x = data(torch.float16)[0]
    solver = KernelSolve("Exp(-SqDist(x, y)) * b", ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)"], "b",
                         axis=1)
    with pytest.raises(TypeError, match="float16 and bfloat16 arrays are not supported"):
        solver(x, x, x[:, :1].contiguous(), alpha=1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_matches_cpu(dtype):
    torch_cuda_or_skip()
    x, y, b = data(dtype, m=3000, n=2000, seed=2)
    op = Genred(GAUSS, ALIASES, reduction_op="Sum", axis=1)
    cpu = op(x, y, b)
    gpu = op(x.cuda(), y.cuda(), b.cuda())
    assert gpu.is_cuda and gpu.dtype == dtype
    want = op(x.double(), y.double(), b.double())
    assert_rounded_once(gpu, want, dtype)
    assert_rounded_once(cpu, want, dtype)
    xs = x.cuda().requires_grad_()
    op(xs, y.cuda(), b.cuda()).sum().backward()
    xd = x.double().requires_grad_()
    op(xd, y.double(), b.double()).sum().backward()
    assert_rounded_once(xs.grad, xd.grad, dtype)
