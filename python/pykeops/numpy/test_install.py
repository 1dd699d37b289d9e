"""pykeops.test_numpy_bindings: one small reduction checked against NumPy."""

import numpy as np


def test_numpy_bindings():
    from pykeops.numpy import Genred

    rng = np.random.default_rng(0)
    x, y, b = rng.random((5, 3)), rng.random((7, 3)), rng.random((7, 1))
    op = Genred("Exp(-SqDist(x, y)) * b", ["x = Vi(3)", "y = Vj(3)", "b = Vj(1)"], axis=1)
    expected = np.exp(-((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)) @ b
    ok = np.allclose(op(x, y, b), expected, rtol=1e-10, atol=0)
    print("pyKeOps with numpy bindings is working!" if ok else "pyKeOps with numpy bindings FAILED")
    return ok
