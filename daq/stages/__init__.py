"""What each DAQ process computes on a batch, as plain functions and state objects over arrays.

``building`` (beam matching, features with the running SPE gain: the event builder), ``veto``
(muon hits: the veto trigger), ``selection`` (cut bits, selected events, DQ rows: the cut
pipeline), ``dq`` (the data-quality accumulator), ``accounting`` (every trigger id recorded or
lost: the recorder), ``params`` (kernel parameters from the config). The processes of
:mod:`daq.processes` are thin socket adapters around these; batch reprocessing calls the very
same objects, so there is no second implementation.

May import: ``daq.kernels``, ``daq.dtypes``, ``daq.config``; numpy. Never sockets, files or processes.
"""
