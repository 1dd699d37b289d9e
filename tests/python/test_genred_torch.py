"""pykeops.torch.Genred: results against dense PyTorch, autograd against gradcheck in float64
(to the second order), torch.func transforms, arrays used in place."""

import numpy as np
import pytest
import torch
from conftest import assert_close
from dense import reduce_dense, sqdist

import pykeops
from pykeops.torch import Genred

ALIASES = ["x = Vi(3)", "y = Vj(3)", "b = Vj(2)", "s = Pm(1)"]
GAUSS = "Exp(-s * SqDist(x, y)) * b"


def tensors(dtype=torch.float64, m=6, n=7, requires_grad=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(m, 3, dtype=dtype, generator=g)
    y = torch.randn(n, 3, dtype=dtype, generator=g)
    b = torch.randn(n, 2, dtype=dtype, generator=g)
    s = torch.rand(1, dtype=dtype, generator=g) + 0.5
    return [t.requires_grad_(requires_grad) for t in (x, y, b, s)]


def dense_gauss(x, y, b, s):
    d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    return torch.exp(-s * d2) @ b


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sum_and_its_gradients_match_pytorch(dtype):
    args = tensors(dtype)
    op = Genred(GAUSS, ALIASES, axis=1)
    a = op(*args)
    expected = dense_gauss(*args)
    assert a.dtype == dtype and a.shape == (6, 2)
    assert_close(a.detach(), expected.detach(), str(dtype)[6:])
    e = torch.randn_like(a)
    grads = torch.autograd.grad((a * e).sum(), args)
    dense = torch.autograd.grad((expected * e).sum(), args)
    for g, d in zip(grads, dense):
        assert g.shape == d.shape
        assert_close(g, d, str(dtype)[6:], scale=10)


@pytest.mark.parametrize(
    "reduction, formula2",
    [("Sum", None), ("LogSumExp", None), ("LogSumExp", "b"), ("LogSumExpWeight", "b"),
     ("SumSoftMaxWeight", "b"), ("Max_SumShiftExp", None), ("Max_SumShiftExpWeight", "b"),
     ("Min", None), ("Max", None), ("KMin", None)],
)
@pytest.mark.parametrize("axis", [0, 1])
def test_gradcheck_every_differentiable_reduction(reduction, formula2, axis):
    x, y, b, s = tensors()
    b = (b.detach().abs() + 0.5).requires_grad_(True)  # positive weights
    if axis == 0:
        b = (torch.rand(6, 2, dtype=torch.float64) + 0.5).requires_grad_(True)
    aliases = ["x = Vi(3)", "y = Vj(3)", f"b = {'Vj' if axis == 1 else 'Vi'}(2)", "s = Pm(1)"]
    op = Genred("-s * SqDist(x, y)", aliases, reduction_op=reduction, axis=axis,
                formula2=formula2, opt_arg=2 if reduction == "KMin" else None)
    inputs = (x, y, s) if formula2 is None else (x, y, b, s)

    def f(*a):
        return op(*a) if formula2 else op(a[0], a[1], b.detach(), a[2])

    assert torch.autograd.gradcheck(f, inputs)


@pytest.mark.parametrize("reduction", ["Sum", "LogSumExp", "SumSoftMaxWeight"])
def test_second_order_gradients(reduction):
    x, y, b, s = tensors()
    b = (b.detach().abs() + 0.5).requires_grad_(True)
    op = Genred("-s * SqDist(x, y)", ALIASES, reduction_op=reduction, axis=1,
                formula2="b" if reduction == "SumSoftMaxWeight" else None)
    assert torch.autograd.gradgradcheck(lambda x, y, b, s: op(x, y, b, s), (x, y, b, s))


def test_hessian_vector_product_matches_pytorch():
    x, y, b, s = tensors()
    op = Genred(GAUSS, ALIASES, axis=1)
    v = torch.randn_like(x)

    def hvp(f):
        (g,) = torch.autograd.grad(f(x).square().sum(), x, create_graph=True)
        return torch.autograd.grad((g * v).sum(), x)[0]

    assert_close(hvp(lambda x: op(x, y, b, s)), hvp(lambda x: dense_gauss(x, y, b, s)), "float64")


def test_index_reductions_give_int64_and_no_gradient():
    x, y, _, _ = tensors()
    op = Genred("SqDist(x, y)", ["x = Vi(3)", "y = Vj(3)"], reduction_op="ArgKMin", axis=1,
                opt_arg=3)
    idx = op(x, y)
    assert idx.dtype == torch.int64 and idx.shape == (6, 3) and not idx.requires_grad
    expected = reduce_dense(sqdist(x.detach().numpy(), y.detach().numpy()), "ArgKMin", 1, k=3)
    np.testing.assert_array_equal(idx.numpy(), expected)
    vals, ind = Genred("SqDist(x, y)", ["x = Vi(3)", "y = Vj(3)"], reduction_op="Min_ArgMin",
                       axis=1)(x, y)
    assert vals.requires_grad and not ind.requires_grad
    (gx,) = torch.autograd.grad(vals.sum(), x)
    dense = (2 * (x - y[ind[:, 0]])).detach()
    assert_close(gx, dense, "float64")


def test_batched_gradients_sum_over_broadcast_dims():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 5, 3, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.randn(3, 4, 3, dtype=torch.float64, generator=g, requires_grad=True)
    s = torch.rand(2, 1, 1, dtype=torch.float64, generator=g, requires_grad=True)
    op = Genred("Exp(-s * SqDist(x, y))", ["x = Vi(3)", "y = Vj(3)", "s = Pm(1)"], axis=1)
    a = op(x, y, s)
    assert a.shape == (2, 3, 5, 1)
    d2 = ((x[..., :, None, :] - y[None, :, None, :, :]) ** 2).sum(-1)
    dense = torch.exp(-s[..., None] * d2).sum(-1, keepdim=True)
    assert_close(a.detach(), dense.detach(), "float64")
    for got, expected in zip(torch.autograd.grad(a.sum(), (x, y, s)),
                             torch.autograd.grad(dense.sum(), (x, y, s))):
        assert got.shape == expected.shape
        assert_close(got, expected, "float64")


def _func_case():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(4, 2, dtype=torch.float64, generator=g)
    y = torch.randn(5, 2, dtype=torch.float64, generator=g)
    b = torch.randn(5, 1, dtype=torch.float64, generator=g)
    op = Genred("Exp(-SqDist(x, y)) * b", ["x = Vi(2)", "y = Vj(2)", "b = Vj(1)"], axis=1)

    def keops(x, y, b):
        return op(x, y, b).square().sum()

    def dense(x, y, b):
        return (torch.exp(-((x[:, None] - y[None]) ** 2).sum(-1)) @ b).square().sum()

    return (x, y, b), keops, dense


@pytest.mark.parametrize("transform", ["grad", "vjp", "jvp", "jacrev", "jacfwd", "hessian"])
def test_torch_func_transforms(transform):
    args, keops, dense = _func_case()
    tangents = tuple(torch.randn_like(a) for a in args)
    run = {
        "grad": lambda f: torch.func.grad(f, argnums=(0, 1, 2))(*args),
        "vjp": lambda f: torch.func.vjp(f, *args)[1](torch.tensor(1.0, dtype=torch.float64)),
        "jvp": lambda f: torch.func.jvp(f, args, tangents)[1],
        "jacrev": lambda f: torch.func.jacrev(f, argnums=(0, 1, 2))(*args),
        "jacfwd": lambda f: torch.func.jacfwd(f, argnums=(0, 1, 2))(*args),
        "hessian": lambda f: torch.func.hessian(f)(*args),
    }[transform]
    got, expected = run(keops), run(dense)
    for g, e in zip(torch.utils._pytree.tree_leaves(got), torch.utils._pytree.tree_leaves(expected)):
        assert_close(g.detach(), e.detach(), "float64")


def test_vmap_maps_a_batch_dim():
    g = torch.Generator().manual_seed(6)
    x = torch.randn(3, 4, 2, dtype=torch.float64, generator=g)
    y = torch.randn(5, 2, dtype=torch.float64, generator=g)
    op = Genred("Exp(-SqDist(x, y))", ["x = Vi(2)", "y = Vj(2)"], axis=1)
    got = torch.func.vmap(lambda x: op(x, y))(x)
    expected = torch.exp(-((x[:, :, None] - y[None, None]) ** 2).sum(-1)).sum(-1, keepdim=True)
    assert got.shape == (3, 4, 1)
    assert_close(got, expected, "float64")
    got = torch.func.vmap(lambda y: op(x[0], y), in_dims=1)(torch.stack([y, 2 * y], dim=1))
    assert got.shape == (2, 4, 1)


def test_no_autograd_graph_without_gradients():
    x, y, b, s = tensors(requires_grad=False)
    op = Genred(GAUSS, ALIASES, axis=1)
    assert op(x, y, b, s).grad_fn is None
    x.requires_grad_(True)
    assert op(x, y, b, s).grad_fn is not None
    with torch.no_grad():
        assert op(x, y, b, s).grad_fn is None


def test_cpu_arrays_are_used_in_place():
    x, y, b, s = tensors(requires_grad=False)
    op = Genred(GAUSS, ALIASES, axis=1)
    views = op._core._op.argument_views([x, y, b, s])
    assert [v[0] for v in views] == [t.data_ptr() for t in (x, y, b, s)]
    assert [v[1:3] for v in views] == [(6, 3), (7, 3), (7, 2), (1, 1)]
    out = torch.empty(6, 2, dtype=torch.float64)
    pointer = out.data_ptr()
    assert op(x, y, b, s, out=out).data_ptr() == pointer
    assert_close(out, dense_gauss(x, y, b, s), "float64")


def test_torch_errors():
    x, y, b, s = tensors(requires_grad=False)
    op = Genred(GAUSS, ALIASES, axis=1)
    with pytest.raises(TypeError, match=r"argument 2 \(b\): expected an array of float64"):
        op(x, y, b.float(), s)
    with pytest.raises(TypeError, match="takes PyTorch tensors"):
        op(x.numpy(), y, b, s)
    with pytest.raises(ValueError, match="Input arrays must be all located on the same device"):
        op(x, y, b, s.to("meta"))
    with pytest.raises(ValueError, match="Genred: the arguments. batch dims"):
        Genred("SqDist(x, y)", ["x = Vi(3)", "y = Vj(3)"], axis=1)(
            torch.zeros(2, 4, 3), torch.zeros(3, 4, 3))


def test_non_contiguous_tensors_are_copied_with_a_warning():
    x, y, b, s = tensors(requires_grad=False)
    op = Genred(GAUSS, ALIASES, axis=1)
    xt = x.t().contiguous().t()
    with pytest.warns(pykeops.KeOpsWarning, match="not contiguous"):
        assert_close(op(xt, y, b, s), op(x, y, b, s), "float64")


def test_batch_dims_of_any_rank():
    g = torch.Generator().manual_seed(9)
    x = torch.randn(2, 1, 3, 1, 2, 4, 3, dtype=torch.float64, generator=g)  # 5 batch dims
    y = torch.randn(1, 2, 1, 1, 1, 5, 3, dtype=torch.float64, generator=g)
    op = Genred("Exp(-SqDist(x, y))", ["x = Vi(3)", "y = Vj(3)"], axis=1)
    got = op(x, y)
    assert got.shape == (2, 2, 3, 1, 2, 4, 1)
    d2 = ((x[..., :, None, :] - y[..., None, :, :]) ** 2).sum(-1)
    assert_close(got, torch.exp(-d2).sum(-1, keepdim=True), "float64")
