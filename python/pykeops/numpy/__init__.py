"""pykeops.numpy: Genred, KernelSolve, LazyTensor and the generic_* shortcuts on NumPy arrays."""

from pykeops.common.generic_ops import make_generic_ops
from pykeops.common.lazy_tensor import make_front_end
from pykeops.numpy.genred import Genred, KernelSolve
from pykeops.numpy.tools import NumpyTools

LazyTensor, ComplexLazyTensor, Var, Vi, Vj, Pm = make_front_end(NumpyTools, Genred, KernelSolve)

generic_sum, generic_logsumexp, generic_argmin, generic_argkmin = make_generic_ops(Genred)

__all__ = sorted(
    ["Genred", "generic_sum", "generic_logsumexp", "generic_argmin", "generic_argkmin",
     "KernelSolve", "LazyTensor", "ComplexLazyTensor", "Vi", "Vj", "Pm"]
)
