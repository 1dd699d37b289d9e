"""The parts of pykeops.numpy's and pykeops.torch's Genred and KernelSolve that do not touch
arrays: their parameters (as pykeops's), kept for pickling."""

from pykeops.common.genred import GenredCore
from pykeops.common.kernel_solve import KernelSolveCore


class Rebuilt:
    """Pickled as the parameters of __init__ (self._init_args): the kernels are rebuilt, from
    the disk cache, where they are unpickled."""

    def __getstate__(self):
        return {"init_args": self._init_args}

    def __setstate__(self, state):
        self.__init__(*state["init_args"])


class GenredBase(Rebuilt):
    """A generic reduction of a formula over i (axis 0) or j (axis 1), compiled on first use:
    pykeops's Genred, with the same parameters (the README lists what keops does otherwise),
    and two of keops's own: tensor_cores ("auto", "on" or "off": float32 products of long rows
    on the GPU's matrix units) and matmul_precision ("float32": three TF32 products that keep
    float32's accuracy, or "tf32": one, faster, about 1e-3 relative error)."""

    def __init__(self, formula, aliases, reduction_op="Sum", axis=0, dtype=None, opt_arg=None,
                 formula2=None, cuda_type=None, dtype_acc="auto", use_double_acc=False,
                 sum_scheme="auto", enable_chunks=True, rec_multVar_highdim=False,
                 use_fast_math=True, tensor_cores="auto", matmul_precision="float32"):
        self._core = GenredCore(formula, aliases, reduction_op, axis, dtype, opt_arg, formula2,
                                cuda_type, dtype_acc, use_double_acc, sum_scheme, enable_chunks,
                                rec_multVar_highdim, use_fast_math, tensor_cores,
                                matmul_precision)
        self._init_args = (formula, self._core.aliases, reduction_op, axis, None, opt_arg,
                           formula2, None, dtype_acc, use_double_acc, sum_scheme, enable_chunks,
                           rec_multVar_highdim, use_fast_math, tensor_cores, matmul_precision)
        self.formula, self.aliases = formula, self._core.aliases
        self.reduction_op, self.axis, self.opt_arg = reduction_op, axis, opt_arg
        self.nargs = self._core.nargs


class KernelSolveBase(Rebuilt):
    """Solves (alpha I + K) a = b by conjugate gradient, K the Sum reduction of the formula,
    linear in the argument varinvalias: pykeops's KernelSolve, with the same parameters."""

    def __init__(self, formula, aliases, varinvalias, axis=0, dtype=None, opt_arg=None,
                 cuda_type=None, dtype_acc="auto", use_double_acc=False, sum_scheme="auto",
                 enable_chunks=True, rec_multVar_highdim=None, use_fast_math=True):
        self._core = KernelSolveCore(formula, aliases, varinvalias, axis, dtype, opt_arg,
                                     cuda_type, dtype_acc, use_double_acc, sum_scheme,
                                     enable_chunks, rec_multVar_highdim, use_fast_math)
        self._init_args = (formula, self._core.aliases, varinvalias, axis, None, opt_arg, None,
                           dtype_acc, use_double_acc, sum_scheme, enable_chunks,
                           rec_multVar_highdim, use_fast_math)
        self.formula, self.aliases, self.axis = formula, self._core.aliases, axis
        self.varinvpos = self._core.position
