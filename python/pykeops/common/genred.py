"""Genred, framework-neutral: pykeops's options onto a keops Genred, shapes, outputs, calls.

The NumPy and PyTorch front ends give it their array `tools` (pykeops/numpy/tools.py,
pykeops/torch/tools.py) and shape its results as pykeops does.
"""

from pykeops import _keops
from pykeops.common import reductions
from pykeops.common.messages import warn

_BACKENDS = {
    "auto": _keops.Backend.Auto,
    "CPU": _keops.Backend.CPU,
    # keops picks the GPU scheme (1-D or 2-D) and the copies (host or device) itself.
    "GPU": _keops.Backend.GPU,
    "GPU_1D": _keops.Backend.GPU,
    "GPU_2D": _keops.Backend.GPU,
    "GPU_1D_host": _keops.Backend.GPU,
    "GPU_1D_device": _keops.Backend.GPU,
    "GPU_2D_host": _keops.Backend.GPU,
    "GPU_2D_device": _keops.Backend.GPU,
}

_TENSOR_CORES = {
    "auto": _keops.TensorCores.Auto,
    "on": _keops.TensorCores.On,
    "off": _keops.TensorCores.Off,
}

_MATMUL_PRECISIONS = {
    "float32": _keops.MatmulPrecision.Float32,
    "tf32": _keops.MatmulPrecision.TF32,
}

_SUM_SCHEMES = {
    "auto": _keops.SumScheme.Auto,
    "direct_sum": _keops.SumScheme.Direct,
    "block_sum": _keops.SumScheme.Block,
    "kahan_scheme": _keops.SumScheme.Kahan,
}


def matrix_unit_options(options, tensor_cores, matmul_precision):
    """Sets Options.tensor_cores and matmul_precision from their names (ValueError for others)."""
    for name, value, known in (
        ("tensor_cores", tensor_cores, _TENSOR_CORES),
        ("matmul_precision", matmul_precision, _MATMUL_PRECISIONS),
    ):
        if value not in known:
            raise ValueError(
                f"invalid value {value!r} for option {name}: should be one of "
                f"{', '.join(map(repr, known))}"
            )
    options.tensor_cores = _TENSOR_CORES[tensor_cores]
    options.matmul_precision = _MATMUL_PRECISIONS[matmul_precision]


def backend_of(backend):
    """keops's Backend for pykeops's backend string."""
    try:
        return _BACKENDS[backend]
    except (KeyError, TypeError):
        raise ValueError(
            f"invalid backend {backend!r}: should be one of {', '.join(map(repr, _BACKENDS))}"
        ) from None


def accumulation_options(options, reduction, dtype_acc, use_double_acc, sum_scheme):
    """Sets the sum scheme and the float64 accumulator as pykeops's dtype_acc, use_double_acc
    and sum_scheme ask, with pykeops's checks. Returns the accumulator dtype asked ("auto",
    "float32" or "float64")."""
    if dtype_acc != "auto" and use_double_acc:
        raise ValueError("you cannot set both options use_double_acc and dtype_acc.")
    if use_double_acc:
        dtype_acc = "float64"
    sums = reduction.name in reductions.SUM_LIKE
    if dtype_acc != "auto" and not sums:
        raise ValueError(
            "parameter dtype_acc should be set to 'auto' for no-sum type reductions "
            "(Min, Max, ArgMin, etc.)"
        )
    if dtype_acc not in ("auto", "float32", "float64"):
        raise ValueError(
            f"invalid value {dtype_acc!r} for option dtype_acc: should be 'auto', 'float32' or "
            "'float64' (keops accumulates in float32 or float64, float16 and bfloat16 data included)"
        )
    options.float64_accumulator = dtype_acc == "float64"
    if sum_scheme not in _SUM_SCHEMES:
        raise ValueError(
            'invalid value for option sum_scheme : should be one of "auto", "direct_sum", '
            '"block_sum" or "kahan_scheme".'
        )
    if sum_scheme in ("block_sum", "kahan_scheme") and not sums:
        raise ValueError(f'sum_scheme="{sum_scheme}" is only valid for sum type reductions.')
    options.sum_scheme = _SUM_SCHEMES[sum_scheme]
    return dtype_acc


def run_variant(op, variants, backend, device_id, stream, ranges_arrays):
    """op (a keops Genred or KernelSolve) with one call's backend, device, stream and ranges,
    kept in `variants` unless it has ranges (new arrays at every call)."""
    key = (backend, device_id, stream)
    if ranges_arrays is None and key in variants:
        return variants[key]
    options = op.options.__copy__()
    options.backend, options.device, options.stream = backend, device_id, stream
    if ranges_arrays is not None:
        options.set_ranges(list(ranges_arrays))
    variant = op.with_options(options)
    if ranges_arrays is None:
        variants[key] = variant
    return variant


def broadcast_shapes(shapes):
    """NumPy's broadcast of batch shapes (tuples), aligned on the right; None if they clash."""
    out = []
    for shape in shapes:
        if len(shape) > len(out):
            out = [1] * (len(shape) - len(out)) + out
        offset = len(out) - len(shape)
        for d, s in enumerate(shape):
            o = out[offset + d]
            if s == o or s == 1:
                continue
            if o != 1:
                return None
            out[offset + d] = s
    return tuple(out)


class ReductionCore:
    """A keops Genred and what pykeops needs around it: its arguments, the variants of its run
    options, its gradients' reductions."""

    reduction = reductions.lookup("Sum", None)
    opt_arg = None
    dtype_acc = "auto"

    def __init__(self, op):
        self.arguments = op.arguments  # (name, dim, category) by position
        self.nargs = len(self.arguments)
        self._variants = {}
        self._grads = {}
        # A formula without arguments of a category sizes that axis 1, as pykeops does.
        cats = {cat for _, _, cat in self.arguments}
        options = op.options
        if (0 not in cats and options.nx < 0) or (1 not in cats and options.ny < 0):
            base = options.__copy__()
            base.nx = 1 if 0 not in cats else base.nx
            base.ny = 1 if 1 not in cats else base.ny
            op = op.with_options(base)
        self._op = op

    @property
    def value_cols(self):
        return self._op.value_cols

    # -- what a call takes and yields -------------------------------------------------------

    def layout(self, args, tools):
        """The arguments as keops takes them (parameters of shape (..., 1, D) as (..., D)), their
        broadcast batch shape, and the rows of the output."""
        if len(args) != self.nargs:
            raise ValueError(f"Genred: expected {self.nargs} argument(s), got {len(args)}")
        shapes = [tools.shape(a) for a in args]
        nbatch = max(max(map(len, shapes), default=2) - 2, 0)
        batches = []
        rows = [None, None]
        for k, shape in enumerate(shapes):
            _, dim, cat = self.arguments[k]
            if cat == 2:
                if len(shape) == nbatch + 2 and shape[-2] == 1:  # (..., 1, D): one row
                    shape = shape[:-2] + shape[-1:]
                    args = list(args)
                    args[k] = tools.reshape(args[k], shape)
                trailing = 1
            else:
                trailing = 2
                if len(shape) >= 2 and rows[cat] is None:
                    rows[cat] = shape[-2]
            if len(shape) < trailing or shape[-1] != dim:
                raise ValueError(self._shape_error(k, shape))
            if len(shape) > trailing:
                batches.append(shape[:-trailing])
        batch = broadcast_shapes(batches) if batches else ()
        if batch is None:
            raise ValueError(
                "Genred: the arguments' batch dims "
                + ", ".join(str(tuple(b)) for b in batches)
                + " do not broadcast together"
            )
        out_rows = self._out_rows(rows)
        return args, batch, out_rows

    def _out_rows(self, rows):
        op_axis = self._op.axis
        out_rows = 1 if op_axis == -1 else rows[1 - op_axis]
        return 1 if out_rows is None else out_rows  # no argument of the output's category

    def _shape_error(self, k, shape):
        name, dim, cat = self.arguments[k]
        what = f"Genred: argument {k} ({name})"
        if cat == 2 and len(shape) < 1:
            return f"{what} is a parameter: expected an array of shape ({dim},)"
        if cat != 2 and len(shape) < 2:
            return (f"{what} is a variable: expected an array of shape (rows, {dim}), got "
                    f"shape {tuple(shape)}")
        return f"{what} has {shape[-1]} cols, but its dim is {dim}"

    def variant(self, backend, device_id, stream, ranges_arrays):
        """The keops Genred for one call's backend, device, stream and ranges."""
        return run_variant(self._op, self._variants, backend, device_id, stream, ranges_arrays)

    def grad_op(self, position):
        """The reduction of the gradient with respect to argument `position`: its arguments are
        this one's followed by the cotangent (rows of the output, value_cols wide)."""
        core = self._grads.get(position)
        if core is None:
            core = ReductionCore(self._op.grad(self.arguments[position][0]))
            self._grads[position] = core
        return core

    def allocate(self, tools, like, batch, out_rows, out=None):
        """The raw outputs: values (batch..., rows, value_cols) unless the reduction yields only
        indices, and indices (batch..., rows, index_cols) where it yields them."""
        shape = tuple(batch) + (out_rows,)
        vcols, icols = self._op.value_cols, self._op.index_cols
        values = indices = None
        if vcols:
            if out is not None:
                values = tools.output_view(out, shape + (vcols,), like)
            else:
                values = tools.empty(shape + (vcols,), like)
        elif out is not None:
            raise ValueError("Genred: out= is only supported for reductions that yield values")
        if icols:
            indices = tools.empty_indices(shape + (icols,), like)
        return values, indices

    def run(self, tools, args, backend="auto", device_id=-1, ranges=None, out=None):
        """Runs the reduction on arrays of one framework; returns the raw (values, indices)."""
        if args and self.dtype_acc == "float32" and tools.dtype_name(args[0]) == "float64":
            raise ValueError(
                "invalid parameter dtype_acc : should be 'float64' when dtype is 'float64'"
            )
        args, batch, out_rows = self.layout(args, tools)
        device = tools.device_of(args)
        stream = tools.stream(device) if device >= 0 else 0
        ranges_arrays = None if ranges is None else tools.ranges_to_host(ranges)
        op = self.variant(backend_of(backend), device_id, stream, ranges_arrays)
        values, indices = self.allocate(tools, args[0] if args else None, batch, out_rows, out)
        op.run(tools.for_keops(args), tools.for_keops_output(values),
               tools.for_keops_output(indices))
        return values, indices

    def finish(self, values, indices, reshape):
        """pykeops's result from the raw outputs."""
        return reductions.split_outputs(self.reduction, values, indices, self.opt_arg, reshape)


class GenredCore(ReductionCore):
    """A reduction as pykeops's Genred describes it (its parameters, checked as pykeops does)."""

    def __init__(
        self,
        formula,
        aliases,
        reduction_op="Sum",
        axis=0,
        dtype=None,
        opt_arg=None,
        formula2=None,
        cuda_type=None,
        dtype_acc="auto",
        use_double_acc=False,
        sum_scheme="auto",
        enable_chunks=True,
        rec_multVar_highdim=False,
        use_fast_math=True,
        tensor_cores="auto",
        matmul_precision="float32",
    ):
        # enable_chunks and rec_multVar_highdim are accepted and ignored: keops finds the
        # long products that take dimension tiles and the column groups of long outputs itself.
        for name, value in (("dtype", dtype), ("cuda_type", cuda_type)):
            if value:
                warn(f"keyword argument {name} in Genred is deprecated ; argument is ignored.", 4)
        if axis not in (0, 1):
            raise ValueError(f"Genred: axis must be 0 (reduce over i) or 1 (reduce over j), not {axis}")
        self.reduction_op = reduction_op
        self.reduction = reductions.lookup(reduction_op, formula2)
        self.formula, self.formula2 = formula, formula2
        self.aliases = list(aliases)
        self.axis = axis
        self.opt_arg = opt_arg
        options = _keops.Options()
        if opt_arg is not None:
            if not isinstance(opt_arg, int) or isinstance(opt_arg, bool):
                raise TypeError(f"opt_arg (K) must be an integer, got {opt_arg!r}")
            options.k = opt_arg
        if formula2:
            options.formula2 = formula2
        self.dtype_acc = accumulation_options(
            options, self.reduction, dtype_acc, use_double_acc, sum_scheme
        )
        options.gpu_fast_math = bool(use_fast_math)
        matrix_unit_options(options, tensor_cores, matmul_precision)
        super().__init__(_keops.Genred(formula, self.aliases, self.reduction.name, axis, options))
