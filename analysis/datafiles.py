"""Read the files a dataset description points at: observed counts and tables.

Three data formats give the same thing, counts per window in the analysis
PE x time binning:

- ``binned_text``: rows ``pe_centre, t_centre, counts`` on a regular grid (the
  COHERENT 2018 release); analysis bin edges must fall on the file's bin edges.
- ``event_text``: one file per window, rows ``pe, t``.
- ``hdf5_events``: DAQ run files; dataset ``selected`` with fields ``pe`` (float),
  ``time_ns`` (int64, from the ROI start), ``window`` (int8, 0 = AC, 1 = C) and
  ``beam_on`` (bool); root attributes ``pot_total`` and ``gwhr_total``. Fields are read
  by name (others are ignored) and their kinds checked: a foreign or damaged file is a
  DatasetError naming the file, the table and the field.
  Each file is first read whole against its checksums (raw waveforms included,
  :func:`daq.runfile.integrity.require_intact`): a damaged file is an error naming
  the dataset and rows, never counts from changed bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .dataset import DatasetSpec
from .rootfiles import is_root_reference, read_root_table
from .schema import DatasetError, read_text


@dataclass(frozen=True)
class ObservedData:
    """Counts per window, each of shape (n_pe_bins, n_time_bins), and the exposure."""

    counts: dict[str, NDArray[np.float64]]
    pot: float
    gwhr: float | None
    events: dict[str, int] = field(default_factory=dict)

    def window(self, name: str) -> NDArray[np.float64]:
        return self.counts[name]


def read_table(path: Path, columns: int) -> NDArray[np.float64]:
    """Numeric rows of a comma- or blank-separated text file; lines that start with
    ``#`` or do not parse as numbers (a header) are skipped.  ``file.root:object`` reads a
    ROOT histogram or tree instead (``rootfiles``)."""
    if is_root_reference(path):
        return read_root_table(path, columns)
    rows = []
    for number, line in enumerate(read_text(path, "data file").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        fields = text.replace(",", " ").split()
        try:
            values = [float(v) for v in fields]
        except ValueError:
            if rows:
                raise DatasetError(f"{path.name}: line {number}: expected numbers, got {line!r}") from None
            continue  # header line
        if len(values) < columns:
            raise DatasetError(f"{path.name}: line {number}: expected {columns} columns, got {len(values)}")
        rows.append(values[:columns])
    if not rows:
        raise DatasetError(f"{path.name}: expected a numeric table, found no rows")
    return np.array(rows)


def centres_to_edges(centres: NDArray[np.float64], path: Path) -> NDArray[np.float64]:
    """Edges of a regular grid given its bin centres."""
    c = np.unique(centres)
    if c.size == 1:
        raise DatasetError(f"{path.name}: a table needs at least two bins")
    width = np.diff(c)
    if not np.allclose(width, width[0], rtol=1e-6):
        raise DatasetError(f"{path.name}: expected equally spaced bin centres")
    return np.concatenate([c - width[0] / 2, [c[-1] + width[0] / 2]])


def aggregation_matrix(file_edges: NDArray, edges: NDArray, path: Path, axis: str) -> NDArray[np.float64]:
    """0/1 matrix summing file bins into analysis bins; edges must coincide."""
    index = np.searchsorted(file_edges, edges)
    ok = (index < file_edges.size) & np.isclose(file_edges[np.minimum(index, file_edges.size - 1)], edges)
    if not ok.all():
        raise DatasetError(
            f"{path.name}: analysis {axis} edges {edges.tolist()} must lie on the file's bin edges "
            f"{file_edges.tolist()}"
        )
    out = np.zeros((file_edges.size - 1, edges.size - 1))
    for j in range(edges.size - 1):
        out[index[j]:index[j + 1], j] = 1.0
    return out


def read_binned_counts(path: Path, pe_edges: NDArray, t_edges_us: NDArray, time_unit_us: float) -> NDArray:
    """Counts of a ``pe_centre, t_centre, counts`` file summed into the analysis bins."""
    table = read_table(path, 3)
    pe, t, n = table[:, 0], table[:, 1] * time_unit_us, table[:, 2]
    pe_file, t_file = centres_to_edges(pe, path), centres_to_edges(t, path)
    grid = np.zeros((pe_file.size - 1, t_file.size - 1))
    i = np.searchsorted(pe_file, pe) - 1
    j = np.searchsorted(t_file, t) - 1
    np.add.at(grid, (i, j), n)
    return aggregation_matrix(pe_file, pe_edges, path, "PE").T @ grid @ aggregation_matrix(
        t_file, t_edges_us, path, "time"
    )


def histogram(pe: NDArray, t_us: NDArray, pe_edges: NDArray, t_edges_us: NDArray) -> NDArray[np.float64]:
    """2D histogram of events in half-open [lo, hi) bins (numpy closes the last bin;
    an event exactly at the upper window edge is outside the window here)."""
    inside = (pe < pe_edges[-1]) & (t_us < t_edges_us[-1])
    counts, _, _ = np.histogram2d(pe[inside], t_us[inside], bins=(pe_edges, t_edges_us))
    return counts


#: Fields of a run file's ``selected`` table that the fit reads, by name, with the kinds they may have.
SELECTED_FIELDS = {"pe": ("f", "i", "u"), "time_ns": ("i", "u", "f"), "window": ("i", "u"), "beam_on": ("b", "i", "u")}
KIND_NAMES = {"f": "a float", "i": "an integer", "u": "an integer", "b": "a bool"}


def selected_rows(path: Path) -> tuple[dict[str, NDArray], float, float]:
    """The ``selected`` fields the fit uses (read by name, dtypes checked) and the ``pot_total`` and
    ``gwhr_total`` attributes of one run file; a foreign or damaged file is a DatasetError naming
    the file, the table or attribute and the field."""
    from daq.runfile import H5_ERRORS, RunFileError, open_run  # h5py: only needed for run files

    try:
        f = open_run(path)
    except RunFileError as exc:
        raise DatasetError(f"{exc} (a dataset with format = 'hdf5_events' reads sevens run files)") from None
    with f:
        try:
            ds = f["selected"] if "selected" in f else None
            if ds is None or not hasattr(ds, "dtype"):
                raise DatasetError(f"{path}: expected an HDF5 dataset 'selected' (the run file's selected events)")
            names = ds.dtype.names or ()
            missing = [name for name in SELECTED_FIELDS if name not in names]
            if missing or ds.ndim != 1:
                raise DatasetError(f"{path}: 'selected' lacks field(s) {sorted(missing)}" if missing else
                                   f"{path}: table 'selected': expected one row per event, got shape {ds.shape}")
            for name, kinds in SELECTED_FIELDS.items():
                field_dtype = ds.dtype.fields[name][0]
                if field_dtype.kind not in kinds or field_dtype.shape:
                    raise DatasetError(f"{path}: table 'selected', field '{name}': expected "
                                       f"{KIND_NAMES[kinds[0]]}, got {field_dtype}")
            exposure = []
            for attr in ("pot_total", "gwhr_total"):
                if attr not in f.attrs:
                    raise DatasetError(f"{path}: expected root attribute {attr!r}")
                value = f.attrs[attr]
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    number = float("nan")
                if not np.isfinite(number) or number < 0:
                    raise DatasetError(f"{path}: root attribute {attr!r}: expected a number >= 0, got {value!r}")
                exposure.append(number)
            rows = {name: ds.fields(name)[...] for name in SELECTED_FIELDS}
        except DatasetError:
            raise
        except H5_ERRORS as exc:  # damaged metadata or data
            raise DatasetError(f"{path}: not a readable run file: {' '.join(str(exc).split())}") from None
    return rows, exposure[0], exposure[1]


def verified(path: Path) -> None:
    """DatasetError naming the dataset and rows if any chunk of the run file ``path`` (raw waveforms
    included) fails its checksum; a file written without checksums passes (and one that does not
    open at all is left to :func:`selected_rows` to refuse)."""
    from daq.runfile import RunFileError
    from daq.runfile.integrity import check_file, require_intact

    check = check_file(path)
    if check.error is None:
        try:
            require_intact(path, check)
        except RunFileError as exc:
            raise DatasetError(str(exc)) from None


def read_run_files(paths: tuple[Path, ...], pe_edges: NDArray, t_edges_us: NDArray) -> ObservedData:
    """Histogram selected events of DAQ run files per window; sum their exposure."""
    counts = {w: np.zeros((pe_edges.size - 1, t_edges_us.size - 1))
              for w in ("c_beam_on", "ac_beam_on", "c_beam_off", "ac_beam_off")}
    events = dict.fromkeys(counts, 0)
    pot = 0.0
    gwhr = 0.0
    for path in paths:
        verified(path)
        sel, file_pot, file_gwhr = selected_rows(path)
        pot += file_pot
        gwhr += file_gwhr
        pe = sel["pe"].astype(np.float64)
        t_us = sel["time_ns"].astype(np.float64) * 1e-3
        beam_on = sel["beam_on"].astype(bool)
        for name, window, beam in (("c_beam_on", 1, True), ("ac_beam_on", 0, True),
                                   ("c_beam_off", 1, False), ("ac_beam_off", 0, False)):
            mask = (sel["window"] == window) & (beam_on == beam)
            counts[name] += histogram(pe[mask], t_us[mask], pe_edges, t_edges_us)
            events[name] += int(mask.sum())
    return ObservedData(counts, pot, gwhr, events)


def load_observed(spec: DatasetSpec) -> ObservedData:
    """Observed counts in the analysis binning, with the exposure (TOML overrides files)."""
    pe_edges, t_edges = spec.analysis.pe_edges, spec.analysis.time_edges_us
    if spec.data.format == "hdf5_events":
        obs = read_run_files(spec.data.run_files, pe_edges, t_edges)
        if spec.data.selected_runs:  # runs from the catalogue: its exposure, checked against the files
            from .runselect import check_exposure

            obs = ObservedData(obs.counts, *check_exposure(spec.data.selected_runs), obs.events)
        pot = spec.exposure.pot if spec.exposure.pot is not None else obs.pot
        gwhr = spec.exposure.gwhr if spec.exposure.gwhr is not None else obs.gwhr
        if pot <= 0:
            raise DatasetError(f"{spec.source_file.name}: [exposure] pot: zero in run files and not given")
        return ObservedData(obs.counts, pot, gwhr, obs.events)
    counts = {}
    for window, path in spec.data.files.items():
        if spec.data.format == "binned_text":
            counts[window] = read_binned_counts(path, pe_edges, t_edges, spec.data.time_unit_us)
        else:
            table = read_table(path, 2)
            counts[window] = histogram(table[:, 0], table[:, 1] * spec.data.time_unit_us, pe_edges, t_edges)
    assert spec.exposure.pot is not None  # enforced by the schema for text formats
    return ObservedData(counts, spec.exposure.pot, spec.exposure.gwhr)
