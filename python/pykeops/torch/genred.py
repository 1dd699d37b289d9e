"""pykeops.torch's Genred and KernelSolve: PyTorch tensors (CPU or CUDA) through keops,
differentiable with respect to every argument, to any order."""

import torch

from pykeops.common.front_end import GenredBase, KernelSolveBase
from pykeops.common.genred import ReductionCore
from pykeops.torch.autograd import Call, GenredFunction, SolveFunction, needs_autograd
from pykeops.torch.tools import TorchTools


class Genred(GenredBase):
    __doc__ = GenredBase.__doc__

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
        return self.core.solve(TorchTools, [a.detach() for a in args], *self.options)


class KernelSolve(KernelSolveBase):
    __doc__ = KernelSolveBase.__doc__

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._kernel = ReductionCore(self._core.kernel)

    def __call__(self, *args, backend="auto", device_id=-1, alpha=1e-10, eps=1e-6, ranges=None):
        args = TorchTools.prepare(args)
        call = SolveCall(self._core, self._kernel, backend, device_id, alpha, eps, ranges)
        if needs_autograd(args):
            return SolveFunction.apply(call, *args)
        return call.run(args)
