"""The reductions pykeops names, mapped onto keops's, and the shapes of their results."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Reduction:
    name: str  # keops's name
    takes_k: bool = False  # opt_arg is K
    takes_weight: bool = False  # formula2 is the weight G
    values: bool = True  # yields values
    indices: bool = False  # yields indices
    ranked: bool = False  # K values per component: (..., K, D) once reshaped


_TABLE = {
    "Sum": Reduction("Sum"),
    "Max": Reduction("Max"),
    "Min": Reduction("Min"),
    "ArgMax": Reduction("ArgMax", values=False, indices=True),
    "ArgMin": Reduction("ArgMin", values=False, indices=True),
    "Max_ArgMax": Reduction("Max_ArgMax", indices=True),
    "Min_ArgMin": Reduction("Min_ArgMin", indices=True),
    "KMin": Reduction("KMin", takes_k=True, ranked=True),
    "ArgKMin": Reduction("ArgKMin", takes_k=True, values=False, indices=True, ranked=True),
    "KMin_ArgKMin": Reduction("KMin_ArgKMin", takes_k=True, indices=True, ranked=True),
    "LogSumExp": Reduction("LogSumExp"),
    "LogSumExpWeight": Reduction("LogSumExpWeight", takes_weight=True),
    "Max_SumShiftExp": Reduction("Max_SumShiftExp"),
    "Max_SumShiftExpWeight": Reduction("Max_SumShiftExpWeight", takes_weight=True),
    "SumSoftMaxWeight": Reduction("SumSoftMaxWeight", takes_weight=True),
}
# Older and alternative spellings that pykeops accepts.
_ALIASES = {
    "SoftMax": "SumSoftMaxWeight",
    "MinArgMin": "Min_ArgMin",
    "MaxArgMax": "Max_ArgMax",
    "KMinArgKMin": "KMin_ArgKMin",
}

# Reductions whose sums may take another scheme or a float64 accumulator.
SUM_LIKE = ("Sum", "LogSumExp", "LogSumExpWeight", "Max_SumShiftExp", "Max_SumShiftExpWeight",
            "SumSoftMaxWeight")


def lookup(reduction_op, formula2):
    """The keops reduction for pykeops's `reduction_op` (with formula2, LogSumExp is weighted)."""
    if not isinstance(reduction_op, str):
        raise TypeError(f"reduction_op must be a string, got {type(reduction_op).__name__}")
    name = _ALIASES.get(reduction_op, reduction_op)
    if name == "LogSumExp" and formula2:
        name = "LogSumExpWeight"
    if name not in _TABLE:
        known = ", ".join(sorted(set(_TABLE) | set(_ALIASES)))
        raise ValueError(f"unknown reduction '{reduction_op}' (known reductions: {known})")
    return _TABLE[name]


def split_outputs(reduction, values, indices, k, reshape):
    """pykeops's result from the raw (..., rows, cols) outputs: KMin forms as (..., rows, K, D)
    (D = 1 squeezed), the paired forms as (values, indices)."""
    if reduction.ranked:
        values = _ranked(values, k, reshape) if reduction.values else None
        indices = _ranked(indices, k, reshape) if reduction.indices else None
    if reduction.values and reduction.indices:
        return values, indices
    return values if reduction.values else indices


def _ranked(x, k, reshape):
    shape = tuple(x.shape)
    dim = shape[-1] // k
    x = reshape(x, shape[:-1] + (k, dim))
    return reshape(x, shape[:-1] + (k,)) if dim == 1 else x
