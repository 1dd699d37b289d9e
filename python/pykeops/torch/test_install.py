"""pykeops.test_torch_bindings: one small reduction and its gradient checked against PyTorch."""

import torch


def test_torch_bindings():
    from pykeops.torch import Genred

    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 3, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.rand(7, 3, dtype=torch.float64, generator=g)
    b = torch.rand(7, 1, dtype=torch.float64, generator=g)
    op = Genred("Exp(-SqDist(x, y)) * b", ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)"], axis=1)
    a = op(x, y, b)
    expected = torch.exp(-((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)) @ b
    (gx,) = torch.autograd.grad(a.sum(), x)
    (ex,) = torch.autograd.grad(expected.sum(), x)
    ok = torch.allclose(a, expected, rtol=1e-10, atol=0) and torch.allclose(gx, ex, rtol=1e-10, atol=0)
    print("pyKeOps with torch bindings is working!" if ok else "pyKeOps with torch bindings FAILED")
    return ok
