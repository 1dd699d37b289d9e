"""pykeops.torch: Genred, KernelSolve, LazyTensor and the generic_* shortcuts on PyTorch tensors (CPU and CUDA), with autograd."""

from pykeops.common.generic_ops import make_generic_ops
from pykeops.common.lazy_tensor import make_front_end
from pykeops.torch.genred import Genred, KernelSolve
from pykeops.torch.tools import TorchTools

LazyTensor, ComplexLazyTensor, Var, Vi, Vj, Pm = make_front_end(TorchTools, Genred, KernelSolve)

generic_sum, generic_logsumexp, generic_argmin, generic_argkmin = make_generic_ops(Genred)

__all__ = sorted(
    ["Genred", "generic_sum", "generic_logsumexp", "generic_argmin", "generic_argkmin",
     "KernelSolve", "LazyTensor", "ComplexLazyTensor", "Vi", "Vj", "Pm"]
)
