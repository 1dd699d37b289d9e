"""KernelSolve, framework-neutral: pykeops's options and (alpha, eps) onto a keops KernelSolve."""

import itertools
import math

from pykeops import _keops
from pykeops.common import reductions
from pykeops.common.genred import accumulation_options, backend_of, broadcast_shapes, run_variant


class KernelSolveCore:
    """(alpha I + K) a = b by conjugate gradient, K a Sum reduction linear in b's argument."""

    def __init__(self, formula, aliases, varinvalias, axis=0, dtype=None, opt_arg=None,
                 cuda_type=None, dtype_acc="auto", use_double_acc=False, sum_scheme="auto",
                 enable_chunks=True, rec_multVar_highdim=None, use_fast_math=True):
        options = _keops.Options()
        accumulation_options(options, reductions.lookup("Sum", None), dtype_acc, use_double_acc,
                             sum_scheme)
        options.gpu_fast_math = bool(use_fast_math)
        self.formula, self.aliases, self.axis = formula, list(aliases), axis
        self._solve = _keops.KernelSolve(formula, self.aliases, varinvalias, axis, options)
        self.kernel = self._solve.kernel  # the keops Genred of K
        self.arguments = self.kernel.arguments
        self.position = self._solve.var_position
        self._variants = {}

    def _batches(self, tools, args):
        """The broadcast batch shape and, per element, the arguments' slices."""
        trailing = [1 if cat == 2 else 2 for _, _, cat in self.arguments]
        shapes = [tuple(tools.shape(a))[: len(tools.shape(a)) - t] for a, t in zip(args, trailing)]
        batch = broadcast_shapes(shapes)
        if batch is None:
            raise ValueError("KernelSolve: the arguments' batch dims do not broadcast together")
        elements = []
        for index in itertools.product(*(range(b) for b in batch)):
            element = []
            for a, shape in zip(args, shapes):
                own = index[len(index) - len(shape):] if shape else ()
                own = tuple(0 if s == 1 else i for i, s in zip(own, shape))
                element.append(a[own] if own else a)
            elements.append(element)
        return batch, elements

    def solve(self, tools, args, backend="auto", device_id=-1, alpha=1e-10, eps=1e-6,
              ranges=None):
        """The solution, of b's shape, as the front end's array on b's device."""
        if len(args) != len(self.arguments):
            raise ValueError(f"KernelSolve: expected {len(self.arguments)} argument(s), got {len(args)}")
        device = tools.device_of(args)
        stream = tools.stream(device) if device >= 0 else 0
        ranges_arrays = None if ranges is None else tools.ranges_to_host(ranges)
        op = run_variant(self._solve, self._variants, backend_of(backend), device_id, stream,
                         ranges_arrays)
        b = args[self.position]
        batch, elements = self._batches(tools, args)
        solutions = [self._solve_one(tools, op, element, alpha, eps) for element in elements]
        if not batch:
            return tools.from_host(solutions[0], b)
        return tools.stack_batch(solutions, tuple(batch), b)

    def _solve_one(self, tools, op, args, alpha, eps):
        b = args[self.position]
        n = max(1, int(math.prod(tools.shape(b))))
        b_norm = tools.norm(b)
        # KeOps stops when ||r||^2 < size(b) eps^2 (and returns 0 when b is that small).
        if b_norm * b_norm < n * eps * eps:
            return tools.host_zeros(tools.shape(b), b)
        tolerance = math.sqrt(n) * eps / b_norm
        values, _, _, _ = op.solve(tools.for_keops(list(args)), float(alpha), tolerance, 2 * n + 10)
        return values.reshape(tuple(tools.shape(b)))
