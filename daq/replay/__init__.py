"""Replay sources: the replay digitizer and beam backends that feed a recorded run back through the
live pipeline, and the reading of their input files chunk by chunk.

May import: ``daq.runfile``, ``daq.hardware``, ``daq.dtypes``, ``daq.config``.
"""
