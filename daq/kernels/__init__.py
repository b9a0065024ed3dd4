"""Pure functions over arrays: the numba feature kernels and their numpy reference, veto hits,
cuts, the SPE-gain estimate, beam exposure.

A kernel takes and returns numpy (structured) arrays and frozen parameter records, does no
I/O, reads no config and says in its docstring when it works in place. Parameters are built
from the config by :mod:`daq.stages.params`.

May import: ``daq.dtypes``; numpy, numba, math. Never sockets, files, config objects or processes.
"""
