"""pykeops.numpy.LazyTensor: LazyTensors over NumPy arrays."""

import numpy as np

from pykeops.common.lazy_tensor import ComplexGenericLazyTensor, GenericLazyTensor
from pykeops.numpy.genred import Genred, KernelSolve
from pykeops.numpy.tools import NumpyTools


class LazyTensor(GenericLazyTensor):
    tools = NumpyTools
    Genred = Genred
    KernelSolve = KernelSolve

    def __new__(cls, x=None, axis=None, is_complex=False):
        if is_complex or NumpyTools.is_complex_value(x):
            return ComplexLazyTensor(x, axis)
        return object.__new__(cls)

    def __init__(self, x=None, axis=None, is_complex=False):
        super().__init__(x=x, axis=axis)

    def lt_constructor(self, x=None, axis=None, is_complex=False):
        return LazyTensor(x=x, axis=axis, is_complex=is_complex)


class ComplexLazyTensor(ComplexGenericLazyTensor):
    tools = NumpyTools
    Genred = Genred
    KernelSolve = KernelSolve

    def __init__(self, x=None, axis=None):
        super().__init__(x=x, axis=axis)

    def lt_constructor(self, x=None, axis=None, is_complex=True):
        return LazyTensor(x=x, axis=axis, is_complex=is_complex)


def Var(x_or_ind, dim=None, cat=None):
    if dim is None:
        return LazyTensor(x_or_ind, axis=cat)
    return LazyTensor((x_or_ind, dim, cat))


def Vi(x_or_ind, dim=None):
    return Var(x_or_ind, dim, 0)


def Vj(x_or_ind, dim=None):
    return Var(x_or_ind, dim, 1)


def Pm(x_or_ind, dim=None):
    return Var(x_or_ind, dim, 2)
