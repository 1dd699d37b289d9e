"""pykeops on keops, an LLVM formula compiler: the KeOps 2.3 Python API (pykeops.numpy,
pykeops.torch) with kernels compiled in-process, no C++ compiler or CUDA toolkit needed."""

import os

from pykeops import _keops, config
from pykeops._keops import KeOpsError
from pykeops.common.messages import KeOpsWarning

__version__ = "2.3+llvm.0.1.0"

# pykeops prints what it does unless PYKEOPS_VERBOSE=0; here only warnings are shown.
verbose = os.getenv("PYKEOPS_VERBOSE") != "0"
default_device_id = 0


def set_verbose(val):
    """Turns pykeops's warnings on (True) or off (False)."""
    global verbose
    verbose = bool(val)


def get_build_folder():
    """The directory of keops's disk cache of compiled kernels ("" when it is off)."""
    return _keops.cache_directory()


def set_build_folder(path=None):
    """Keeps compiled kernels in `path` from now on; None goes back to the default
    ($KEOPS_CACHE_DIR, else $XDG_CACHE_HOME/keops, else ~/.cache/keops)."""
    _keops.set_cache_directory("" if path is None else os.fspath(path))


def clean_pykeops(recompile_jit_binaries=True):
    """Empties the disk cache of compiled kernels (recompile_jit_binaries: accepted, unused:
    keops has no JIT binaries to rebuild)."""
    return _keops.clear_cache()


def gpu_available():
    """Whether a usable CUDA GPU was found (the driver is loaded at run time)."""
    return _keops.gpu_available()


def check_health():
    """Prints what keops found: its cache, the GPU or why none is usable, NumPy and PyTorch."""
    print(f"pykeops {__version__} on keops (LLVM)")
    print(f"  kernel cache: {get_build_folder() or 'off'}")
    if _keops.gpu_available():
        print("  GPU: available")
    else:
        print(f"  GPU: unavailable ({_keops.gpu_unavailable_reason()})")
    for module in ("numpy", "torch"):
        try:
            m = __import__(module)
            print(f"  {module}: {m.__version__}")
        except ImportError:
            print(f"  {module}: not installed")


def test_numpy_bindings():
    """A Gaussian kernel sum through pykeops.numpy against NumPy; True when they agree."""
    from pykeops.numpy.test_install import test_numpy_bindings as run

    return run()


def test_torch_bindings():
    """A Gaussian kernel sum through pykeops.torch against PyTorch; True when they agree."""
    from pykeops.torch.test_install import test_torch_bindings as run

    return run()
