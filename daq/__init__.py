"""sevens DAQ: digitizer reader, beam receiver, event builder, muon-veto trigger, cuts, recorder, run control."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sevens")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
