"""The numba cache of the kernels, made stale by a change to *any* kernel module, not only the kernel's own.

numba checks a cached kernel against the source file that defines it, and nothing else. A kernel that calls
a kernel of another module (``features._extract_kernel`` -> ``peaks.find_peaks``) is compiled with its callee
inlined, so after a change to ``peaks.py`` alone it went on running the old callee from ``__pycache__``
(measured: a new peak threshold had no effect until the cache was cleared by hand). For a DAQ updated from a
checkout that is a record made by code that is no longer there, without a word.

:func:`install` puts a locator in front of numba's own (the user-provided ``NUMBA_CACHE_DIR`` one and the
in-tree ``__pycache__`` one, in numba's order): for functions defined in a given package directory it keeps
numba's cache location, and its source stamp is one digest of every ``*.py`` file of that directory, so a change
to any of them recompiles every kernel of the package once. Functions elsewhere get numba's locators unchanged.

Infrastructure, not a kernel: it reads the package's own source files once, at import (``daq.kernels`` calls
it before any kernel is decorated), and never touches data.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from numba.core import caching

_stamps: dict[Path, str] = {}


def package_stamp(directory: Path) -> str:
    """One digest of the names and contents of every ``*.py`` file of ``directory`` (sorted by name)."""
    h = hashlib.sha256()
    for path in sorted(directory.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _locator(base: type) -> type:
    class PackageLocator(base):  # type: ignore[misc, valid-type]
        """``base``'s cache location; the source stamp of the whole package of the function's file."""

        directories: tuple[Path, ...] = ()

        @classmethod
        def from_function(cls, py_func, py_file):  # noqa: ANN001, ANN206
            if Path(py_file).resolve().parent not in cls.directories:
                return None
            return super().from_function(py_func, py_file)

        def get_source_stamp(self) -> str:
            directory = Path(self._py_file).resolve().parent
            if directory not in _stamps:
                _stamps[directory] = package_stamp(directory)
            return _stamps[directory]

    PackageLocator.__name__ = PackageLocator.__qualname__ = f"Package{base.__name__}"
    return PackageLocator


_LOCATORS = tuple(_locator(base) for base in (caching.UserProvidedCacheLocator, caching.InTreeCacheLocator))


def install(directory: Path | str) -> None:
    """Make the cached kernels defined in ``directory`` depend on every module there (idempotent)."""
    directory = Path(directory).resolve()
    for cls in _LOCATORS:
        if directory not in cls.directories:
            cls.directories = (*cls.directories, directory)
    classes = caching.CacheImpl._locator_classes
    for cls in reversed(_LOCATORS):
        if cls not in classes:
            classes.insert(0, cls)


def skip_extensions() -> None:
    """Mark numba's extension entry points (group ``numba_extensions``) as loaded without loading them.

    numba loads every installed extension at the first compile or cache load of a process: here that is
    awkward's (installed for uproot), 0.3-0.4 s of imports in every DAQ process start and restart, for types
    no kernel takes. Only for processes that run nothing but this package's kernels (``sevens process``);
    an analysis session that jits awkward arrays keeps numba's default. numba's own flag (a module global
    of ``numba.core.entrypoints``); should it ever go, this sets an unused name and numba loads the
    extensions as before (tests/kernels/test_jit_cache.py sees that)."""
    from numba.core import entrypoints

    entrypoints._already_initialized = True
