"""Hardware contracts and backends: the digitizer and beam protocols, the backend registry, and the
NI-SCOPE, CAEN and EPICS backends (each imports its vendor library only when chosen).

The simulated backends live in :mod:`simulators` and implement the same protocols.

May import: ``daq.dtypes``, ``daq.config``. Never sockets, files or processes.
"""
