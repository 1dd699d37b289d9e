"""pytest set-up: a temporary kernel cache, random data, dense references and GPU skips."""

import os
import tempfile

# Before pykeops is imported: the suite never touches the user's kernel cache.
_cache = tempfile.TemporaryDirectory(prefix="pykeops-test-cache-")
os.environ["KEOPS_CACHE_DIR"] = _cache.name

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import pykeops  # noqa: E402


def pytest_report_header(config):
    return f"pykeops {pykeops.__version__} from {os.path.dirname(pykeops.__file__)}"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def gpu_or_skip():
    """Skips the calling test, saying why, where no GPU is usable."""
    if not pykeops.config.gpu_available:
        pytest.skip(f"no usable GPU: {pykeops._keops.gpu_unavailable_reason()}")


def torch_cuda_or_skip():
    """Skips the calling test where neither keops nor PyTorch can use a GPU."""
    gpu_or_skip()
    import torch

    if not torch.cuda.is_available():
        pytest.skip("PyTorch sees no CUDA device")


def tolerance(dtype):
    return {"float32": 2e-5, "float64": 1e-11}[np.dtype(dtype).name]


def assert_close(got, expected, dtype, scale=1.0):
    """Max-norm relative error within the dtype's tolerance (scaled for long sums)."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    norm = max(np.abs(expected).max(initial=0.0), 1e-300)
    err = np.abs(got - expected).max(initial=0.0) / norm
    assert err <= scale * tolerance(dtype), f"max relative error {err:.3g}"
