"""A change to any kernel module recompiles the cached kernels that call into it (daq.kernels.jit_cache).

numba alone checks a cached kernel against its own file: a caller whose callee lives in another module kept
the old callee. The test builds a two-module package of kernels (``callee`` and ``caller``, ``cache=True``),
runs the caller in a fresh process, changes only ``callee.py`` and runs it again in another fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from daq.kernels import jit_cache

CALLEE = "import numba\n\n\n@numba.njit(cache=True)\ndef value():\n    return {v}\n"
CALLER = ("import numba\n\nfrom kpkg.callee import value\n\n\n@numba.njit(cache=True)\ndef twice():\n"
          "    return 2 * value()\n")
INIT = "from daq.kernels import jit_cache\n\njit_cache.install(__path__[0])\n"
RUN = "from kpkg.caller import twice; print(twice())"


def run_caller(root: Path, env: dict[str, str]) -> int:
    out = subprocess.run([sys.executable, "-c", RUN], cwd=root, env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    return int(out.stdout.strip())


def kernel_package(root: Path, install: bool) -> Path:
    pkg = root / "kpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(INIT if install else "")
    (pkg / "callee.py").write_text(CALLEE.format(v=1))
    (pkg / "caller.py").write_text(CALLER)
    return pkg


@pytest.mark.parametrize("cache_dir", [False, True], ids=["in-tree", "NUMBA_CACHE_DIR"])
def test_a_change_to_a_callee_module_recompiles_its_caller(tmp_path: Path, cache_dir: bool) -> None:
    pkg = kernel_package(tmp_path, install=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(Path(jit_cache.__file__).parents[2])]))
    if cache_dir:
        env["NUMBA_CACHE_DIR"] = str(tmp_path / "cache")
    else:
        env.pop("NUMBA_CACHE_DIR", None)
    assert run_caller(tmp_path, env) == 2
    assert run_caller(tmp_path, env) == 2  # loaded from the cache
    (pkg / "callee.py").write_text(CALLEE.format(v=5))
    assert run_caller(tmp_path, env) == 10


def test_without_it_numba_keeps_the_old_callee(tmp_path: Path) -> None:
    """The hazard itself, so that this test fails the day numba fixes it and jit_cache can go."""
    pkg = kernel_package(tmp_path, install=False)
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    env.pop("NUMBA_CACHE_DIR", None)
    assert run_caller(tmp_path, env) == 2
    (pkg / "callee.py").write_text(CALLEE.format(v=5))
    assert run_caller(tmp_path, env) == 2


def test_the_stamp_follows_every_module_of_the_package(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("y = 1\n")
    first = jit_cache.package_stamp(tmp_path)
    (tmp_path / "b.py").write_text("y = 2\n")
    assert jit_cache.package_stamp(tmp_path) != first


LOAD = ("import sys\nimport numpy as np\nfrom daq.kernels import jit_cache\n{skip}"
        "from daq.kernels.huffman import fletcher32\nfletcher32(np.zeros(8, np.uint8), 4)\n"
        "print('awkward' in sys.modules)")


@pytest.mark.parametrize("skip", [False, True], ids=["numba-default", "skip_extensions"])
def test_a_daq_process_loads_its_kernels_without_numbas_extensions(skip: bool) -> None:
    """numba imports every installed extension (awkward's, for uproot) at a process's first kernel load;
    ``skip_extensions`` (what ``sevens process`` calls) leaves them out. Without it the import happens,
    so that this test fails the day numba or the environment changes and the call can go."""
    code = LOAD.format(skip="jit_cache.skip_extensions()\n" if skip else "")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=Path(jit_cache.__file__).parents[2])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == str(not skip)
