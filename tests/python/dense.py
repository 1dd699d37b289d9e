"""Dense NumPy references of pykeops's reductions, in float64, shaped as pykeops returns them."""

import numpy as np


def reduce_dense(F, reduction, axis, G=None, k=None):
    """pykeops's result of `reduction` over `axis` of F (M, N, dimF), with weights G (M, N, dimG)
    for the weighted reductions and K for the KMin forms."""
    F = np.moveaxis(F, axis, 0)  # the reduced axis first: (reduced, rows, dim)
    G = None if G is None else np.moveaxis(G, axis, 0)
    if reduction == "Sum":
        return F.sum(0)
    if reduction in ("Max", "Min"):
        return F.max(0) if reduction == "Max" else F.min(0)
    if reduction in ("ArgMax", "ArgMin"):
        return F.argmax(0) if reduction == "ArgMax" else F.argmin(0)
    if reduction in ("Max_ArgMax", "Min_ArgMin"):
        arg = F.argmax(0) if reduction == "Max_ArgMax" else F.argmin(0)
        return np.take_along_axis(F, arg[None], 0)[0], arg
    if reduction in ("KMin", "ArgKMin", "KMin_ArgKMin"):
        order = np.argsort(F, axis=0, kind="stable")[:k]  # (K, rows, dim)
        values = np.take_along_axis(F, order, 0)
        values, order = np.moveaxis(values, 0, 1), np.moveaxis(order, 0, 1)  # (rows, K, dim)
        if F.shape[-1] == 1:
            values, order = values[..., 0], order[..., 0]
        return {"KMin": values, "ArgKMin": order, "KMin_ArgKMin": (values, order)}[reduction]
    m = F.max(0)  # (rows, 1)
    e = np.exp(F - m[None])
    if reduction == "LogSumExp" and G is None:
        return m + np.log(e.sum(0))
    if reduction in ("LogSumExp", "LogSumExpWeight"):
        return m + np.log((e * G).sum(0))
    if reduction in ("SumSoftMaxWeight", "SoftMax"):
        return (e * G).sum(0) / e.sum(0)
    if reduction == "Max_SumShiftExp":
        return np.concatenate([m, e.sum(0)], axis=1)
    if reduction == "Max_SumShiftExpWeight":
        return np.concatenate([m, (e * G).sum(0)], axis=1)
    raise ValueError(reduction)


def gaussian(x, y, b):
    """Exp(-SqDist(x, y)) * b as an (M, N, dim b) array."""
    d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    return np.exp(-d2)[:, :, None] * b[None, :, :]


def sqdist(x, y):
    """SqDist(x, y) as an (M, N, 1) array."""
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)[:, :, None]
