"""pykeops.numpy's Genred and KernelSolve: NumPy arrays through keops."""

import numpy as np

from pykeops.common.front_end import GenredBase, KernelSolveBase
from pykeops.numpy.tools import NumpyTools


class Genred(GenredBase):
    __doc__ = GenredBase.__doc__

    def __call__(self, *args, backend="auto", device_id=-1, ranges=None, out=None):
        args = NumpyTools.prepare(args)
        values, indices = self._core.run(NumpyTools, args, backend, device_id, ranges, out)
        return self._core.finish(values, indices, np.reshape)


class KernelSolve(KernelSolveBase):
    __doc__ = KernelSolveBase.__doc__

    def __call__(self, *args, backend="auto", device_id=-1, alpha=1e-10, eps=1e-6, ranges=None):
        args = NumpyTools.prepare(args)
        return self._core.solve(NumpyTools, args, backend, device_id, alpha, eps, ranges)
