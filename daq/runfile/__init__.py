"""Run files: the HDF5 layout, reading (also of damaged files), writing, raw-waveform links, export.

Modules: ``files`` (the layout, opening, sub-run discovery), ``tables`` (reading rows and
attributes of a cut-short file), ``writer`` (the recorder's appender, free-space reserve),
``raw_codecs`` (the raw-waveform codecs: declared filters, chunks coded by the recorder and
written with ``write_direct_chunk``), ``raw_links`` (replay outputs whose raw waveforms are
virtual datasets over their input, or chunks copied from it),
``export`` (selected events for the fit), ``integrity`` (every chunk read against its checksum:
``sevens verify``), ``outputs`` (writing an output without ever replacing an input). The names
below are the package's public face.

May import: ``daq.dtypes``, ``daq.config``, ``daq.kernels``; h5py and hdf5plugin. Never sockets or processes.
"""

from daq.runfile.files import (
    CALIBRATION_RECORD,
    LAYOUT_VERSION,
    RAW,
    RUN_DIR_LOCK,
    RUNNING_STATUS,
    TABLES,
    RunFileError,
    missing_raw_sources,
    open_run,
    recording_now,
    refuse_while_recording,
    run_file_path,
    run_files,
    units_of,
)
from daq.runfile.raw_codecs import compression_options
from daq.runfile.tables import H5_ERRORS, read_rows, readable_attrs
from daq.runfile.writer import UNCLOSED, DiskFullError, RunFileWriter, check_free_space, free_bytes, write_failure

__all__ = [
    "CALIBRATION_RECORD",
    "H5_ERRORS", "LAYOUT_VERSION", "RAW", "RUN_DIR_LOCK", "RUNNING_STATUS", "TABLES", "UNCLOSED",
    "DiskFullError", "RunFileError", "RunFileWriter",
    "check_free_space", "compression_options", "free_bytes", "missing_raw_sources", "open_run", "read_rows",
    "readable_attrs", "recording_now", "refuse_while_recording", "run_file_path", "run_files", "units_of",
    "write_failure",
]
