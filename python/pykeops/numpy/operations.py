"""KeOps's module path of KernelSolve (pykeops.numpy.operations)."""

from pykeops.numpy.genred import KernelSolve  # noqa: F401
