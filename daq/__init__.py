"""sevens DAQ: digitizer reader, beam receiver, event builder, muon-veto trigger, cuts, recorder, run control.

The packages, and the one direction imports run (each package says what it may import; checked
by tests/test_layout.py, see docs/architecture.md)::

    daq.cli                                   the ``sevens`` command line; nothing imports it
      -> daq.processes, daq.control, daq.replay, monitor, analysis, simulators
      -> daq.stages                           what each process computes on a batch (plain functions)
      -> daq.runfile, daq.kernels, daq.wire, daq.hardware, daq.ops
      -> daq.dtypes, daq.config
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sevens")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
