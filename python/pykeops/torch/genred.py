"""pykeops.torch's Genred and KernelSolve: PyTorch tensors (CPU or CUDA) through keops, with
autograd."""

import torch

from pykeops.common.genred import GenredCore, ReductionCore
from pykeops.common.kernel_solve import KernelSolveCore
from pykeops.torch.autograd import Call, GenredFunction, SolveFunction, needs_autograd
from pykeops.torch.tools import TorchTools


class Genred:
    """A generic reduction of a formula over i or j, compiled on first use (pykeops's Genred:
    the same parameters, see the README for what keops does differently). Differentiable with
    respect to every argument, to any order."""

    def __init__(self, formula, aliases, reduction_op="Sum", axis=0, dtype=None, opt_arg=None,
                 formula2=None, cuda_type=None, dtype_acc="auto", use_double_acc=False,
                 sum_scheme="auto", enable_chunks=True, rec_multVar_highdim=False,
                 use_fast_math=True):
        self._core = GenredCore(formula, aliases, reduction_op, axis, dtype, opt_arg, formula2,
                                cuda_type, dtype_acc, use_double_acc, sum_scheme, enable_chunks,
                                rec_multVar_highdim, use_fast_math)
        self.formula, self.aliases = formula, self._core.aliases
        self.reduction_op, self.axis, self.opt_arg = reduction_op, axis, opt_arg
        self.nargs = self._core.nargs

    def __call__(self, *args, backend="auto", device_id=-1, ranges=None, out=None):
        args = TorchTools.prepare(args)
        if needs_autograd(args):
            values, indices = GenredFunction.apply(Call(self._core, backend, device_id, ranges),
                                                   *args)
            if out is not None:
                out.copy_(values.reshape(out.shape))
        else:
            values, indices = self._core.run(TorchTools, args, backend, device_id, ranges, out)
        return self._core.finish(values, indices, torch.reshape)


class SolveCall:
    """A solve and the options of one call, with its kernel's reduction for the gradients."""

    def __init__(self, core, kernel, backend, device_id, alpha, eps, ranges):
        self.core, self.position = core, core.position
        self.kernel = Call(kernel, backend, device_id, ranges)
        self.options = (backend, device_id, alpha, eps, ranges)

    def run(self, args):
        return self.core.solve(TorchTools, TorchTools.for_keops(list(args)), *self.options)


class KernelSolve:
    """Solves (alpha I + K) a = b by conjugate gradient, K the Sum reduction of the formula,
    linear in the argument varinvalias (pykeops's KernelSolve); differentiable."""

    def __init__(self, formula, aliases, varinvalias, axis=0, dtype=None, opt_arg=None,
                 cuda_type=None, dtype_acc="auto", use_double_acc=False, sum_scheme="auto",
                 enable_chunks=True, rec_multVar_highdim=None, use_fast_math=True):
        self._core = KernelSolveCore(formula, aliases, varinvalias, axis, dtype, opt_arg,
                                     cuda_type, dtype_acc, use_double_acc, sum_scheme,
                                     enable_chunks, rec_multVar_highdim, use_fast_math)
        self._kernel = ReductionCore(self._core._solve.kernel)
        self.formula, self.aliases, self.axis = formula, self._core.aliases, axis
        self.varinvpos = self._core.position

    def __call__(self, *args, backend="auto", device_id=-1, alpha=1e-10, eps=1e-6, ranges=None):
        args = TorchTools.prepare(args)
        call = SolveCall(self._core, self._kernel, backend, device_id, alpha, eps, ranges)
        if needs_autograd(args):
            return SolveFunction.apply(call, *args)
        return call.run(args)
