"""What travels between processes: the message envelope, sockets, what each stream carries, CURVE.

Modules: ``envelope`` (the versioned header and raw array frames; no pickle), ``transport``
(ZeroMQ sockets: bind/connect, lossless send with backpressure, monitoring send that drops),
``streams`` (the arrays each stream's messages hold), ``security`` (CURVE keys and roles).

May import: ``daq.dtypes``, ``daq.config``; pyzmq. Never processes, files or kernels.
"""
