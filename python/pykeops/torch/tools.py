"""What the framework-neutral code (pykeops/common) needs of PyTorch tensors."""

import numpy as np
import torch
from torch.utils.dlpack import to_dlpack

from pykeops.common.messages import NOT_CONTIGUOUS, warn


def _stream_of_current(device):
    return torch.cuda.current_stream(device).cuda_stream


# The address alone, without building a torch.cuda.Stream (what Triton's launches read too).
_current_raw_stream = getattr(torch._C, "_cuda_getCurrentRawStream", _stream_of_current)

# CUDA's CU_STREAM_LEGACY: PyTorch's default stream is the legacy one, whose address reads 0,
# and 0 tells keops "no stream" (calls that wait for their results).
_LEGACY_STREAM = 1


class TorchTools:
    name = "torch"
    array_type = torch.Tensor
    float_types = (float,)
    array_name = "PyTorch tensors"

    @staticmethod
    def is_array(x):
        return isinstance(x, torch.Tensor)

    @staticmethod
    def prepare(args):
        """The arguments as contiguous tensors of one device (copies of non-contiguous ones,
        with pykeops's warning)."""
        out = []
        copied = False
        device = None
        for k, a in enumerate(args):
            if not isinstance(a, torch.Tensor):
                raise TypeError(
                    f"Genred: argument {k} is a {type(a).__name__}; pykeops.torch takes PyTorch tensors"
                )
            if device is None:
                device = a.device
            elif a.device != device:
                raise ValueError(
                    f"[KeOps] Input arrays must be all located on the same device: argument {k} "
                    f"is on {a.device}, argument 0 on {device}."
                )
            if not a.is_contiguous():
                a = a.contiguous()
                copied = True
            out.append(a)
        if copied:
            warn(NOT_CONTIGUOUS, 4)
        return out

    @staticmethod
    def for_keops(args):
        """The tensors as DLPack capsules (to_dlpack is some ten times quicker than the
        __dlpack__ protocol), without their autograd history."""
        return [to_dlpack(a.detach() if a.requires_grad else a) for a in args]

    @staticmethod
    def for_keops_output(a):
        return None if a is None else to_dlpack(a)

    @staticmethod
    def shape(a):
        return tuple(a.shape)

    @staticmethod
    def reshape(a, shape):
        return a.reshape(shape)

    @staticmethod
    def dtype_name(a):
        return str(a.dtype)[6:]  # "torch.float32"

    @staticmethod
    def device_of(args):
        if not args or args[0].device.type == "cpu":
            return -1
        if args[0].device.type != "cuda":
            raise TypeError(f"pykeops.torch runs on CPU and CUDA tensors, not on {args[0].device}")
        return args[0].device.index

    @staticmethod
    def stream(device):
        """PyTorch's current CUDA stream on `device`, as a CUstream address: calls on CUDA
        tensors are queued there, as PyTorch's own operations are."""
        return _current_raw_stream(device) or _LEGACY_STREAM

    @staticmethod
    def ranges_to_host(ranges):
        return [
            np.ascontiguousarray(
                r.detach().to("cpu", torch.int64).numpy() if isinstance(r, torch.Tensor) else r,
                dtype=np.int64,
            )
            for r in ranges
        ]

    @staticmethod
    def empty(shape, like):
        if like is None:
            return torch.empty(shape)
        return torch.empty(shape, dtype=like.dtype, device=like.device)

    @staticmethod
    def empty_indices(shape, like):
        return torch.empty(shape, dtype=torch.int64, device=None if like is None else like.device)

    @staticmethod
    def output_view(out, shape, like):
        if not isinstance(out, torch.Tensor) or not out.is_contiguous():
            raise ValueError("Genred: out must be a contiguous tensor")
        if like is not None and (out.dtype != like.dtype or out.device != like.device):
            raise ValueError(
                f"Genred: out is {out.dtype} on {out.device}, but the arguments are {like.dtype} "
                f"on {like.device}"
            )
        if out.numel() != int(np.prod(shape)):
            raise ValueError(f"Genred: out has shape {tuple(out.shape)}, but the output has shape {shape}")
        return out.view(shape)

    # -- what LazyTensor needs --------------------------------------------------------------

    @staticmethod
    def is_complex_value(x):
        return isinstance(x, complex) or (isinstance(x, torch.Tensor) and x.is_complex())

    @staticmethod
    def to_numpy(x):
        return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)

    @staticmethod
    def device_of_arrays(arrays):
        for a in arrays:
            if isinstance(a, torch.Tensor):
                return a.device
        return None

    @staticmethod
    def array(values, dtype, device):
        return torch.tensor(values, dtype=getattr(torch, dtype), device=device)

    @staticmethod
    def swap_axes(ranges):
        return (*ranges[3:6], *ranges[0:3])

    @staticmethod
    def view_as_real(x):
        if not x.is_complex():
            return x
        return torch.view_as_real(x).reshape(x.shape[:-1] + (2 * x.shape[-1],))

    @staticmethod
    def view_as_complex(x):
        if isinstance(x, tuple):
            return x
        return torch.view_as_complex(x.reshape(x.shape[:-1] + (x.shape[-1] // 2, 2)).contiguous())

    # -- what KernelSolve needs -------------------------------------------------------------

    @staticmethod
    def norm(a):
        return float(a.detach().double().norm())

    @staticmethod
    def host_zeros(shape, like):
        return np.zeros(shape, dtype=np.float32 if like.dtype == torch.float32 else np.float64)

    @staticmethod
    def from_host(values, like):
        return torch.from_numpy(values).to(like.device)

    @staticmethod
    def stack_batch(values, batch, like):
        return torch.from_numpy(np.stack(values).reshape(batch + values[0].shape)).to(like.device)
