"""The DAQ processes: the :class:`~daq.processes.node.Node` base (heartbeats, run commands, the
lossless and monitoring sends) and the reader, beam receiver, event builder, veto trigger, cut
pipeline and recorder. Each is a socket adapter around the stage functions of :mod:`daq.stages`.

Started by the supervisor as ``sevens process NAME``.

May import: ``daq.stages``, ``daq.kernels``, ``daq.runfile``, ``daq.wire``, ``daq.hardware``, ``daq.ops``,
``daq.dtypes``, ``daq.config``. Never the CLI, the control package or the GUI.
"""
