"""keops's tensor_cores and matmul_precision options through pykeops: checked names, the same
results on the CPU, and on CUDA (skipped, saying why, without a GPU) the CUDA cores' results."""

import numpy as np
import pytest
import torch
from conftest import torch_cuda_or_skip

from pykeops.numpy import Genred as NumpyGenred
from pykeops.torch import Genred, LazyTensor

ALIASES = ["x = Vi(64)", "y = Vj(64)", "b = Vj(4)"]
GAUSS = "Exp(-SqDist(x, y) * IntInv(16)) * b"


def points(m=300, n=200, dtype=np.float32):
    rng = np.random.default_rng(0)
    return [rng.random(shape).astype(dtype) for shape in ((m, 64), (n, 64), (n, 4))]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"tensor_cores": "yes"}, "invalid value 'yes' for option tensor_cores: should be one of "
                                  "'auto', 'on', 'off'"),
        ({"matmul_precision": "bf16"}, "invalid value 'bf16' for option matmul_precision: should "
                                       "be one of 'float32', 'tf32'"),
    ],
)
def test_bad_names_are_value_errors(kwargs, message):
    with pytest.raises(ValueError) as error:
        NumpyGenred(GAUSS, ALIASES, reduction_op="Sum", axis=1, **kwargs)
    assert str(error.value) == message


def test_the_cpu_ignores_them():
    x, y, b = points()
    plain = NumpyGenred(GAUSS, ALIASES, reduction_op="Sum", axis=1)(x, y, b, backend="CPU")
    for mode in ("on", "off"):
        for precision in ("float32", "tf32"):
            op = NumpyGenred(GAUSS, ALIASES, reduction_op="Sum", axis=1, tensor_cores=mode,
                             matmul_precision=precision)
            assert np.array_equal(op(x, y, b, backend="CPU"), plain)


@pytest.mark.parametrize("reduction, formula, opt_arg", [
    ("Sum", GAUSS, None),
    ("ArgKMin", "SqDist(x, y)", 7),
    ("LogSumExp", "-SqDist(x, y) * IntInv(16)", None),
])
def test_cuda_tensors_on_the_matrix_units(reduction, formula, opt_arg):
    torch_cuda_or_skip()
    x, y, b = (torch.from_numpy(a).cuda() for a in points(1003, 517))
    aliases = ALIASES if "b" in formula else ALIASES[:2]
    args = (x, y, b)[: len(aliases)]
    got, off = (Genred(formula, aliases, reduction_op=reduction, axis=1, opt_arg=opt_arg,
                       tensor_cores=mode)(*args) for mode in ("on", "off"))
    want = Genred(formula, aliases, reduction_op=reduction, axis=1, opt_arg=opt_arg)(
        *(a.cpu().double() for a in args), backend="CPU")
    if reduction == "ArgKMin":
        assert (got.cpu() == want).float().mean() > 0.99  # float32 near-ties may swap
        assert (got == off).float().mean() > 0.99
    else:
        scale = want.abs().max()
        assert (got.cpu().double() - want).abs().max() <= 1e-5 * scale


def test_lazytensor_reductions_and_gradients_take_them():
    torch_cuda_or_skip()
    x, y, b = (torch.from_numpy(a).cuda() for a in points(800, 900))
    x.requires_grad_(True)
    results = []
    for mode in ("on", "off"):
        x_i, y_j, b_j = LazyTensor(x[:, None, :]), LazyTensor(y[None, :, :]), LazyTensor(b[None])
        k = (-((x_i - y_j) ** 2).sum(-1) / 16).exp()
        out = (k * b_j).sum(dim=1, tensor_cores=mode)
        (grad,) = torch.autograd.grad((out ** 2).sum(), [x])
        results.append((out, grad))
    (out_on, grad_on), (out_off, grad_off) = results
    assert (out_on - out_off).abs().max() <= 1e-5 * out_off.abs().max()
    assert (grad_on - grad_off).abs().max() <= 1e-4 * grad_off.abs().max()
