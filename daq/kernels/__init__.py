"""Pure functions over arrays: the numba feature kernels and their numpy reference, veto hits,
cuts, the SPE-gain estimate, beam exposure, and the raw-chunk coders (``raw_chunks``: Huffman
codes of raw samples as zstd frames or zlib streams, with HDF5's Fletcher-32; ``huffman``,
``zstd_literals``, ``deflate_literals``).

A kernel takes and returns numpy (structured) arrays and frozen parameter records, does no
I/O, reads no config and says in its docstring when it works in place. Parameters are built
from the config by :mod:`daq.stages.params`.

May import: ``daq.dtypes``; numpy, numba, math. Never sockets, files, config objects or processes. The one
exception is ``jit_cache``, infrastructure that reads this package's own sources once so that the numba cache
follows a change to any kernel module (installed here, before any kernel is decorated).
"""

from daq.kernels import jit_cache as _jit_cache

# before any kernel is decorated: a change to any kernel module recompiles every cached kernel (jit_cache)
_jit_cache.install(__path__[0])
