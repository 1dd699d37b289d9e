"""LazyTensor: symbolic N x M arrays that build keops formulas, framework-neutral.

A LazyTensor holds a formula string and the arrays it reads. Arrays enter the formula as
placeholders Var(@uid,dim,cat), one uid per leaf, numbered into argument positions only when
a reduction runs (`_fix_variables`); symbolic variables LazyTensor((ind, dim, cat)) keep their
index. The NumPy and PyTorch front ends subclass GenericLazyTensor with their array tools and
their Genred and KernelSolve.
"""

import copy
import itertools
import math
import re

import numpy as np

from pykeops.common.genred import broadcast_shapes

_uids = itertools.count()
_PLACEHOLDER = re.compile(r"Var\(@(\d+),")
_CATEGORY_VARS = re.compile(r"(Var|VarSymb)\((@?-?\d+),(\d+),([01])\)")
# Keyword arguments that shape the compiled reduction (Genred's constructor); the others go
# to its calls (backend, device_id, ranges, out, ...).
_INIT_KWARGS = ("dtype_acc", "use_double_acc", "sum_scheme", "enable_chunks", "use_fast_math",
                "tensor_cores", "matmul_precision")


def _is_scalar(x, value):
    return isinstance(x, (int, float, complex)) and not isinstance(x, bool) and x == value


def _same_or_one(*dims):
    return len(set(dims) | {1}) <= 2


def _int_list(seq):
    seq = (seq,) if isinstance(seq, int) else tuple(seq)
    return "[" + ",".join(str(int(v)) for v in seq) + "]"


class _Leaf:
    """An array (or a list of floats, a parameter) that a formula reads."""

    __slots__ = ("value", "uid")

    def __init__(self, value):
        self.value = value
        self.uid = next(_uids)


def is_complex_lazytensor(x):
    return isinstance(x, ComplexGenericLazyTensor)


class GenericLazyTensor:
    """Symbolic wrapper for arrays: pykeops.numpy.LazyTensor and pykeops.torch.LazyTensor."""

    tools = None  # the front end's array tools
    Genred = None
    KernelSolve = None

    formula = None
    formula2 = None
    variables = ()  # _Leaf objects, in order of appearance
    symbolic_variables = ()  # (ind, dim, cat) triples
    ndim = None  # the formula's dim
    axis = None  # a leaf's category; a reduction's axis
    ni = None
    nj = None
    batchdims = None
    ranges = None
    backend = None
    _dtype = None
    is_complex = False
    __array_ufunc__ = None  # NumPy defers x + y etc. to LazyTensor's reflected operators
    __array_priority__ = 1000

    def __init__(self, x=None, axis=None):
        self.__GenericLazyTensor__ = True
        if x is None:
            return
        if isinstance(x, tuple):
            self._init_symbolic(x, axis)
        elif isinstance(x, int) and not isinstance(x, bool):
            self.formula = f"IntCst({x})"
            self.ndim, self.axis = 1, 2
        elif isinstance(x, (float, list)) or isinstance(x, self.tools.float_types):
            self._init_parameter_list([float(x)] if not isinstance(x, list) else x, axis)
        elif self.tools.is_array(x):
            self._init_array(x, axis)
        else:
            raise TypeError(
                f"LazyTensors should be built from {self.tools.array_name}, float/integer "
                f"numbers, lists of floats or 3-uples of integers. Received: {type(x)}"
            )

    # -- construction -------------------------------------------------------------------------

    def _init_symbolic(self, x, axis):
        if len(x) != 3 or not all(isinstance(v, int) for v in x):
            raise ValueError(
                "LazyTensors(tuple) is only valid if tuple = (ind,dim,cat) is a triplet of integers."
            )
        if axis is not None:
            raise ValueError("'axis' parameter should not be given when 'x' is of the form (ind,dim,cat).")
        self.symbolic_variables = (x,)
        self.ind, self.ndim, self.axis = x
        self.formula = f"VarSymb({x[0]},{x[1]},{x[2]})"

    def _init_parameter_list(self, values, axis):
        if axis not in (None, 2):
            raise ValueError(
                "Lists of numbers are handled as Parameter variables, with an optional 'axis' "
                "argument that is equal to 2."
            )
        leaf = _Leaf([float(v) for v in values])
        self.variables = (leaf,)
        self.ndim, self.axis = len(values), 2
        self.formula = f"Var(@{leaf.uid},{self.ndim},2)"

    def _init_array(self, x, axis):
        tools = self.tools
        self._dtype = tools.dtype_name(x)
        shape = tuple(x.shape)
        if len(shape) == 0:
            x, shape = tools.reshape(x, (1,)), (1,)
        if len(shape) >= 3:  # (.., M, 1, D): Vi, (.., 1, N, D): Vj, (.., 1, 1, D): Pm
            if axis is not None:
                raise ValueError("'axis' parameter should not be given when 'x' is a 3D tensor.")
            if len(shape) > 3:
                self.batchdims = shape[:-3]
            if shape[-3] == 1 and shape[-2] == 1:
                x, axis = tools.reshape(x, shape[:-3] + shape[-1:]), 2
            elif shape[-3] == 1:
                x, axis = tools.reshape(x, shape[:-3] + shape[-2:]), 1
            elif shape[-2] == 1:
                x, axis = tools.reshape(x, shape[:-2] + shape[-1:]), 0
            else:
                raise ValueError(
                    "If 'x' is a 3D+ tensor, its shape should be one of (..,M,1,D), (..,1,N,D) "
                    "or (..,1,1,D)."
                )
            shape = tuple(x.shape)
        if len(shape) >= 2 and axis != 2:
            if axis not in (0, 1):
                raise ValueError(
                    "When 'x' is encoded as a 2D array, LazyTensor expects an explicit 'axis' "
                    "value in {0,1}."
                )
            if axis == 0:
                self.ni = shape[-2]
            else:
                self.nj = shape[-2]
        elif len(shape) == 1 or axis == 2:
            if axis not in (None, 2):
                raise ValueError(
                    "When 'x' is encoded as a 1D or 0D array, 'axis' must be None or 2 "
                    "(= Parameter variable)."
                )
            axis = 2
        leaf = _Leaf(x)
        self.variables = (leaf,)
        self.ndim, self.axis = shape[-1], axis
        self.formula = f"Var(@{leaf.uid},{self.ndim},{axis})"

    def lt_constructor(self, x=None, axis=None, is_complex=False):
        """A new LazyTensor of the same front end."""
        raise NotImplementedError

    def _wrap(self, other):
        return other if hasattr(other, "__GenericLazyTensor__") else self.lt_constructor(other)

    def _copy(self, is_complex=None):
        """A copy of self's data and attributes, without a formula."""
        res = self.lt_constructor(is_complex=self.is_complex if is_complex is None else is_complex)
        for name in ("_dtype", "batchdims", "ni", "nj", "ranges", "backend", "variables",
                     "symbolic_variables"):
            setattr(res, name, getattr(self, name))
        return res

    def _join(self, other, is_complex=False):
        """A LazyTensor holding the data of self and other, whose attributes must agree."""
        res = self.lt_constructor(is_complex=is_complex)
        for name in ("_dtype", "ni", "nj", "backend"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine is not None and theirs is not None and mine != theirs:
                raise ValueError(f"Incompatible values for attribute {name}: {mine} and {theirs}.")
            setattr(res, name, mine if theirs is None else theirs)
        res.ranges = self._joined_ranges(other)
        res.batchdims = self._joined_batchdims(other)
        res.variables = self.variables + other.variables
        res.symbolic_variables = self.symbolic_variables + other.symbolic_variables
        return res

    def _joined_ranges(self, other):
        if self.ranges is None or other.ranges is None:
            return self.ranges if other.ranges is None else other.ranges
        same = len(self.ranges) == len(other.ranges) and all(
            bool((self.tools.to_numpy(a) == self.tools.to_numpy(b)).all())
            for a, b in zip(self.ranges, other.ranges)
        )
        if not same:
            raise ValueError("Incompatible values for attribute ranges.")
        return other.ranges

    def _joined_batchdims(self, other):
        if self.batchdims is None or other.batchdims is None:
            return self.batchdims if other.batchdims is None else other.batchdims
        joined = broadcast_shapes([self.batchdims, other.batchdims])
        if joined is None:
            raise ValueError(f"Incompatible batch dimensions: {self.batchdims} and {other.batchdims}.")
        return joined

    # -- formula builders ---------------------------------------------------------------------

    def _check_not_reduced(self, *others):
        if any(hasattr(x, "reduction_op") for x in (self,) + others):
            raise ValueError(
                "One of the inputs is a 'reduced' LazyTensor, no operation can be applied to it. "
            )

    def unary(self, operation, dimres=None, opt_arg=None, opt_arg2=None, is_complex=None):
        self._check_not_reduced()
        res = self._copy(is_complex)
        extra = "".join(f",{a}" for a in (opt_arg, opt_arg2) if a is not None)
        res.formula = f"{operation}({self.formula}{extra})"
        res.ndim = dimres or self.ndim
        return res

    def binary(self, other, operation, is_operator=False, dimres=None, dimcheck="sameor1",
               opt_arg=None, opt_pos="last", rversion=False, is_complex=None):
        other = self._wrap(other)
        if is_complex is None:
            is_complex = self.is_complex or other.is_complex
        self._check_not_reduced(other)
        _check_dims(operation, dimcheck, self.ndim, other.ndim)
        res = self._join(other, is_complex=is_complex)
        res.ndim = dimres or max(self.ndim, other.ndim)
        left, right = (other.formula, self.formula) if rversion else (self.formula, other.formula)
        if is_operator:
            res.formula = f"({left} {operation} {right})"
        elif opt_arg is None:
            res.formula = f"{operation}({left}, {right})"
        else:
            if hasattr(opt_arg, "__GenericLazyTensor__"):
                res = res._join(opt_arg, is_complex=is_complex)
                res.ndim = dimres or max(self.ndim, other.ndim)
                opt_arg = opt_arg.formula
            middle = opt_pos == "middle"
            args = (left, opt_arg, right) if middle else (left, right, opt_arg)
            res.formula = f"{operation}({', '.join(map(str, args))})"
        return res

    def ternary(self, other1, other2, operation, dimres=None, dimcheck="sameor1", opt_arg=None):
        other1, other2 = self._wrap(other1), self._wrap(other2)
        self._check_not_reduced(other1, other2)
        dims = (self.ndim, other1.ndim, other2.ndim)
        if dimcheck == "same" and len(set(dims)) != 1:
            raise ValueError(
                f"Operation {operation} expects inputs of the same dimension. "
                f"Received {dims[0]}, {dims[1]} and {dims[2]}."
            )
        if dimcheck == "sameor1" and not _same_or_one(*dims):
            raise ValueError(
                f"Operation {operation} expects inputs of the same dimension or dimension 1. "
                f"Received {dims[0]}, {dims[1]} and {dims[2]}."
            )
        res = self._join(other1._join(other2))
        res.ndim = dimres or max(dims)
        extra = "" if opt_arg is None else f", {opt_arg}"
        res.formula = f"{operation}({self.formula}, {other1.formula}, {other2.formula}{extra})"
        return res

    # -- arithmetic ---------------------------------------------------------------------------

    def addop(self, other, **kwargs):
        return self.binary(other, "+", is_operator=True, **kwargs)

    def subop(self, other, **kwargs):
        return self.binary(other, "-", is_operator=True, **kwargs)

    def mulop(self, other, **kwargs):
        return self.binary(other, "*", is_operator=True, **kwargs)

    def divop(self, other, **kwargs):
        return self.binary(other, "/", is_operator=True, **kwargs)

    def __add__(self, other):
        if _is_scalar(other, 0):
            return self
        if is_complex_lazytensor(other) and not self.is_complex:
            return self.real2complex().addop(other)
        return self.addop(other)

    def __radd__(self, other):
        return self if _is_scalar(other, 0) else self.addop(other, rversion=True)

    def __sub__(self, other):
        if _is_scalar(other, 0):
            return self
        if is_complex_lazytensor(other) and not self.is_complex:
            return self.real2complex().subop(other)
        return self.subop(other)

    def __rsub__(self, other):
        return self.unary("Minus") if _is_scalar(other, 0) else self.subop(other, rversion=True)

    def __mul__(self, other):
        if _is_scalar(other, 0):
            return 0
        if _is_scalar(other, 1):
            return self
        if _is_scalar(other, -1):
            return self.unary("Minus")
        if is_complex_lazytensor(other) and not self.is_complex:
            return other.mulop(self)
        if self.tools.is_complex_value(other) and not self.is_complex:
            return self.lt_constructor(other).mulop(self)
        res = self.mulop(other)
        other = self._wrap(other)
        if other.formula.startswith("Var(@") and other.ndim > 100 and other.variables:
            res._long_factor = (self, other)  # Sum(F * V) = Sum(F) * V over the other axis
        return res

    def __rmul__(self, other):
        if _is_scalar(other, 0):
            return 0
        if _is_scalar(other, 1):
            return self
        if _is_scalar(other, -1):
            return self.unary("Minus")
        if self.tools.is_complex_value(other) and not self.is_complex:
            return self.real2complex().mulop(self.lt_constructor(other))
        return self.mulop(other, rversion=True)

    def __truediv__(self, other):
        if _is_scalar(other, 1):
            return self
        if is_complex_lazytensor(other) and not self.is_complex:
            return self.real2complex().divop(other)
        return self.divop(other)

    def __rtruediv__(self, other):
        if _is_scalar(other, 0):
            return 0
        if _is_scalar(other, 1):
            return self.unary("Inv")
        return self.divop(other, rversion=True)

    def __or__(self, other):
        return self.binary(other, "|", is_operator=True, dimres=1, dimcheck="same")

    def __ror__(self, other):
        return self.binary(other, "|", is_operator=True, dimres=1, dimcheck="same", rversion=True)

    def __abs__(self):
        return self.unary("Abs")

    def abs(self):
        return abs(self)

    def __neg__(self):
        return self.unary("Minus")

    def __pow__(self, other):
        if isinstance(other, int) and not isinstance(other, bool):
            return self.unary("Square") if other == 2 else self.unary("Pow", opt_arg=other)
        if isinstance(other, float):
            if other == 0.5:
                return self.unary("Sqrt")
            if other == -0.5:
                return self.unary("Rsqrt")
            other = self.lt_constructor(other)
        if hasattr(other, "__GenericLazyTensor__"):
            if other.ndim in (1, self.ndim):
                return self.binary(other, "Powf", dimcheck=None)
            raise ValueError(
                "Incompatible dimensions for the LazyTensor and its exponent: "
                f"{self.ndim} and {other.ndim}."
            )
        raise ValueError("The exponent should be an integer, a float number or a LazyTensor.")

    def power(self, other):
        return self**other

    # -- comparisons and element-wise functions ----------------------------------------------

    def __eq__(self, other):
        return self.binary(other, "Equal")

    def __ne__(self, other):
        return self.binary(other, "NotEqual")

    def __lt__(self, other):
        return self.binary(other, "<", is_operator=True)

    def __gt__(self, other):
        return self.binary(other, ">", is_operator=True)

    def __le__(self, other):
        return self.binary(other, "<=", is_operator=True)

    def __ge__(self, other):
        return self.binary(other, ">=", is_operator=True)

    __hash__ = object.__hash__

    def sinc(self):
        return (math.pi * self).sinxdivx()

    def atan2(self, other):
        return self.binary(other, "Atan2")

    def clamp(self, other1, other2):
        if all(isinstance(v, int) and not isinstance(v, bool) for v in (other1, other2)):
            return self.unary("ClampInt", opt_arg=other1, opt_arg2=other2)
        return self.ternary(other1, other2, "Clamp")

    def ifelse(self, other1, other2):
        return self.ternary(other1, other2, "IfElse")

    def mod(self, modulus, offset=0):
        return self.ternary(modulus, offset, "Mod")

    def round(self, other=0):
        return self.unary("Round", opt_arg=other)

    # -- vector operations --------------------------------------------------------------------

    def sqnorm2(self):
        return self.unary("SqNorm2", dimres=1)

    def norm2(self):
        return self.unary("Norm2", dimres=1)

    def norm(self, dim):
        if dim not in (-1, len(self._shape) - 1):
            raise ValueError("KeOps only supports norms over the last dimension.")
        return self.norm2()

    def normalize(self):
        return self.unary("Normalize")

    def sqdist(self, other):
        return self.binary(other, "SqDist", dimres=1)

    def weightedsqnorm(self, other):
        other = self._wrap(other)
        if other.ndim not in (1, self.ndim, self.ndim**2):
            raise ValueError(
                "Squared norm weights should be of size 1 (scalar), D (diagonal) or D^2 (full "
                f"symmetric tensor), but received {other.ndim} with D={self.ndim}."
            )
        return self.binary(other, "WeightedSqNorm", dimres=1, dimcheck=None, rversion=True)

    def weightedsqdist(self, g, s):
        return (self - self._wrap(g)).weightedsqnorm(self._wrap(s))

    def difference_matrix(self, other):
        """The matrix of differences x_k - y_l (row-major, dim(x) * dim(y) values). KeOps 2.3
        names a DifferenceMatrix op that keopscore lacks; here it is x (x) 1 - 1 (x) y."""
        other = self._wrap(other)
        ones = self.lt_constructor
        return self.tensorprod(ones([1.0] * other.ndim)) - ones([1.0] * self.ndim).tensorprod(other)

    def softdtw_sqdist(self, other, gamma):
        return self.ternary(other, gamma, "SoftDTW_SqDist", dimres=1, dimcheck=None)

    def elem(self, i):
        if not isinstance(i, int):
            raise ValueError("Elem indexing is only supported for integer indices.")
        if i < 0 or i >= self.ndim:
            raise ValueError(f"Index i={i} is out of bounds [0,D) = [0,{self.ndim}).")
        return self.unary("Elem", dimres=1, opt_arg=i)

    def extract(self, i, d):
        if not isinstance(i, int) or not isinstance(d, int):
            raise ValueError("Indexing is only supported for integer indices.")
        if i < 0 or i >= self.ndim:
            raise ValueError("Starting index is out of bounds.")
        if d < 1 or i + d > self.ndim:
            raise ValueError("Slice dimension is out of bounds.")
        return self.unary("Extract", dimres=d, opt_arg=i, opt_arg2=d)

    def __getitem__(self, key):
        if isinstance(key, tuple):
            rank = len(self._shape)
            if len(key) == rank and key[:-1] == (slice(None),) * (rank - 1):
                key = key[-1]
            else:
                raise ValueError("LazyTensors only support indexing with respect to their last dimension.")
        if isinstance(key, slice):
            if key.step not in (None, 1):
                raise ValueError("LazyTensors do not support sliced indexing with stepsizes > 1.")
            start = 0 if key.start is None else key.start
            stop = self.ndim if key.stop is None else key.stop
            return self.extract(start, stop - start)
        if isinstance(key, int):
            return self.elem(key)
        raise ValueError("LazyTensors only support indexing with integers and vanilla python slices.")

    def one_hot(self, D):
        if not isinstance(D, int):
            raise ValueError("One-hot encoding expects an integer dimension of the output vector.")
        if self.ndim != 1:
            raise ValueError("One-hot encoding is only supported for scalar formulas.")
        return self.unary("OneHot", dimres=D, opt_arg=D)

    def bspline(self, x, k=0):
        return self.binary(x, "BSpline", dimres=self.ndim - k - 1, dimcheck="vecand1", opt_arg=k)

    def concat(self, other):
        other = self._wrap(other)
        return self.binary(other, "Concat", dimres=self.ndim + other.ndim, dimcheck=None)

    @staticmethod
    def concatenate(tuple_of_lt, axis=-1):
        if not isinstance(tuple_of_lt, tuple):
            raise ValueError("LazyTensor.concatenate is implemented on *tuples* of LazyTensors.")
        if len(tuple_of_lt) == 0:
            raise ValueError("Received an empty tuple of LazyTensors.")
        if axis not in (-1, len(tuple_of_lt[0]._shape) - 1):
            raise ValueError("LazyTensor only supports concatenation along the last axis.")
        res = tuple_of_lt[0]
        for lt in tuple_of_lt[1:]:
            res = res.concat(lt)
        return res

    @staticmethod
    def cat(tuple_of_lt, dim):
        return GenericLazyTensor.concatenate(tuple_of_lt, dim)

    def matvecmult(self, other):
        return self.binary(other, "MatVecMult", dimres=self.ndim // other.ndim, dimcheck=None)

    def vecmatmult(self, other):
        return self.binary(other, "VecMatMult", dimres=other.ndim // self.ndim, dimcheck=None)

    def tensorprod(self, other):
        return self.binary(other, "TensorProd", dimres=other.ndim * self.ndim, dimcheck=None)

    def keops_tensordot(self, other, dimfa, dimfb, contfa, contfb, *args):
        if is_complex_lazytensor(other):
            raise ValueError("keops_tensordot is not implemented for complex LazyTensors")
        opt_arg = ", ".join(_int_list(s) for s in (dimfa, dimfb, contfa, contfb) + args)
        dimres = int(np.prod(dimfa)) * int(np.prod(dimfb))
        if len(_as_tuple(contfa)):
            dimres //= int(np.prod(np.array(_as_tuple(dimfa))[list(_as_tuple(contfa))])) ** 2
        return self.binary(other, "TensorDot", dimres=dimres, dimcheck=None, opt_arg=opt_arg)

    def keops_kron(self, other, dimfself, dimfother):
        if is_complex_lazytensor(other):
            raise ValueError("keops_kron is not implemented for complex LazyTensors")
        if isinstance(dimfself, int) or isinstance(dimfother, int):
            raise ValueError("For keops_kron, dimfself and dimfother must be tuples or lists of int")
        opt_arg = f"{_int_list(dimfself)}, {_int_list(dimfother)}"
        return self.binary(other, "Kron", dimres=other.ndim * self.ndim, dimcheck=None,
                           opt_arg=opt_arg)

    # -- derivatives --------------------------------------------------------------------------

    def grad(self, other, gradin):
        return self.binary(gradin, "Grad", dimres=other.ndim, dimcheck="same", opt_arg=other,
                           opt_pos="middle")

    def diff(self, other, diffin):
        return self.binary(diffin, "Diff", dimres=self.ndim, dimcheck=None, opt_arg=other,
                           opt_pos="middle")

    def factorize(self, other):
        return self.binary(other, "Factorize", dimres=self.ndim, dimcheck=None)

    def auto_factorize(self):
        return self.unary("AutoFactorize", dimres=self.ndim)

    def grad_matrix(self, other):
        res = self.unary("GradMatrix", dimres=self.ndim * other.ndim, opt_arg=other.formula)
        return res._join_leaves(other)

    def trace_operator(self, var):
        """The trace of self, a linear function of the symbolic variable var. var disappears from
        the result: it is written with a negative index and needs no array."""
        res = self.binary(var, "TraceOperator", dimres=1, dimcheck="same")
        res.symbolic_variables = tuple(
            v for v in res.symbolic_variables if v not in var.symbolic_variables
        )
        for ind, dim, cat in var.symbolic_variables:
            res.formula = res.formula.replace(
                f"VarSymb({ind},{dim},{cat})", f"VarSymb({-ind - 1},{dim},{cat})"
            )
        return res

    def divergence(self, var):
        return self.binary(var, "Divergence", dimres=1, dimcheck="same")

    def laplacian(self, var):
        return self.binary(var, "Laplacian", dimres=1, dimcheck=None)

    def _join_leaves(self, other):
        """self with other's arrays and symbolic variables too (other appears in its formula)."""
        res = self._join(other, is_complex=self.is_complex)
        res.formula, res.ndim = self.formula, self.ndim
        return res

    # -- reductions ---------------------------------------------------------------------------

    def _last_axis(self, axis):
        return axis in (-1, len(self._shape) - 1)

    def sum(self, axis=-1, dim=None, **kwargs):
        axis = axis if dim is None else dim
        if self._last_axis(axis):
            return self.unary("Sum", dimres=1)
        return self.reduction("Sum", axis=axis, **kwargs)

    def sum_reduction(self, axis=None, dim=None, **kwargs):
        return self.reduction("Sum", axis=axis, dim=dim, **kwargs)

    def logsumexp(self, axis=None, dim=None, weight=None, **kwargs):
        if weight is not None:
            kwargs["other"] = weight
        return self.reduction("LogSumExp", axis=axis, dim=dim, **kwargs)

    def logsumexp_reduction(self, **kwargs):
        return self.logsumexp(**kwargs)

    def sumsoftmaxweight(self, weight, axis=None, dim=None, **kwargs):
        return self.reduction("SumSoftMaxWeight", other=weight, axis=axis, dim=dim, **kwargs)

    def sumsoftmaxweight_reduction(self, **kwargs):
        return self.sumsoftmaxweight(**kwargs)

    def _vector_or_reduction(self, name, axis, dim, kwargs):
        axis = axis if dim is None else dim
        if self._last_axis(axis):
            return self.unary(name, dimres=1)
        return self.reduction(name, axis=axis, **kwargs)

    def min(self, axis=-1, dim=None, **kwargs):
        return self._vector_or_reduction("Min", axis, dim, kwargs)

    def max(self, axis=-1, dim=None, **kwargs):
        return self._vector_or_reduction("Max", axis, dim, kwargs)

    def argmin(self, axis=-1, dim=None, **kwargs):
        return self._vector_or_reduction("ArgMin", axis, dim, kwargs)

    def argmax(self, axis=-1, dim=None, **kwargs):
        return self._vector_or_reduction("ArgMax", axis, dim, kwargs)

    def min_reduction(self, axis=None, dim=None, **kwargs):
        return self.reduction("Min", axis=axis, dim=dim, **kwargs)

    def max_reduction(self, axis=None, dim=None, **kwargs):
        return self.reduction("Max", axis=axis, dim=dim, **kwargs)

    def argmin_reduction(self, axis=None, dim=None, **kwargs):
        return self.reduction("ArgMin", axis=axis, dim=dim, **kwargs)

    def argmax_reduction(self, axis=None, dim=None, **kwargs):
        return self.reduction("ArgMax", axis=axis, dim=dim, **kwargs)

    def __min__(self, **kwargs):
        return self.min(**kwargs)

    def __max__(self, **kwargs):
        return self.max(**kwargs)

    def min_argmin(self, axis=None, dim=None, **kwargs):
        return self.reduction("Min_ArgMin", axis=axis, dim=dim, **kwargs)

    def max_argmax(self, axis=None, dim=None, **kwargs):
        return self.reduction("Max_ArgMax", axis=axis, dim=dim, **kwargs)

    def min_argmin_reduction(self, **kwargs):
        return self.min_argmin(**kwargs)

    def max_argmax_reduction(self, **kwargs):
        return self.max_argmax(**kwargs)

    def Kmin(self, K, axis=None, dim=None, **kwargs):
        return self.reduction("KMin", opt_arg=K, axis=axis, dim=dim, **kwargs)

    def argKmin(self, K, axis=None, dim=None, **kwargs):
        return self.reduction("ArgKMin", opt_arg=K, axis=axis, dim=dim, **kwargs)

    def Kmin_argKmin(self, K, axis=None, dim=None, **kwargs):
        return self.reduction("KMin_ArgKMin", opt_arg=K, axis=axis, dim=dim, **kwargs)

    def Kmin_reduction(self, **kwargs):
        return self.Kmin(**kwargs)

    def argKmin_reduction(self, **kwargs):
        return self.argKmin(**kwargs)

    def Kmin_argKmin_reduction(self, **kwargs):
        return self.Kmin_argKmin(**kwargs)

    def reduction(self, reduction_op, other=None, opt_arg=None, axis=None, dim=None, call=True,
                  is_complex=None, **kwargs):
        """Reduces over axis i (nbatchdims) or j (nbatchdims + 1); the result, or with
        call=False (or symbolic variables), a callable LazyTensor."""
        if axis is None:
            axis = dim
        if not isinstance(axis, int) or axis - self.nbatchdims not in (0, 1):
            raise ValueError(
                "Reductions must be called with 'axis' (or 'dim') equal to the number of batch "
                "dimensions + 0 or 1."
            )
        other = None if other is None else self._wrap(other)
        if is_complex is None:
            is_complex = self.is_complex or (other is not None and other.is_complex)
        factored = self._factored_sum(reduction_op, axis, kwargs)
        if factored is not None:
            return factored
        if other is None:
            res = self._copy(is_complex)
        else:
            res = self._join(other, is_complex=is_complex)
            res.formula2 = other.formula
        res.formula = self.formula
        res.reduction_op = reduction_op
        res.axis = axis - self.nbatchdims
        res.opt_arg = opt_arg
        res.ndim = self.ndim
        res.kwargs_init = {k: v for k, v in kwargs.items() if k in _INIT_KWARGS}
        res.kwargs = {k: v for k, v in kwargs.items() if k not in _INIT_KWARGS}
        if res._dtype is not None:
            res._prepare_call()
        if call and not res.symbolic_variables and res._dtype is not None:
            return res()
        return res

    def _factored_sum(self, reduction_op, axis, kwargs):
        """Sum(F * V) over the axis V is not indexed by, V a long vector: Sum(F) * V, which
        reduces a scalar instead of V's components."""
        long_factor = getattr(self, "_long_factor", None)
        if reduction_op != "Sum" or long_factor is None:
            return None
        factor, vector = long_factor
        if axis - self.nbatchdims == vector.axis or factor.is_complex or vector.is_complex:
            return None
        return factor.sum(axis=axis, **kwargs) * vector.variables[0].value

    def _prepare_call(self):
        """Numbers the arrays into argument positions and builds the reduction's Genred."""
        self._fix_variables()
        if self.reduction_op == "Solve":
            self.callfun = self.KernelSolve(self.formula, [], self.varformula, self.axis,
                                            **self.kwargs_init)
        else:
            self.callfun = self.Genred(self.formula, [], self.reduction_op, self.axis,
                                       opt_arg=self.opt_arg, formula2=self.formula2,
                                       **self.kwargs_init)

    def _numbered(self):
        """(formula, formula2, leaves): the placeholders numbered into argument positions after
        the symbolic variables', in order of appearance, and the leaves read, in that order."""
        text = self.formula + "\n" + (getattr(self, "formula2", None) or "")
        position = 1 + max((v[0] for v in self.symbolic_variables), default=-1)
        positions = {}
        leaves = []
        for leaf in self.variables:
            if leaf.uid in positions or f"Var(@{leaf.uid}," not in text:
                continue
            positions[leaf.uid] = position
            position += 1
            leaves.append(leaf)
        numbered = _PLACEHOLDER.sub(lambda m: f"Var({positions[int(m.group(1))]},", text)
        formula, formula2 = numbered.replace("VarSymb(", "Var(").split("\n")
        return formula, formula2 or None, leaves

    def _fix_variables(self):
        """Numbers the placeholders (_numbered) and turns the leaves into the call's arrays:
        lists of floats into arrays, every array with the batch dims of the whole."""
        text = self.formula + "\n" + (self.formula2 or "")
        device = self.tools.device_of_arrays([v.value for v in self.variables])
        self.formula, self.formula2, leaves = self._numbered()
        self.variables = tuple(self._padded(leaf, text, device) for leaf in leaves)

    def _padded(self, leaf, text, device):
        value = leaf.value
        if isinstance(value, list):
            value = self.tools.array(value, self._dtype, device)
        cat = int(re.search(rf"Var\(@{leaf.uid},\d+,(\d)\)", text).group(1))
        rank = self.nbatchdims + (1 if cat == 2 else 2)
        shape = tuple(value.shape)
        if len(shape) < rank:
            value = self.tools.reshape(value, (1,) * (rank - len(shape)) + shape)
        return value

    def __call__(self, *args, **kwargs):
        if not hasattr(self, "reduction_op"):
            raise ValueError(
                "A LazyTensor object may be called only if it corresponds to the output of a "
                "reduction operation or solve operation."
            )
        call_kwargs = dict(self.kwargs)
        call_kwargs.update(kwargs)
        if self.ranges is not None and "ranges" not in call_kwargs:
            call_kwargs["ranges"] = self.ranges
        if self.backend is not None and "backend" not in call_kwargs:
            call_kwargs["backend"] = self.backend
        if self._dtype is None:
            if not args:
                raise ValueError("this LazyTensor holds no array: call it with the arrays of its "
                                 "symbolic variables")
            self._dtype = self.tools.dtype_name(args[0])
            self._prepare_call()
        if self.reduction_op == "Solve":
            return self._call_solve(args, call_kwargs)
        return self.callfun(*args, *self.variables, **call_kwargs)

    # -- solve --------------------------------------------------------------------------------

    def solve(self, other, var=None, call=True, **kwargs):
        """Solves sum(self * var) = other (var None: a new variable) or self(var) = other, self
        linear in the symbolic variable var, by conjugate gradient."""
        if not hasattr(other, "__GenericLazyTensor__"):
            other = self.lt_constructor(x=other, axis=0)
        if not other.symbolic_variables and self.symbolic_variables:
            raise ValueError("If 'self' has symbolic variables, so should 'other'.")
        axis = 1 - other.axis
        if var is None:
            varindex = 1 + max((v[0] for v in self.symbolic_variables), default=-1)
            var = self.lt_constructor((varindex, other.ndim, axis))
            res = self * var
        else:
            varindex = var.symbolic_variables[0][0]
            res = self._copy()
            res.formula = self.formula
        res.formula2 = None
        res.reduction_op = "Solve"
        res.varindex = varindex
        res.varformula = var.formula.replace("VarSymb", "Var")
        res.other = other
        res.axis = axis
        res.ndim = self.ndim
        res.opt_arg = None
        res.kwargs_init = {k: v for k, v in kwargs.items() if k in _INIT_KWARGS}
        res.kwargs = {k: v for k, v in kwargs.items() if k not in _INIT_KWARGS}
        if res._dtype is not None:
            res._prepare_call()
        if call and not other.symbolic_variables and res._dtype is not None:
            return res()
        return res

    def _call_solve(self, args, kwargs):
        if not self.other.symbolic_variables:
            if args:
                raise ValueError("no input required")
            args = (self.other.variables[0].value,)
        return self.callfun(*args, *self.variables, **kwargs)

    # -- shapes and transposition --------------------------------------------------------------

    @property
    def dtype(self):
        return self._dtype

    @property
    def _shape(self):
        batch = () if self.batchdims is None else tuple(self.batchdims)
        return batch + (self.ni or 1, self.nj or 1, self.ndim or 1)

    @property
    def shape(self):
        s = self._shape
        return s[:-1] if s[-1] == 1 else s

    def dim(self):
        return len(self._shape)

    @property
    def nbatchdims(self):
        return 0 if self.batchdims is None else len(self.batchdims)

    def __str__(self):
        formula, formula2, _ = self._numbered()
        out = f"KeOps LazyTensor\n    formula: {formula}"
        if self.symbolic_variables:
            out += "\n    symbolic variables: " + ", ".join(f"Var{v}" for v in self.symbolic_variables)
        out += f"\n    shape: {self.shape}"
        if hasattr(self, "reduction_op"):
            out += f"\n    reduction: {self.reduction_op} (axis={self.axis})"
            if formula2:
                out += f"\n        formula2: {formula2}"
            if getattr(self, "opt_arg", None) is not None:
                out += f"\n        opt_arg: {self.opt_arg}"
        return out

    __repr__ = __str__

    def t(self):
        """The transpose: i and j exchanged (in the variables, sizes and ranges)."""
        res = copy.copy(self)
        res.ni, res.nj = self.nj, self.ni
        if self.ranges is not None:
            res.ranges = self.tools.swap_axes(self.ranges)
        if self.axis in (0, 1):
            res.axis = 1 - self.axis
        renamed = {leaf.uid: _Leaf(leaf.value) for leaf in self.variables}
        res.variables = tuple(renamed[leaf.uid] for leaf in self.variables)

        def swap(text):
            if text is None:
                return None

            def one(m):
                index = m.group(2)
                if index.startswith("@"):
                    index = f"@{renamed[int(index[1:])].uid}"
                return f"{m.group(1)}({index},{m.group(3)},{1 - int(m.group(4))})"

            text = _CATEGORY_VARS.sub(one, text)
            return re.sub(r"Var\(@(\d+),(\d+),2\)",
                          lambda m: f"Var(@{renamed[int(m.group(1))].uid},{m.group(2)},2)", text)

        res.formula, res.formula2 = swap(self.formula), swap(self.formula2)
        res.symbolic_variables = tuple(
            (i, d, 1 - c if c in (0, 1) else c) for i, d, c in self.symbolic_variables
        )
        return res

    @property
    def T(self):
        return self.t()

    def __matmul__(self, v, **kwargs):
        if self._shape[-1] != 1:
            raise ValueError(
                "The 'K @ v' syntax is only supported for LazyTensors 'K' whose trailing "
                f"dimension is equal to 1. Here, K.shape = {self.shape}."
            )
        vshape = tuple(v.shape)
        newshape = (1, vshape[0], 1) if len(vshape) == 1 else vshape[:-2] + (1,) + vshape[-2:]
        Kv = self * self.lt_constructor(self.tools.reshape(v, newshape))
        Kv = Kv.sum(Kv.dim() - 2, **kwargs)
        return self.tools.reshape(Kv, (-1,)) if len(vshape) == 1 else Kv

    def matvec(self, v):
        return self @ v

    def rmatvec(self, v):
        return self.T @ v

    # -- complex numbers ----------------------------------------------------------------------

    def real2complex(self):
        return self.unary("Real2Complex", dimres=2 * self._shape[-1], is_complex=True)

    def imag2complex(self):
        return self.unary("Imag2Complex", dimres=2 * self._shape[-1], is_complex=True)

    def exp1j(self):
        return self.unary("ComplexExp1j", dimres=2 * self._shape[-1], is_complex=True)


# Element-wise functions: method -> keops op (exp, log, ..., all of the form x.exp()).
_ELEMENTWISE = {
    "exp": "Exp", "log": "Log", "xlogx": "XLogX", "cos": "Cos", "sin": "Sin",
    "sinxdivx": "SinXDivX", "asin": "Asin", "acos": "Acos", "atan": "Atan", "sqrt": "Sqrt",
    "rsqrt": "Rsqrt", "square": "Square", "sign": "Sign", "step": "Step", "relu": "ReLU",
}


def _elementwise_method(op):
    def method(self):
        return self.unary(op)

    method.__doc__ = f"Element-wise {op}: a LazyTensor of the same shape."
    return method


for _name, _op in _ELEMENTWISE.items():
    setattr(GenericLazyTensor, _name, _elementwise_method(_op))


def _as_tuple(x):
    return (x,) if isinstance(x, int) else tuple(x)


def _check_dims(operation, dimcheck, a, b):
    if dimcheck == "same" and a != b:
        raise ValueError(
            f"Operation {operation} expects inputs of the same dimension. Received {a} and {b}."
        )
    if dimcheck == "sameor1" and a != b and a != 1 and b != 1:
        raise ValueError(
            f"Operation {operation} expects inputs of the same dimension or dimension 1. "
            f"Received {a} and {b}."
        )
    if dimcheck == "vecand1" and b != 1:
        raise ValueError(
            f"Operation {operation} expects a vector and a scalar input (of dimension 1). "
            f"Received {a} and {b}."
        )
    if dimcheck not in ("same", "sameor1", "vecand1", None):
        raise ValueError("Incorrect dimcheck keyword in binary operation")


class ComplexGenericLazyTensor(GenericLazyTensor):
    """A LazyTensor of complex values, stored as interleaved (real, imaginary) pairs."""

    is_complex = True

    def __init__(self, x=None, axis=None):
        if isinstance(x, complex):
            x = [x]
        if isinstance(x, list):
            x = [part for z in x for part in (complex(z).real, complex(z).imag)]
        elif self.tools.is_array(x):
            x = self.tools.view_as_real(x)
        super().__init__(x=x, axis=axis)
        self.is_complex = True

    def __call__(self, *args, **kwargs):
        return self.tools.view_as_complex(super().__call__(*args, **kwargs))

    @property
    def dtype(self):
        return {"float32": "complex64", "float64": "complex128"}.get(self._dtype)

    @property
    def shape(self):
        s = self._shape
        s = s[:-1] + (s[-1] // 2,)
        return s[:-1] if s[-1] == 1 else s

    @property
    def real(self):
        return self.unary("ComplexReal", dimres=self._shape[-1] // 2, is_complex=False)

    @property
    def imag(self):
        return self.unary("ComplexImag", dimres=self._shape[-1] // 2, is_complex=False)

    def angle(self):
        return self.unary("ComplexAngle", dimres=self._shape[-1] // 2, is_complex=False)

    def conj(self):
        return self.unary("Conj", dimres=self._shape[-1], is_complex=True)

    def sum(self, axis=-1, dim=None, **kwargs):
        axis = axis if dim is None else dim
        if self._last_axis(axis):
            return self.unary("ComplexSum", dimres=2, is_complex=True)
        return self.reduction("Sum", axis=axis, **kwargs)

    def __abs__(self):
        return self.unary("ComplexAbs", dimres=self._shape[-1] // 2, is_complex=False)

    def exp(self):
        return self.unary("ComplexExp", dimres=self._shape[-1], is_complex=True)

    def mulop(self, other, **kwargs):
        other = self._wrap(other)
        if other._shape[-1] == 1:
            return other.binary(self, "ComplexRealScal", **kwargs, is_complex=True, dimcheck=None)
        if not is_complex_lazytensor(other):
            return self.mulop(other.real2complex())
        return self.binary(other, "ComplexMult", **kwargs, is_complex=True, dimcheck=None)

    def addop(self, other, **kwargs):
        other = self._wrap(other)
        if not is_complex_lazytensor(other):
            return self.addop(other.real2complex())
        return self.binary(other, "ComplexAdd", **kwargs, is_complex=True, dimcheck=None)

    def subop(self, other, **kwargs):
        other = self._wrap(other)
        if not is_complex_lazytensor(other):
            return self.subop(other.real2complex())
        return self.binary(other, "ComplexSubtract", **kwargs, is_complex=True, dimcheck=None)

    def divop(self, other, **kwargs):
        other = self._wrap(other)
        if not is_complex_lazytensor(other):
            return self.divop(other.real2complex())
        return self.binary(other, "ComplexDivide", **kwargs, is_complex=True, dimcheck=None)

    def real2complex(self):
        raise ValueError("real2complex cannot be applied to a complex LazyTensor.")

    def imag2complex(self):
        raise ValueError("imag2complex cannot be applied to a complex LazyTensor.")

    def exp1j(self):
        raise ValueError("exp1j cannot be applied to a complex LazyTensor.")

    def keops_tensordot(self, *args):
        raise ValueError("keops_tensordot is not implemented for complex LazyTensors")


def make_front_end(tools, genred, kernel_solve):
    """A front end's LazyTensor and ComplexLazyTensor classes and its Var, Vi, Vj, Pm."""

    class LazyTensor(GenericLazyTensor):
        def __new__(cls, x=None, axis=None, is_complex=False):
            if is_complex or tools.is_complex_value(x):
                return ComplexLazyTensor(x, axis)
            return object.__new__(cls)

        def __init__(self, x=None, axis=None, is_complex=False):
            super().__init__(x=x, axis=axis)

        def lt_constructor(self, x=None, axis=None, is_complex=False):
            return LazyTensor(x=x, axis=axis, is_complex=is_complex)

    class ComplexLazyTensor(ComplexGenericLazyTensor):
        def __init__(self, x=None, axis=None):
            super().__init__(x=x, axis=axis)

        def lt_constructor(self, x=None, axis=None, is_complex=True):
            return LazyTensor(x=x, axis=axis, is_complex=is_complex)

    for cls in (LazyTensor, ComplexLazyTensor):
        cls.tools, cls.Genred, cls.KernelSolve = tools, genred, kernel_solve
        cls.__module__ = genred.__module__.rsplit(".", 1)[0]

    def Var(x_or_ind, dim=None, cat=None):
        """LazyTensor(x, axis=cat), or with a dim, the symbolic variable (x_or_ind, dim, cat)."""
        if dim is None:
            return LazyTensor(x_or_ind, axis=cat)
        return LazyTensor((x_or_ind, dim, cat))

    def Vi(x_or_ind, dim=None):
        return Var(x_or_ind, dim, 0)

    def Vj(x_or_ind, dim=None):
        return Var(x_or_ind, dim, 1)

    def Pm(x_or_ind, dim=None):
        return Var(x_or_ind, dim, 2)

    return LazyTensor, ComplexLazyTensor, Var, Vi, Vj, Pm
