"""pykeops.numpy: Genred, KernelSolve, LazyTensor and the generic_* shortcuts on NumPy arrays."""

from pykeops.common.generic_ops import make_generic_ops
from pykeops.numpy.genred import Genred, KernelSolve
from pykeops.numpy.lazytensor import ComplexLazyTensor, LazyTensor, Pm, Var, Vi, Vj

generic_sum, generic_logsumexp, generic_argmin, generic_argkmin = make_generic_ops(Genred)

__all__ = sorted(
    ["Genred", "generic_sum", "generic_logsumexp", "generic_argmin", "generic_argkmin",
     "KernelSolve", "LazyTensor", "ComplexLazyTensor", "Vi", "Vj", "Pm"]
)
