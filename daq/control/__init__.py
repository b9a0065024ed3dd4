"""Run control: the supervisor, its answers to requests, its alarm log (published to every GUI),
the run state machine, run numbers, the run summary, and the control client (``request``) that the
CLI and the GUI both use.

May import: ``daq.catalogue`` (the supervisor's catalogue writer), ``daq.runfile``, ``daq.wire``,
``daq.hardware``, ``daq.kernels``, ``daq.ops``, ``daq.dtypes``, ``daq.config``. It starts processes
as programs (``sevens process NAME``), never imports them.
"""
