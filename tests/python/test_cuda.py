"""pykeops.torch on CUDA tensors: results, gradients, streams, arrays used in place (skipped,
saying why, where no GPU is usable; run on the GPU machine)."""

import pytest
import torch
from conftest import assert_close, torch_cuda_or_skip

import pykeops
from pykeops.torch import Genred, KernelSolve, LazyTensor

ALIASES = ["x = Vi(3)", "y = Vj(3)", "b = Vj(2)"]
GAUSS = "Exp(-SqDist(x, y)) * b"


@pytest.fixture(autouse=True)
def cuda():
    torch_cuda_or_skip()


def data(m=1000, n=1500, dtype=torch.float32, device="cuda"):
    g = torch.Generator().manual_seed(0)
    x, y, b = (torch.randn(r, c, generator=g, dtype=torch.float64) for r, c in
               ((m, 3), (n, 3), (n, 2)))
    return [t.to(device=device, dtype=dtype) for t in (x, y, b)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", ["Sum", "LogSumExp", "ArgKMin", "Min_ArgMin"])
def test_reductions_on_cuda_tensors(dtype, reduction):
    x, y, b = data(dtype=dtype)
    formula, aliases, kwargs = {
        "Sum": (GAUSS, ALIASES, {}),
        "LogSumExp": ("-SqDist(x, y)", ALIASES[:2], {}),
        "ArgKMin": ("SqDist(x, y)", ALIASES[:2], {"opt_arg": 5}),
        "Min_ArgMin": ("SqDist(x, y)", ALIASES[:2], {}),
    }[reduction]
    op = Genred(formula, aliases, reduction_op=reduction, axis=1, **kwargs)
    args = (x, y, b)[: len(aliases)]
    got = op(*args)
    expected = op(*(a.cpu().double() for a in args), backend="CPU")
    for g, e in zip(got if isinstance(got, tuple) else (got,),
                    expected if isinstance(expected, tuple) else (expected,)):
        assert g.is_cuda
        if e.dtype == torch.int64:
            assert g.dtype == torch.int64
            assert (g.cpu() == e).float().mean() > 0.99  # float32 near-ties may swap
        else:
            assert_close(g.cpu(), e, str(dtype)[6:], scale=10)


def test_cuda_tensors_are_used_in_place():
    x, y, b = data()
    op = Genred(GAUSS, ALIASES, axis=1)
    views = op._core._op.argument_views([x, y, b])
    assert [v[0] for v in views] == [t.data_ptr() for t in (x, y, b)]
    assert all(v[3] == x.device.index for v in views)
    out = torch.empty(len(x), 2, device="cuda")
    pointer = out.data_ptr()
    assert op(x, y, b, out=out).data_ptr() == pointer
    assert_close(out.cpu(), op(x.cpu(), y.cpu(), b.cpu(), backend="CPU"), "float32", scale=10)


def test_gradients_on_cuda_match_the_cpu():
    x, y, b = data(m=300, n=400, dtype=torch.float64)
    for formula, reduction in ((GAUSS, "Sum"), ("-SqDist(x, y) + b", "LogSumExp")):
        aliases = ALIASES if reduction == "Sum" else ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)"]
        bb = b if reduction == "Sum" else b[:, :1].contiguous()
        op = Genred(formula, aliases, reduction_op=reduction, axis=1)
        grads = []
        for device in ("cuda", "cpu"):
            args = [t.detach().to(device).requires_grad_(True) for t in (x, y, bb)]
            a = op(*args)
            grads.append(torch.autograd.grad((a * a).sum(), args))
        for g_cuda, g_cpu in zip(*grads):
            assert g_cuda.is_cuda
            assert_close(g_cuda.cpu(), g_cpu, "float64")


def test_work_on_a_side_stream_is_waited_for():
    op = Genred(GAUSS, ALIASES, axis=1)
    x, y, b = data(m=4096, n=200000)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        for _ in range(20):  # queue work that writes b on the side stream
            b.mul_(1.0)
        b.zero_()
        got = op(x, y, b)
        assert float(got.abs().max()) == 0.0


@pytest.mark.parametrize("side_stream", [False, True])
def test_calls_are_queued_on_the_current_stream(side_stream):
    op = Genred(GAUSS, ALIASES, axis=1)
    x, y, b = data(m=4096, n=20000)
    expected = op(x, y, b).cpu()  # compiled, and waited for
    stream = torch.cuda.Stream() if side_stream else torch.cuda.default_stream()
    with torch.cuda.stream(stream):
        torch.cuda._sleep(200_000_000)  # some 0.1 s of GPU work ahead of the call
        got = op(x, y, b)
        assert not stream.query()  # the call returned before that work was done
    stream.synchronize()
    assert torch.equal(got.cpu(), expected)


def test_lazytensors_and_solves_on_cuda():
    x, y, b = data(m=500, n=500, dtype=torch.float64)
    K = (-((LazyTensor(x[:, None]) - LazyTensor(x[None])) ** 2).sum(-1)).exp()
    got = K @ b
    dense = torch.exp(-((x[:, None] - x[None]) ** 2).sum(-1)) @ b
    assert got.is_cuda
    assert_close(got.cpu(), dense.cpu(), "float64")
    solve = KernelSolve("Exp(-SqDist(x, y)) * b", ["x = Vi(3)", "y = Vj(3)", "b = Vj(2)"], "b",
                        axis=1)
    a = solve(x, x, b, alpha=1.0, eps=1e-10)
    assert a.is_cuda
    assert_close((K @ a + a).cpu(), b.cpu(), "float64", scale=1e3)


def test_cuda_errors():
    x, y, b = data()
    op = Genred(GAUSS, ALIASES, axis=1)
    with pytest.raises(ValueError, match="in GPU memory, but this Genred runs on the CPU"):
        op(x, y, b, backend="CPU")
    with pytest.raises(TypeError, match=r"argument 1 \(y\): expected an array of float16"):
        op(x.half(), y, b.half())
    with pytest.raises(ValueError, match="same device"):
        op(x, y.cpu(), b)
    if torch.cuda.device_count() == 1:
        with pytest.raises(ValueError, match="is on GPU 0, but the call runs on GPU 1"):
            op(x, y, b, device_id=1)
    assert pykeops.config.gpu_available
