"""LazyTensor (PyTorch and NumPy): every operation and reduction against the dense computation
it stands for, shapes, transposition, symbolic variables, complex numbers and errors."""

import math

import numpy as np
import pytest
import torch
from conftest import assert_close

from pykeops.numpy import LazyTensor as NumpyLazyTensor
from pykeops.torch import LazyTensor, Pm, Vi, Vj

M, N, D = 5, 7, 3
G = torch.Generator().manual_seed(11)
X = torch.rand(M, D, dtype=torch.float64, generator=G) + 0.1
Y = torch.rand(N, D, dtype=torch.float64, generator=G) + 0.1
U = torch.rand(M, 1, dtype=torch.float64, generator=G) + 0.1
V = torch.rand(N, 1, dtype=torch.float64, generator=G) + 0.1
P = torch.rand(D, dtype=torch.float64, generator=G) + 0.1


def lazy():
    return Vi(X), Vj(Y), Vi(U), Vj(V), Pm(P)


def dense():
    return X[:, None, :], Y[None, :, :], U[:, None, :], V[None, :, :], P


# (name, lazy formula, dense formula) over (x, y, u, v, p): x, y of dim D, u, v of dim 1.
CASES = [
    ("add", lambda x, y, u, v, p: x + y, lambda x, y, u, v, p: x + y),
    ("radd", lambda x, y, u, v, p: 2.5 + x * y, lambda x, y, u, v, p: 2.5 + x * y),
    ("sub", lambda x, y, u, v, p: x - y, lambda x, y, u, v, p: x - y),
    ("rsub", lambda x, y, u, v, p: 1 - y * u, lambda x, y, u, v, p: 1 - y * u),
    ("mul", lambda x, y, u, v, p: x * y, lambda x, y, u, v, p: x * y),
    ("rmul int", lambda x, y, u, v, p: 3 * (x * v), lambda x, y, u, v, p: 3 * x * v),
    ("div", lambda x, y, u, v, p: x / y, lambda x, y, u, v, p: x / y),
    ("rdiv", lambda x, y, u, v, p: 2 / (x + y), lambda x, y, u, v, p: 2 / (x + y)),
    ("neg abs", lambda x, y, u, v, p: abs(-(x - y)), lambda x, y, u, v, p: (x - y).abs()),
    ("pow int", lambda x, y, u, v, p: (x - y) ** 3, lambda x, y, u, v, p: (x - y) ** 3),
    ("square", lambda x, y, u, v, p: (x - y) ** 2, lambda x, y, u, v, p: (x - y) ** 2),
    ("sqrt", lambda x, y, u, v, p: (x + y) ** 0.5, lambda x, y, u, v, p: (x + y).sqrt()),
    ("rsqrt", lambda x, y, u, v, p: (x + y) ** -0.5, lambda x, y, u, v, p: (x + y).rsqrt()),
    ("powf float", lambda x, y, u, v, p: (x + y) ** 1.7, lambda x, y, u, v, p: (x + y) ** 1.7),
    ("powf lazy", lambda x, y, u, v, p: (x + y) ** u, lambda x, y, u, v, p: (x + y) ** u),
    ("power", lambda x, y, u, v, p: (x + y).power(2), lambda x, y, u, v, p: (x + y) ** 2),
    ("exp log", lambda x, y, u, v, p: (x * y).exp().log(), lambda x, y, u, v, p: x * y),
    ("xlogx", lambda x, y, u, v, p: (x + y).xlogx(), lambda x, y, u, v, p: (x + y) * (x + y).log()),
    ("sin cos", lambda x, y, u, v, p: (x - y).sin() + (x * y).cos(),
     lambda x, y, u, v, p: (x - y).sin() + (x * y).cos()),
    ("sinxdivx", lambda x, y, u, v, p: (x - y).sinxdivx(),
     lambda x, y, u, v, p: torch.sin(x - y) / (x - y)),
    ("sinc", lambda x, y, u, v, p: (x - y).sinc(), lambda x, y, u, v, p: torch.sinc(x - y)),
    ("asin acos atan", lambda x, y, u, v, p: (x * y / 4).asin() + (x * y / 4).acos() + y.atan() * x,
     lambda x, y, u, v, p: torch.asin(x * y / 4) + torch.acos(x * y / 4) + torch.atan(y) * x),
    ("atan2", lambda x, y, u, v, p: (x - 0.5).atan2(y - 0.5),
     lambda x, y, u, v, p: torch.atan2(x - 0.5, y - 0.5)),
    ("sign step relu", lambda x, y, u, v, p: (x - y).sign() + (x - y).step() + (x - y).relu(),
     lambda x, y, u, v, p: torch.sign(x - y) + (x - y >= 0).double() + torch.relu(x - y)),
    ("comparisons", lambda x, y, u, v, p: (x < y) + (x > y) * 2 + (x <= y) * 4 + (x >= y) * 8,
     lambda x, y, u, v, p: ((x < y) + (x > y) * 2 + (x <= y) * 4 + (x >= y) * 8).double()),
    ("eq ne", lambda x, y, u, v, p: (x == x) + (x != y) * 2,
     lambda x, y, u, v, p: (3.0 * torch.ones_like(x * y))),
    ("clamp", lambda x, y, u, v, p: (x - y).clamp(-0.2, 0.3),
     lambda x, y, u, v, p: (x - y).clamp(-0.2, 0.3)),
    ("clampint", lambda x, y, u, v, p: (5 * (x - y)).clamp(-1, 2),
     lambda x, y, u, v, p: (5 * (x - y)).clamp(-1, 2)),
    ("ifelse", lambda x, y, u, v, p: (x - y).ifelse(x, y),
     lambda x, y, u, v, p: torch.where(x - y >= 0, x, y)),
    ("mod", lambda x, y, u, v, p: (7 * (x - y)).mod(1.5, 0.25),
     lambda x, y, u, v, p: torch.remainder(7 * (x - y) - 0.25, 1.5) + 0.25),
    ("round", lambda x, y, u, v, p: (10 * (x - y)).round(1),
     lambda x, y, u, v, p: torch.round(10 * (x - y), decimals=1)),
    ("sqnorm2 norm2", lambda x, y, u, v, p: (x - y).sqnorm2() + (x - y).norm2() + (x - y).norm(-1),
     lambda x, y, u, v, p: ((x - y) ** 2).sum(-1, keepdim=True) + 2 * (x - y).norm(dim=-1, keepdim=True)),
    ("normalize", lambda x, y, u, v, p: (x - y).normalize(),
     lambda x, y, u, v, p: (x - y) / (x - y).norm(dim=-1, keepdim=True)),
    ("sqdist", lambda x, y, u, v, p: x.sqdist(y), lambda x, y, u, v, p: ((x - y) ** 2).sum(-1, keepdim=True)),
    ("scalar product", lambda x, y, u, v, p: (x | y), lambda x, y, u, v, p: (x * y).sum(-1, keepdim=True)),
    ("weightedsqnorm diag", lambda x, y, u, v, p: (x - y).weightedsqnorm(p),
     lambda x, y, u, v, p: (p * (x - y) ** 2).sum(-1, keepdim=True)),
    ("weightedsqdist iso", lambda x, y, u, v, p: x.weightedsqdist(y, v),
     lambda x, y, u, v, p: v * ((x - y) ** 2).sum(-1, keepdim=True)),
    ("sum min max", lambda x, y, u, v, p: (x * y).sum(-1) + (x * y).min(-1) + (x * y).max(-1),
     lambda x, y, u, v, p: (x * y).sum(-1, keepdim=True) + (x * y).amin(-1, keepdim=True)
     + (x * y).amax(-1, keepdim=True)),
    ("argmin argmax", lambda x, y, u, v, p: (x * y).argmin(-1) + 10 * (x * y).argmax(-1),
     lambda x, y, u, v, p: ((x * y).argmin(-1, keepdim=True) + 10 * (x * y).argmax(-1, keepdim=True)).double()),
    ("elem getitem", lambda x, y, u, v, p: x.elem(1) * y[2] + x[:, :, 0],
     lambda x, y, u, v, p: x[..., 1:2] * y[..., 2:3] + x[..., 0:1]),
    ("extract slice", lambda x, y, u, v, p: x.extract(1, 2) - y[0:2],
     lambda x, y, u, v, p: x[..., 1:3] - y[..., 0:2]),
    ("concat", lambda x, y, u, v, p: x.concat(v), lambda x, y, u, v, p: torch.cat(torch.broadcast_tensors(x, v.expand(1, N, 1))[0:1] + (v.expand(M, N, 1),), -1)),
    ("concatenate", lambda x, y, u, v, p: LazyTensor.concatenate((u, v, x)),
     lambda x, y, u, v, p: torch.cat((u.expand(M, N, 1), v.expand(M, N, 1), x.expand(M, N, D)), -1)),
    ("one_hot", lambda x, y, u, v, p: (3 * u * v).one_hot(4),
     lambda x, y, u, v, p: torch.nn.functional.one_hot(torch.round(3 * u * v)[..., 0].long(), 4).double()),
    ("matvecmult", lambda x, y, u, v, p: x.concat(y).concat(x).matvecmult(y),
     lambda x, y, u, v, p: (torch.cat((x.expand(M, N, D), y.expand(M, N, D), x.expand(M, N, D)), -1)
                            .reshape(M, N, 3, D) @ y.expand(M, N, D)[..., None])[..., 0]),
    ("vecmatmult", lambda x, y, u, v, p: y.vecmatmult(x.concat(y).concat(x)),
     lambda x, y, u, v, p: (y.expand(M, N, D)[..., None, :] @ torch.cat(
         (x.expand(M, N, D), y.expand(M, N, D), x.expand(M, N, D)), -1).reshape(M, N, D, 3))[..., 0, :]),
    ("tensorprod", lambda x, y, u, v, p: x.tensorprod(y),
     lambda x, y, u, v, p: (x[..., :, None] * y[..., None, :]).reshape(M, N, D * D)),
    ("keops_tensordot", lambda x, y, u, v, p: x.keops_tensordot(y, (D,), (D,), (0,), (0,)),
     lambda x, y, u, v, p: (x * y).sum(-1, keepdim=True)),
    ("keops_kron", lambda x, y, u, v, p: x.keops_kron(y, [D], [D]),
     lambda x, y, u, v, p: (x[..., :, None] * y[..., None, :]).reshape(M, N, D * D)),
    ("difference_matrix", lambda x, y, u, v, p: x.difference_matrix(y),
     lambda x, y, u, v, p: (x[..., :, None] - y[..., None, :]).reshape(*torch.broadcast_shapes(
         x.shape[:-1], y.shape[:-1]), D * D)),
    ("parameter", lambda x, y, u, v, p: x * p - y, lambda x, y, u, v, p: x * p - y),
    ("float list", lambda x, y, u, v, p: y * LazyTensor([1.0, 2.0, 3.0]) + x,
     lambda x, y, u, v, p: y * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64) + x),
]


@pytest.mark.parametrize("name, lazy_f, dense_f", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("axis", [0, 1])
def test_operations_match_dense(name, lazy_f, dense_f, axis):
    got = lazy_f(*lazy()).sum(axis)
    expected = dense_f(*dense())
    expected = expected.expand(M, N, expected.shape[-1]).sum(axis)
    assert_close(got, expected, "float64")


@pytest.mark.parametrize("name", ["sum", "min", "max", "logsumexp", "Kmin", "argmin", "argmax",
                                  "argKmin", "min_argmin", "max_argmax", "Kmin_argKmin",
                                  "sumsoftmaxweight", "logsumexp weight"])
def test_reductions_match_dense(name):
    x, y, u, v, _ = lazy()
    F = (x - y).sqnorm2()
    d = ((X[:, None] - Y[None]) ** 2).sum(-1)  # (M, N)
    w = V[None, :, 0].expand(M, N)
    k = 3
    run = {
        "sum": lambda: (F.sum(1), d.sum(1, keepdim=True)),
        "min": lambda: (F.min(1), d.min(1, keepdim=True).values),
        "max": lambda: (F.max(dim=0), d.max(0, keepdim=True).values.t()),
        "logsumexp": lambda: (F.logsumexp(1), torch.logsumexp(d, 1, keepdim=True)),
        "logsumexp weight": lambda: (F.logsumexp(1, weight=v),
                                     torch.logsumexp(d + w.log(), 1, keepdim=True)),
        "sumsoftmaxweight": lambda: (F.sumsoftmaxweight(v, axis=1),
                                     (torch.softmax(d, 1) * w).sum(1, keepdim=True)),
        "Kmin": lambda: (F.Kmin(k, dim=1), d.sort(1).values[:, :k]),
        "argmin": lambda: (F.argmin(1), d.argmin(1, keepdim=True)),
        "argmax": lambda: (F.argmax(0), d.argmax(0, keepdim=True).t()),
        "argKmin": lambda: (F.argKmin(k, 1), d.sort(1).indices[:, :k]),
        "min_argmin": lambda: (F.min_argmin(1), (d.min(1, keepdim=True).values,
                                                 d.argmin(1, keepdim=True))),
        "max_argmax": lambda: (F.max_argmax(axis=1), (d.max(1, keepdim=True).values,
                                                      d.argmax(1, keepdim=True))),
        "Kmin_argKmin": lambda: (F.Kmin_argKmin(k, 1), (d.sort(1).values[:, :k],
                                                        d.sort(1).indices[:, :k])),
    }[name]
    got, expected = run()
    for g, e in zip(got if isinstance(got, tuple) else (got,),
                    expected if isinstance(expected, tuple) else (expected,)):
        assert g.shape == e.shape and g.dtype == e.dtype
        if e.dtype == torch.int64:
            assert torch.equal(g, e)
        else:
            assert_close(g, e, "float64")


def test_shapes_and_attributes():
    x, y, u, v, p = lazy()
    K = (-(x - y).sqnorm2()).exp()
    assert K.shape == (M, N) and K._shape == (M, N, 1) and K.dim() == 3 and K.ndim == 1
    assert (x - y).shape == (M, N, D)
    assert x.shape == (M, 1, D) and p.shape == (1, 1, D)
    assert K.dtype == "float64" and K.nbatchdims == 0
    text = str(K)
    assert "KeOps LazyTensor" in text
    assert "formula: Exp(Minus(SqNorm2((Var(0,3,0) - Var(1,3,1)))))" in text
    with pytest.raises(ValueError, match="Incompatible values for attribute ni"):
        Vi(X) + Vi(U[:3])


def test_transpose_and_matrix_products():
    x, y, _, _, _ = lazy()
    K = (-(x - y).sqnorm2()).exp()
    Kd = torch.exp(-((X[:, None] - Y[None]) ** 2).sum(-1))
    b = torch.rand(N, 2, dtype=torch.float64, generator=G)
    c = torch.rand(M, dtype=torch.float64, generator=G)
    assert_close(K @ b, Kd @ b, "float64")
    assert_close(K.matvec(b), Kd @ b, "float64")
    assert_close(K.T @ c, Kd.t() @ c, "float64")
    assert_close(K.rmatvec(c), Kd.t() @ c, "float64")
    assert K.t().shape == (N, M)
    with pytest.raises(ValueError, match="trailing dimension is equal to 1"):
        (x - y) @ b


def test_batch_dims_broadcast():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(2, 1, M, 1, D, dtype=torch.float64, generator=g)
    y = torch.rand(1, 3, 1, N, D, dtype=torch.float64, generator=g)
    s = torch.rand(2, 3, 1, 1, 1, dtype=torch.float64, generator=g)
    K = (-LazyTensor(s) * (LazyTensor(x) - LazyTensor(y)).sqnorm2()).exp()
    assert K.shape == (2, 3, M, N) and K.nbatchdims == 2
    got = K.sum(3)
    expected = torch.exp(-s[..., 0] * ((x - y) ** 2).sum(-1)).sum(3)[..., None]
    assert got.shape == (2, 3, M, 1)
    assert_close(got, expected, "float64")
    with pytest.raises(ValueError, match="equal to the number of batch dimensions"):
        K.sum(1)


def test_symbolic_variables_and_call_false():
    a = LazyTensor((0, D, 0))
    b = LazyTensor((1, D, 1))
    F = (-(a - b).sqnorm2()).exp().sum(axis=1)
    assert callable(F)
    expected = torch.exp(-((X[:, None] - Y[None]) ** 2).sum(-1)).sum(1, keepdim=True)
    assert_close(F(X, Y), expected, "float64")
    deferred = (-(Vi(X) - Vj(Y)).sqnorm2()).exp().sum(1, call=False)
    assert_close(deferred(), expected, "float64")
    with pytest.raises(ValueError, match="may be called only if it corresponds to the output"):
        (Vi(X) - Vj(Y))()


def test_derivative_operations():
    x, y, u, v, _ = lazy()
    e = Vi(torch.rand(M, 1, dtype=torch.float64, generator=G))
    F = (-(x - y).sqnorm2()).exp()
    gx = F.grad(x, e).sum(1)
    xg = X.clone().requires_grad_(True)
    dense_F = torch.exp(-((xg[:, None] - Y[None]) ** 2).sum(-1))
    (expected,) = torch.autograd.grad((dense_F * e.variables[0].value).sum(), xg)
    assert_close(gx, expected, "float64")
    dx = Vi(torch.rand(M, D, dtype=torch.float64, generator=G))
    diff = F.diff(x, dx).sum(1)
    h = 1e-6

    def dense_at(t):
        moved = X + t * dx.variables[0].value
        return torch.exp(-((moved[:, None] - Y[None]) ** 2).sum(-1)).sum(1, keepdim=True)

    assert_close(diff, (dense_at(h) - dense_at(-h)) / (2 * h), "float64", scale=1e3)
    lap = F.laplacian(x).sum(1)
    div = (x - y).divergence(x).sum(1)
    assert_close(div, torch.full((M, 1), float(N * D), dtype=torch.float64), "float64")
    r2 = ((X[:, None] - Y[None]) ** 2).sum(-1)
    expected_lap = (torch.exp(-r2) * (4 * r2 - 2 * D)).sum(1, keepdim=True)
    assert_close(lap, expected_lap, "float64")
    gm = (x * y).sum(-1).grad_matrix(x).sum(1)
    assert_close(gm, Y.sum(0).expand(M, D), "float64")


def test_solve_matches_dense_solve():
    x = Vi(X)
    xj = Vj(X)
    K = (-(x - xj).sqnorm2() / 0.5).exp()
    b = torch.rand(M, 2, dtype=torch.float64, generator=G)
    a = K.solve(Vi(b), alpha=0.1, eps=1e-10)
    Kd = torch.exp(-((X[:, None] - X[None]) ** 2).sum(-1) / 0.5)
    expected = torch.linalg.solve(0.1 * torch.eye(M, dtype=torch.float64) + Kd, b)
    assert_close(a, expected, "float64", scale=1e3)


def test_complex_lazytensors():
    g = torch.Generator().manual_seed(8)
    z = torch.randn(M, 1, 2, dtype=torch.complex128, generator=g)
    w = torch.randn(1, N, 2, dtype=torch.complex128, generator=g)
    Z, W = LazyTensor(z), LazyTensor(w)
    assert Z.dtype == "complex128" and Z.shape == (M, 1, 2)
    got = (Z * W).exp().sum(1)
    expected = torch.exp(z * w).sum(1)
    assert got.dtype == torch.complex128
    assert_close(torch.view_as_real(got), torch.view_as_real(expected), "float64")
    got = (abs(Z - W) + (Z.conj() * W).real + Z.imag * W.angle()).sum(1)
    expected = (abs(z - w) + (z.conj() * w).real + z.imag * w.angle()).sum(1)
    assert_close(got, expected, "float64")
    phase = LazyTensor(X[:, None, :1]).exp1j() * W
    assert_close(torch.view_as_real(phase.sum(1)),
                 torch.view_as_real((torch.exp(1j * X[:, None, :1]) * w).sum(1)), "float64")


def test_numpy_lazytensor():
    x, y = X.numpy(), Y.numpy()
    K = (-(NumpyLazyTensor(x[:, None, :]) - NumpyLazyTensor(y[None, :, :])).sqnorm2()).exp()
    got = K.sum(1)
    assert isinstance(got, np.ndarray) and got.shape == (M, 1)
    expected = np.exp(-((x[:, None] - y[None]) ** 2).sum(-1)).sum(1, keepdims=True)
    assert_close(got, expected, "float64")
    idx = (NumpyLazyTensor(x[:, None, :]) - NumpyLazyTensor(y[None, :, :])).sqnorm2().argKmin(2, 1)
    np.testing.assert_array_equal(idx, np.argsort(((x[:, None] - y[None]) ** 2).sum(-1), 1)[:, :2])


def test_operation_errors():
    x, y, _, _, _ = lazy()
    with pytest.raises(ValueError, match="expects inputs of the same dimension or dimension 1"):
        x + Vj(torch.rand(N, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="Reductions must be called with 'axis'"):
        (x - y).sum(5)
    with pytest.raises(ValueError, match="'reduced' LazyTensor"):
        (x - y).sum(1, call=False) + x
    with pytest.raises(ValueError, match="out of bounds"):
        x.elem(D)
    with pytest.raises(ValueError, match="expects an explicit 'axis'"):
        LazyTensor(X)
    with pytest.raises(TypeError, match="LazyTensors should be built from"):
        LazyTensor("x")
    with pytest.raises(ValueError, match="stepsizes > 1"):
        x[::2]


def test_gradients_through_lazytensors():
    xg = X.clone().requires_grad_(True)
    yg = Y.clone().requires_grad_(True)
    s = torch.tensor([0.7], dtype=torch.float64, requires_grad=True)

    def f(xg, yg, s):
        return (-LazyTensor(s) * (Vi(xg) - Vj(yg)).sqnorm2()).exp().sum(1)

    assert torch.autograd.gradcheck(f, (xg, yg, s))
    assert torch.autograd.gradgradcheck(f, (xg, yg, s))


def test_long_vector_factorization_is_the_same_sum():
    b = torch.rand(N, 120, dtype=torch.float64, generator=G)
    x, y = Vi(X), Vj(Y)
    K = (-(x - y).sqnorm2()).exp()
    Kd = torch.exp(-((X[:, None] - Y[None]) ** 2).sum(-1))
    assert_close((K * Vj(b)).sum(0), Kd.sum(0)[:, None] * b, "float64")
    assert_close((K * Vj(b)).sum(1), Kd @ b, "float64")


def test_pi_constant_and_int_constants():
    x, y, _, _, _ = lazy()
    got = (math.pi * (x - y) + 2).sum(1)
    assert_close(got, (math.pi * (X[:, None] - Y[None]) + 2).sum(1), "float64")


def _soft_dtw(a, b, gamma):
    """Soft-DTW of the sequences a and b (squared differences), by its recursion."""
    n, m = len(a), len(b)
    R = np.full((n + 1, m + 1), np.inf)
    R[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            prev = np.array([R[i - 1, j - 1], R[i - 1, j], R[i, j - 1]])
            softmin = -gamma * np.log(np.exp(-prev / gamma).sum())
            R[i, j] = (a[i - 1] - b[j - 1]) ** 2 + softmin
    return R[n, m]


def test_linear_operators_and_special_functions():
    x, y, _, _, _ = lazy()
    v = LazyTensor((0, D, 0))
    trace = ((x - y) * v).trace_operator(v).sum(1)  # v disappears: no array for it
    assert_close(trace, (X[:, None] - Y[None]).sum(-1).sum(1, keepdim=True), "float64")
    F = (-(x - y).sqnorm2()).exp() * (x | y)
    dense = (torch.exp(-((X[:, None] - Y[None]) ** 2).sum(-1)) * (X @ Y.t())).sum(1, keepdim=True)
    assert_close(F.factorize(x).sum(1), dense, "float64")
    assert_close(F.auto_factorize().sum(1), dense, "float64")
    got = x.softdtw_sqdist(y, 0.5).sum(1)
    expected = [[sum(_soft_dtw(X[i].numpy(), Y[j].numpy(), 0.5) for j in range(N))] for i in range(M)]
    assert_close(got, torch.tensor(expected, dtype=torch.float64), "float64")
    knots = LazyTensor(torch.linspace(0, 1, 6, dtype=torch.float64))
    t = Vi(U / 2)
    splines = knots.bspline(t, 1).sum(1)  # degree-1 B-splines (hats); no j variable: one term
    h = torch.clamp(1 - (U / 2 - torch.linspace(0, 1, 6, dtype=torch.float64)[1:5]).abs() / 0.2, min=0)
    assert_close(splines, h, "float64")
