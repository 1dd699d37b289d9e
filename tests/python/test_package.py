"""The pykeops package itself: version, configuration, the kernel cache, install self-tests."""

import os
import subprocess
import sys

import numpy as np

import pykeops
from pykeops.numpy import Genred


def test_version_and_config():
    assert pykeops.__version__.startswith("2.3")
    assert pykeops.config.numpy_found and pykeops.config.torch_found
    assert isinstance(pykeops.config.gpu_available, bool)
    assert pykeops.config.gpu_available == pykeops.gpu_available()
    assert issubclass(pykeops.KeOpsError, ValueError)


def test_self_tests_pass(capsys):
    assert pykeops.test_numpy_bindings()
    assert pykeops.test_torch_bindings()
    out = capsys.readouterr().out
    assert "numpy bindings is working" in out and "torch bindings is working" in out
    pykeops.check_health()
    assert "kernel cache" in capsys.readouterr().out


def test_build_folder_holds_the_kernel_cache(tmp_path):
    default = pykeops.get_build_folder()
    assert default == os.environ["KEOPS_CACHE_DIR"]
    pykeops.set_build_folder(tmp_path / "kernels")
    try:
        assert pykeops.get_build_folder() == str(tmp_path / "kernels")
        op = Genred("Exp(-SqDist(x, y) * 0.375)", ["x = Vi(2)", "y = Vj(2)"], axis=1)
        op(np.ones((2, 2)), np.zeros((3, 2)))
        assert len(os.listdir(tmp_path / "kernels")) >= 1
        assert pykeops.clean_pykeops() >= 1
        assert os.listdir(tmp_path / "kernels") == []
    finally:
        pykeops.set_build_folder(None)
    assert pykeops.get_build_folder() == default


def test_a_fresh_process_reuses_the_disk_cache(tmp_path):
    script = (
        "import time, numpy as np\n"
        "from pykeops.numpy import Genred\n"
        "t = time.perf_counter()\n"
        "op = Genred('Exp(-SqDist(x, y) * 0.625) * b', ['x = Vi(3)', 'y = Vj(3)', 'b = Vj(1)'],"
        " axis=1)\n"
        "op(np.ones((4, 3)), np.zeros((5, 3)), np.ones((5, 1)))\n"
        "print(time.perf_counter() - t)\n"
    )
    env = dict(os.environ, KEOPS_CACHE_DIR=str(tmp_path), KEOPS_LOG="debug")
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                           check=True) for _ in range(2)]
    assert "disk cache: miss" in runs[0].stderr
    assert "disk cache: hit" in runs[1].stderr
    assert "disk cache: miss" not in runs[1].stderr


def test_verbose_switch():
    pykeops.set_verbose(False)
    assert pykeops.verbose is False
    pykeops.set_verbose(True)
    assert pykeops.verbose is True
