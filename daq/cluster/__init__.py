"""Reprocessing and fit toys beyond one machine, on Dask.

``client`` (which cluster: a LocalCluster by default, an existing scheduler's address, SLURM or
HTCondor jobs through dask-jobqueue, imported only then), ``fanout`` (one task per item, retried
once, failures reported by name while the rest finish, a terminal progress bar), ``numba_cache``
(the kernels warmed by one worker at a time, or a cache directory per worker), ``chain`` (the live
pipeline's stage objects in one process, into a run file), ``runs`` (one run reprocessed in one
task, from the replay devices), ``toys`` (one fit toy as a pure function of its seed). See
docs/reprocessing.md.

May import: ``daq.stages``, ``daq.kernels``, ``daq.processes`` (the reader's and recorder's array
layouts), ``daq.replay``, ``daq.runfile``, ``daq.hardware``, ``daq.ops`` (the heap), ``analysis``, ``daq.dtypes``,
``daq.config``; dask.distributed (and dask-jobqueue, lazily). Never the CLI, the control package or the GUI.
"""
