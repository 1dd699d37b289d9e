"""pykeops.numpy.Genred: every reduction on both axes against dense NumPy, options and errors."""

import pickle
import warnings

import numpy as np
import pytest
from conftest import assert_close
from dense import gaussian, reduce_dense, sqdist

import pykeops
from pykeops.numpy import Genred, generic_argkmin, generic_argmin, generic_logsumexp, generic_sum

ALIASES = ["x = Vi(3)", "y = Vj(3)", "b = Vj(2)"]
WEIGHTED = ("LogSumExpWeight", "SumSoftMaxWeight", "Max_SumShiftExpWeight")


def data(rng, dtype, m=13, n=17):
    x = rng.standard_normal((m, 3)).astype(dtype)
    y = rng.standard_normal((n, 3)).astype(dtype)
    b = rng.standard_normal((n, 2)).astype(dtype)
    return x, y, b


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize(
    "reduction",
    ["Sum", "Max", "Min", "ArgMax", "ArgMin", "Max_ArgMax", "Min_ArgMin", "KMin", "ArgKMin",
     "KMin_ArgKMin"],
)
def test_vector_reductions_match_numpy(rng, dtype, axis, reduction):
    x, y, b = data(rng, dtype)
    k = 4 if "KMin" in reduction else None
    # b of the reduced axis: a vector formula on both axes (x, y and b read at every pair).
    aliases = ["x = Vi(3)", "y = Vj(3)", f"b = {'Vj' if axis == 1 else 'Vi'}(2)"]
    b = b if axis == 1 else rng.standard_normal((x.shape[0], 2)).astype(dtype)
    op = Genred("Exp(-SqDist(x, y)) * b", aliases, reduction_op=reduction, axis=axis, opt_arg=k)
    got = op(x, y, b)
    F = gaussian(x.astype(float), y.astype(float), b.astype(float)) if axis == 1 else (
        np.exp(-sqdist(x.astype(float), y.astype(float))) * b.astype(float)[:, None, :]
    )
    expected = reduce_dense(F, reduction, axis, k=k)
    for g, e in zip(got if isinstance(got, tuple) else (got,),
                    expected if isinstance(expected, tuple) else (expected,)):
        if e.dtype.kind == "i":
            assert g.dtype == np.int64
            np.testing.assert_array_equal(g, e)
        else:
            assert g.dtype == np.dtype(dtype)
            assert_close(g, e, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize(
    "reduction",
    ["LogSumExp", "LogSumExpWeight", "SumSoftMaxWeight", "SoftMax", "Max_SumShiftExp",
     "Max_SumShiftExpWeight", "LogSumExp+weight"],
)
def test_exponential_reductions_match_numpy(rng, dtype, axis, reduction):
    x, y, _ = data(rng, dtype)
    g_rows = y.shape[0] if axis == 1 else x.shape[0]
    g = (rng.random((g_rows, 2)) + 0.5).astype(dtype)  # positive weights
    weighted = reduction in WEIGHTED + ("SoftMax", "LogSumExp+weight")
    name = "LogSumExp" if reduction == "LogSumExp+weight" else reduction
    aliases = ["x = Vi(3)", "y = Vj(3)", f"g = {'Vj' if axis == 1 else 'Vi'}(2)"]
    op = Genred("-SqDist(x, y)", aliases, reduction_op=name, axis=axis,
                formula2="g" if weighted else None)
    got = op(x, y, g)
    F = -sqdist(x.astype(float), y.astype(float))
    G = None
    if weighted:
        G = np.broadcast_to(g.astype(float)[None, :, :] if axis == 1 else g.astype(float)[:, None, :],
                            F.shape[:2] + (2,))
    assert_close(got, reduce_dense(F, name, axis, G=G), dtype)


def test_batch_dims_broadcast_as_numpy(rng):
    x = rng.standard_normal((2, 3, 5, 3))
    y = rng.standard_normal((3, 7, 3))  # broadcast over the first batch dim
    p = rng.random((2, 1, 1))  # a parameter per batch element of the first dim
    op = Genred("Exp(-p * SqDist(x, y))", ["x = Vi(3)", "y = Vj(3)", "p = Pm(1)"], axis=1)
    got = op(x, y, p)
    assert got.shape == (2, 3, 5, 1)
    d2 = ((x[:, :, :, None, :] - y[None, :, None, :, :]) ** 2).sum(-1)
    expected = np.exp(-p[..., None] * d2).sum(-1, keepdims=True)
    assert_close(got, expected, "float64")


def test_out_is_written_in_place(rng):
    x, y, b = data(rng, "float64")
    op = Genred("Exp(-SqDist(x, y)) * b", ALIASES, axis=1)
    out = np.full((x.shape[0], 2), np.nan)
    got = op(x, y, b, out=out)
    assert np.shares_memory(got, out)
    assert_close(out, reduce_dense(gaussian(x, y, b), "Sum", 1), "float64")
    with pytest.raises(ValueError, match="out has shape"):
        op(x, y, b, out=np.empty((3, 2)))


def test_parameters_as_vectors_and_rows(rng):
    x, y, _ = data(rng, "float64")
    op = Genred("Exp(-s * SqDist(x, y))", ["x = Vi(3)", "y = Vj(3)", "s = Pm(1)"], axis=1)
    expected = np.exp(-0.5 * sqdist(x, y)).sum(1)
    assert_close(op(x, y, np.array([0.5])), expected, "float64")
    assert_close(op(x, y, np.array([[0.5]])), expected, "float64")


@pytest.mark.parametrize("scheme", ["direct_sum", "block_sum", "kahan_scheme"])
@pytest.mark.parametrize("acc", [dict(), dict(use_double_acc=True), dict(dtype_acc="float64")])
def test_sum_schemes_and_accumulators(rng, scheme, acc):
    x, y, b = data(rng, "float32", m=50, n=3000)
    op = Genred("Exp(-SqDist(x, y)) * b", ALIASES, axis=1, sum_scheme=scheme, **acc)
    expected = reduce_dense(gaussian(x.astype(float), y.astype(float), b.astype(float)), "Sum", 1)
    assert_close(op(x, y, b), expected, "float32", scale=5)


def test_option_errors_as_pykeops():
    with pytest.raises(ValueError, match="cannot set both options use_double_acc and dtype_acc"):
        Genred("x", ["x = Vi(1)"], axis=1, use_double_acc=True, dtype_acc="float64")
    with pytest.raises(ValueError, match="dtype_acc should be set to 'auto' for no-sum"):
        Genred("x", ["x = Vi(1)"], reduction_op="Min", axis=1, dtype_acc="float64")
    with pytest.raises(ValueError, match="only valid for sum type reductions"):
        Genred("x", ["x = Vi(1)"], reduction_op="Max", axis=1, sum_scheme="kahan_scheme")
    with pytest.raises(ValueError, match="invalid value for option sum_scheme"):
        Genred("x", ["x = Vi(1)"], axis=1, sum_scheme="pairwise")
    with pytest.raises(ValueError, match="keops accumulates in float32 or float64"):
        Genred("x", ["x = Vi(1)"], axis=1, dtype_acc="float16")
    with pytest.raises(ValueError, match="unknown reduction 'Summ'"):
        Genred("x", ["x = Vi(1)"], reduction_op="Summ", axis=1)
    with pytest.raises(ValueError, match="axis must be 0"):
        Genred("x", ["x = Vi(1)"], axis=2)
    with pytest.raises(ValueError, match="needs K >= 1"):
        Genred("SqDist(x, y)", ["x = Vi(1)", "y = Vj(1)"], reduction_op="ArgKMin", axis=1)
    float32_acc = Genred("x", ["x = Vi(1)"], axis=1, dtype_acc="float32")
    with pytest.raises(ValueError, match="should be 'float64' when dtype is 'float64'"):
        float32_acc(np.ones((2, 1)))
    assert float32_acc(np.ones((2, 1), np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="only supported for reductions that yield values"):
        Genred("SqDist(x, y)", ["x = Vi(1)", "y = Vj(1)"], reduction_op="ArgMin", axis=1)(
            np.ones((2, 1)), np.ones((3, 1)), out=np.empty((2, 1)))
    with pytest.raises(TypeError, match="opt_arg"):
        Genred("SqDist(x, y)", ["x = Vi(1)", "y = Vj(1)"], reduction_op="KMin", axis=1,
               opt_arg=2.5)


def test_formula_errors_carry_the_column():
    with pytest.raises(pykeops.KeOpsError, match=r"unknown variable 'z'.*column 16") as info:
        Genred("Exp(-SqDist(x, z))", ["x = Vi(3)", "y = Vj(3)"], axis=1)
    assert isinstance(info.value, ValueError)
    with pytest.raises(ValueError, match="x = Vq"):
        Genred("x", ["x = Vq(3)"], axis=1)


def test_call_errors_name_the_argument(rng):
    x, y, b = data(rng, "float32")
    op = Genred("Exp(-SqDist(x, y)) * b", ALIASES, axis=1)
    with pytest.raises(ValueError, match=r"expected 3 argument\(s\), got 2"):
        op(x, y)
    with pytest.raises(ValueError, match=r"argument 1 \(y\) has 2 cols, but its dim is 3"):
        op(x, y[:, :2].copy(), b)
    with pytest.raises(ValueError, match=r"argument 2 \(b\) has 4 rows, but argument 1 \(y\)"):
        op(x, y, b[:4])
    with pytest.raises(TypeError, match=r"argument 1 \(y\): expected an array of float32"):
        op(x, y.astype(np.float64), b)
    with pytest.raises(TypeError, match="float16, bfloat16, float32 or float64 arrays"):
        op(x.astype(np.int32), y, b)
    with pytest.raises(TypeError, match=r"argument 1 \(y\): expected an array of float16"):
        op(x.astype(np.float16), y, b)
    with pytest.raises(TypeError, match="takes NumPy arrays"):
        op(x.tolist(), y, b)
    with pytest.raises(ValueError, match="invalid backend 'TPU'"):
        op(x, y, b, backend="TPU")
    with pytest.raises(ValueError, match="is a variable: expected an array of shape"):
        op(x[0], y, b)


def test_non_contiguous_inputs_are_copied_with_a_warning(rng):
    x, y, b = data(rng, "float64")
    op = Genred("Exp(-SqDist(x, y)) * b", ALIASES, axis=1)
    xt = np.asfortranarray(x)
    with pytest.warns(pykeops.KeOpsWarning, match="not contiguous"):
        got = op(xt, y, b)
    assert_close(got, op(x, y, b), "float64")
    pykeops.set_verbose(False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            op(xt, y, b)
    finally:
        pykeops.set_verbose(True)


def test_deprecated_dtype_arguments_warn_and_are_ignored(rng):
    x, y, b = data(rng, "float64")
    with pytest.warns(pykeops.KeOpsWarning, match="dtype in Genred is deprecated"):
        op = Genred("Exp(-SqDist(x, y)) * b", ALIASES, axis=1, dtype="float32")
    with pytest.warns(pykeops.KeOpsWarning, match="cuda_type"):
        Genred("Exp(-SqDist(x, y)) * b", ALIASES, axis=1, cuda_type="float32")
    assert op(x, y, b).dtype == np.float64


def test_generic_shortcuts(rng):
    x, y, b = data(rng, "float64")
    s = generic_sum("Exp(-SqDist(x, y)) * b", "a = Vi(2)", *ALIASES)
    assert_close(s(x, y, b), reduce_dense(gaussian(x, y, b), "Sum", 1), "float64")
    lse = generic_logsumexp("-SqDist(x, y)", "a = Vj(1)", "x = Vi(3)", "y = Vj(3)")
    assert_close(lse(x, y), reduce_dense(-sqdist(x, y), "LogSumExp", 0), "float64")
    amin = generic_argmin("SqDist(x, y)", "a = Vi(1)", "x = Vi(3)", "y = Vj(3)")
    np.testing.assert_array_equal(amin(x, y), reduce_dense(sqdist(x, y), "ArgMin", 1))
    knn = generic_argkmin("SqDist(x, y)", "a = Vi(3)", "x = Vi(3)", "y = Vj(3)")
    np.testing.assert_array_equal(knn(x, y), reduce_dense(sqdist(x, y), "ArgKMin", 1, k=3))
    with pytest.raises(ValueError, match="must be a Vi or Vj variable"):
        generic_sum("x", "a = Pm(1)", "x = Vi(1)")


def test_formula_without_j_variables_reduces_one_term(rng):
    x = rng.standard_normal((6, 2))
    op = Genred("x * 2", ["x = Vi(2)"], axis=1)
    assert_close(op(x), 2 * x, "float64")


def test_explicit_var_in_formula_is_an_argument(rng):
    x, y, b = data(rng, "float64")
    op = Genred("Exp(-SqDist(x, Var(1, 3, 1))) * Var(2, 2, 1)", ["x = Vi(3)"], axis=1)
    assert op.nargs == 3
    assert_close(op(x, y, b), reduce_dense(gaussian(x, y, b), "Sum", 1), "float64")


def test_pickled_genred_computes_the_same(rng):
    x, y, b = data(rng, "float64")
    op = Genred("Exp(-SqDist(x, y)) * b", ALIASES, axis=1)
    again = pickle.loads(pickle.dumps(op))
    assert type(again) is Genred
    np.testing.assert_array_equal(again(x, y, b), op(x, y, b))


def test_backends(rng):
    x, y, b = data(rng, "float64")
    op = Genred("Exp(-SqDist(x, y)) * b", ALIASES, axis=1)
    cpu = op(x, y, b, backend="CPU")
    assert_close(op(x, y, b, backend="auto"), cpu, "float64")
    if not pykeops.config.gpu_available:
        with pytest.raises(ValueError, match="GPU backend is unavailable"):
            op(x, y, b, backend="GPU")


def test_empty_arrays_give_empty_or_identity_outputs():
    op = Genred("Exp(-SqDist(x, y)) * b", ALIASES, axis=1)
    assert op(np.zeros((0, 3)), np.ones((4, 3)), np.ones((4, 2))).shape == (0, 2)
    np.testing.assert_array_equal(op(np.ones((2, 3)), np.zeros((0, 3)), np.zeros((0, 2))),
                                  np.zeros((2, 2)))
    assert op(np.ones((0, 2, 3)), np.ones((4, 3)), np.ones((4, 2))).shape == (0, 2, 2)
    amin = Genred("SqDist(x, y)", ["x = Vi(3)", "y = Vj(3)"], reduction_op="ArgMin", axis=1)
    np.testing.assert_array_equal(amin(np.ones((2, 3)), np.zeros((0, 3))), -np.ones((2, 1)))
