"""pykeops.config: what pykeops found at import (as KeOps's module of that name)."""

import importlib.util

from pykeops import _keops

numpy_found = importlib.util.find_spec("numpy") is not None
torch_found = importlib.util.find_spec("torch") is not None
# Whether a usable CUDA GPU was found: the driver is loaded at run time, no toolkit needed.
gpu_available = _keops.gpu_available()
use_cuda = gpu_available


def get_build_folder():
    """The directory of keops's disk cache of compiled kernels ("" when it is off)."""
    return _keops.cache_directory()
