"""PyTorch autograd for keops reductions and solves: backward, forward mode (jvp) and vmap.

A reduction's gradient is another reduction (keops's Genred.grad), applied through the same
Function, so that gradients of gradients work to any order. Forward mode uses the gradient of
the gradient with respect to its cotangent: that map is linear, and differentiating it gives
the Jacobian-vector product. vmap adds the mapped dim as a leading batch dim.
"""

import torch

from pykeops.torch.tools import TorchTools


class Call:
    """A reduction and the options of one call (backend, device, ranges)."""

    __slots__ = ("core", "backend", "device_id", "ranges")

    def __init__(self, core, backend="auto", device_id=-1, ranges=None):
        self.core, self.backend, self.device_id, self.ranges = core, backend, device_id, ranges

    def run(self, args, out=None):
        """(values, indices): each a tensor, empty ((..., rows, 0)) where the reduction yields
        none."""
        values, indices = self.core.run(TorchTools, args, self.backend, self.device_id,
                                        self.ranges, out)
        if values is None:
            values = torch.empty(indices.shape[:-1] + (0,), dtype=args[0].dtype, device=indices.device)
        if indices is None:
            indices = torch.empty(values.shape[:-1] + (0,), dtype=torch.int64, device=values.device)
        return values, indices

    def grad(self, position):
        return Call(self.core.grad_op(position), self.backend, self.device_id, self.ranges)

    def tangent(self, position):
        """The reduction of J_position u: the gradient's gradient with respect to its cotangent
        (argument nargs), whose arguments are (args, cotangent, u)."""
        return Call(self.core.grad_op(position).grad_op(self.core.nargs), self.backend,
                    self.device_id, self.ranges)


def needs_autograd(args):
    """Whether a call must go through the autograd Function: a tensor that requires grad in
    grad mode, a torch.func transform or a forward-mode level."""
    if torch._C._are_functorch_transforms_active():
        return True
    if torch.autograd.forward_ad._current_level >= 0:
        return True
    return torch.is_grad_enabled() and any(a.requires_grad for a in args)


def sum_to_shape(g, shape, parameter):
    """g summed over the batch dims that an argument of `shape` broadcast, in its shape. A
    parameter's gradient comes as (batch..., 1, dim)."""
    if parameter:
        g = g.reshape(g.shape[:-2] + g.shape[-1:])
    lead = g.dim() - len(shape)
    if lead > 0:
        g = g.sum(dim=tuple(range(lead)))
    elif lead < 0:
        g = g.reshape((1,) * -lead + tuple(g.shape))
    dims = [d for d, (gs, s) in enumerate(zip(g.shape, shape)) if s == 1 and gs != 1]
    if dims:
        g = g.sum(dim=dims, keepdim=True)
    return g.reshape(shape)


class GenredFunction(torch.autograd.Function):
    @staticmethod
    def forward(call, *args):
        return call.run(args)

    @staticmethod
    def setup_context(ctx, inputs, output):
        call, *args = inputs
        ctx.call = call
        ctx.save_for_backward(*args)
        ctx.save_for_forward(*args)
        ctx.mark_non_differentiable(output[1])

    @staticmethod
    def backward(ctx, grad_values, grad_indices):
        call = ctx.call
        args = ctx.saved_tensors
        grads = [None]
        for k, arg in enumerate(args):
            if not ctx.needs_input_grad[k + 1]:
                grads.append(None)
            elif call.core.value_cols == 0:  # an index-only reduction: piecewise constant
                grads.append(torch.zeros_like(arg))
            else:
                g, _ = GenredFunction.apply(call.grad(k), *args, grad_values.contiguous())
                grads.append(sum_to_shape(g, arg.shape, call.core.arguments[k][2] == 2))
        return tuple(grads)

    @staticmethod
    def jvp(ctx, _, *tangents):
        call = ctx.call
        args = ctx.saved_tensors
        total = None
        cotangent = None
        for k, u in enumerate(tangents):
            if u is None or call.core.value_cols == 0:
                continue
            if cotangent is None:  # any value: the map from it is linear
                cotangent = _zero_cotangent(call, args)
            v, _ = GenredFunction.apply(call.tangent(k), *args, cotangent, u.contiguous())
            total = v if total is None else total + v
        if total is None:
            total = _zero_cotangent(call, args)
        return total, None

    @staticmethod
    def vmap(info, in_dims, call, *args):
        return GenredFunction.apply(call, *batched_args(call.core, in_dims[1:], args)), (0, 0)


def _zero_cotangent(call, args):
    _, batch, rows = call.core.layout(list(args), TorchTools)
    return torch.zeros(tuple(batch) + (rows, call.core.value_cols), dtype=args[0].dtype,
                       device=args[0].device)


def batched_args(core, in_dims, args):
    """The arguments with the vmapped dim first, as a leading batch dim common to all (those
    not mapped get a 1 there), their batch dims aligned."""
    trailing = [1 if cat == 2 else 2 for _, _, cat in core.arguments]
    moved = [a.unsqueeze(0) if d is None else a.movedim(d, 0).contiguous()
             for a, d in zip(args, in_dims)]
    rank = max(a.dim() - 1 - t for a, t in zip(moved, trailing))
    out = []
    for a, t in zip(moved, trailing):
        missing = rank - (a.dim() - 1 - t)
        out.append(a.reshape(a.shape[:1] + (1,) * missing + a.shape[1:]) if missing > 0 else a)
    return out


class SolveFunction(torch.autograd.Function):
    """KernelSolve's solution a of (alpha I + K) a = b, differentiable in every argument."""

    @staticmethod
    def forward(solve, *args):
        return solve.run(args)

    @staticmethod
    def setup_context(ctx, inputs, output):
        solve, *args = inputs
        ctx.solve = solve
        ctx.save_for_backward(*args, output)

    @staticmethod
    def backward(ctx, grad_output):
        solve = ctx.solve
        *args, solution = ctx.saved_tensors
        position = solve.position
        with_g = list(args)
        with_g[position] = grad_output.contiguous()
        k_inv_g = SolveFunction.apply(solve, *with_g)
        with_a = list(args)
        with_a[position] = solution
        grads = [None]
        for k, arg in enumerate(args):
            if not ctx.needs_input_grad[k + 1]:
                grads.append(None)
            elif k == position:
                grads.append(k_inv_g)
            else:  # -d<K(a), e'>/d arg, e' = (alpha I + K)^-1 g
                g, _ = GenredFunction.apply(solve.kernel.grad(k), *with_a, -k_inv_g)
                grads.append(sum_to_shape(g, arg.shape, solve.kernel.core.arguments[k][2] == 2))
        return tuple(grads)
