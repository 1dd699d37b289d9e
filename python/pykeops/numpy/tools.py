"""What the framework-neutral code (pykeops/common) needs of NumPy arrays."""

import numpy as np

from pykeops.common.messages import NOT_CONTIGUOUS, warn

_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


class NumpyTools:
    name = "numpy"
    array_type = np.ndarray

    @staticmethod
    def is_array(x):
        return isinstance(x, np.ndarray)

    @staticmethod
    def prepare(args):
        """The arguments as C-contiguous float arrays (copies of non-contiguous ones, with
        pykeops's warning)."""
        out = []
        copied = False
        for k, a in enumerate(args):
            if not isinstance(a, np.ndarray):
                raise TypeError(
                    f"Genred: argument {k} is a {type(a).__name__}; pykeops.numpy takes NumPy arrays"
                )
            if not a.flags["C_CONTIGUOUS"]:
                a = np.ascontiguousarray(a)
                copied = True
            out.append(a)
        if copied:
            warn(NOT_CONTIGUOUS, 4)
        return out

    @staticmethod
    def for_keops(args):
        return args

    @staticmethod
    def for_keops_output(a):
        return a

    @staticmethod
    def shape(a):
        return a.shape

    @staticmethod
    def reshape(a, shape):
        return a.reshape(shape)

    @staticmethod
    def dtype_name(a):
        return a.dtype.name

    @staticmethod
    def device_of(args):
        return -1

    @staticmethod
    def stream(device):
        return 0

    @staticmethod
    def ranges_to_host(ranges):
        return [np.ascontiguousarray(np.asarray(r), dtype=np.int64) for r in ranges]

    @staticmethod
    def empty(shape, like):
        dtype = like.dtype if like is not None and like.dtype in _FLOATS else np.float32
        return np.empty(shape, dtype=dtype)

    @staticmethod
    def empty_indices(shape, like):
        return np.empty(shape, dtype=np.int64)

    @staticmethod
    def output_view(out, shape, like):
        if not isinstance(out, np.ndarray) or not out.flags["C_CONTIGUOUS"]:
            raise ValueError("Genred: out must be a C-contiguous NumPy array")
        if like is not None and out.dtype != like.dtype:
            raise ValueError(f"Genred: out is {out.dtype.name}, but the arguments are {like.dtype.name}")
        if out.size != int(np.prod(shape)):
            raise ValueError(f"Genred: out has shape {out.shape}, but the output has shape {shape}")
        return out.reshape(shape)

    # -- what LazyTensor needs --------------------------------------------------------------

    float_types = (float, np.floating)
    array_name = "NumPy arrays"

    @staticmethod
    def is_complex_value(x):
        return isinstance(x, complex) or (isinstance(x, np.ndarray) and np.iscomplexobj(x))

    @staticmethod
    def to_numpy(x):
        return np.asarray(x)

    @staticmethod
    def device_of_arrays(arrays):
        return None

    @staticmethod
    def array(values, dtype, device):
        return np.array(values, dtype=dtype)

    @staticmethod
    def swap_axes(ranges):
        return (*ranges[3:6], *ranges[0:3])

    @staticmethod
    def view_as_real(x):
        if not np.iscomplexobj(x):
            return x
        real = x.view(np.float32 if x.dtype == np.complex64 else np.float64)
        return real.reshape(x.shape[:-1] + (2 * x.shape[-1],))

    @staticmethod
    def view_as_complex(x):
        if isinstance(x, tuple):
            return x
        x = np.ascontiguousarray(x)
        return x.view(np.complex64 if x.dtype == np.float32 else np.complex128)

    # -- what KernelSolve needs -------------------------------------------------------------

    @staticmethod
    def norm(a):
        return float(np.linalg.norm(a.astype(np.float64).ravel()))

    @staticmethod
    def host_zeros(shape, like):
        return np.zeros(shape, dtype=like.dtype)

    @staticmethod
    def from_host(values, like):
        return values

    @staticmethod
    def stack_batch(values, batch, like):
        return np.stack(values).reshape(batch + values[0].shape)
