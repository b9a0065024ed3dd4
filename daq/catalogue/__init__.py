"""The run catalogue: every run, file, tag, DQ flag, shift-log entry and derived file in a database.

SQLite in WAL mode in the run directory by default, PostgreSQL (or any SQLAlchemy database) by URL
(``catalogue.url``). Good-run lists, the fit's run selection and DQ history across runs come from it.
See docs/catalogue.md.

Modules: ``schema`` (the tables), ``migrations`` (the versioned schema: never a silent rebuild),
``database`` (engines: URLs, SQLite WAL, timeouts), ``store`` (the :class:`Catalogue`: writes and
queries), ``facts`` (what a run file says about its run and itself, its SHA-256), ``writer`` (the
supervisor's background writer: a bounded queue, spooled to the run directory, that never makes
the DAQ wait), ``selection`` (which runs: tags, type, dates, good-run lists), ``importer``
(indexing existing files, verifying the catalogued ones), ``history`` (DQ quantities across runs).

May import: ``daq.runfile``, ``daq.dtypes``, ``daq.config``; SQLAlchemy (and its drivers), h5py, numpy,
matplotlib. Never sockets or processes: the supervisor (``daq.control``) owns the writer thread.
"""

from daq.catalogue.database import CatalogueError, default_url, display_url
from daq.catalogue.store import VERDICTS, Catalogue

__all__ = ["VERDICTS", "Catalogue", "CatalogueError", "default_url", "display_url"]
