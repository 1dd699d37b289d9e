"""KeOps's module path of KernelSolve (pykeops.torch.operations)."""

from pykeops.torch.genred import KernelSolve  # noqa: F401
