"""Tables from ROOT files, read with ``uproot`` (no ROOT installation needed).

A dataset names a ROOT object as ``file.root:name`` wherever it takes a table file:

- a 1D histogram (TH1) gives the rows (bin centre, content);
- a 2D histogram (TH2) gives (x centre, y centre, content) for every bin, x outer; where a
  two-column table is expected, name its projection: ``file.root:name:x`` (x centre, content
  summed over y) or ``:y`` (e.g. the energy spectrum and the time profile of one 2D flux);
- a tree (TTree, or the newer RNTuple) gives its numeric branches as columns in their
  stored order, or the branches listed after a second colon: ``file.root:tree:pe,time_us``.

The rows are what ``datafiles.read_table`` would have read from a text table, so
every input (timing and flux PDFs, neutron tables, binned or event data) can come
from either.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .schema import DatasetError

SEPARATOR = ".root:"


def is_root_reference(name: str | Path) -> bool:
    return SEPARATOR in str(name)


def split_reference(name: str | Path) -> tuple[Path, str, list[str]]:
    """(file, object name, branches) of ``file.root:object[:branch,branch]``."""
    text = str(name)
    head, tail = text.split(SEPARATOR, 1)
    obj, _, branches = tail.partition(":")
    return Path(head + ".root"), obj, [b for b in branches.split(",") if b]


def read_root_table(reference: str | Path, columns: int) -> NDArray[np.float64]:
    """Rows of at least ``columns`` numbers from a ROOT histogram or tree (see module doc)."""
    import uproot

    path, name, branches = split_reference(reference)
    where = f"{path.name}:{name}"
    try:
        with uproot.open(path) as handle:
            if name not in handle:
                raise DatasetError(f"{where}: no such object in the ROOT file; it holds "
                                   f"{', '.join(sorted(k.split(';')[0] for k in handle.keys())) or 'nothing'}")
            obj = handle[name]
            table = _table(obj, branches, where, columns)
    except DatasetError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise DatasetError(f"{where}: cannot read the ROOT file: {exc}") from None
    if table.ndim != 2 or table.shape[1] < columns:
        raise DatasetError(f"{where}: expected {columns} columns, got {table.shape[1] if table.ndim == 2 else 0}")
    if table.shape[0] == 0:
        raise DatasetError(f"{where}: expected a numeric table, found no rows")
    return table[:, :columns]


def _table(obj, branches: list[str], where: str, columns: int) -> NDArray[np.float64]:
    classname = getattr(obj, "classname", "")
    if classname.startswith("TH1"):
        return np.column_stack([obj.axis().centers(), obj.values()])
    if classname.startswith("TH2") and (branches or columns < 3):
        if branches not in (["x"], ["y"]):
            raise DatasetError(f"{where}: a TH2 holds (x, y, content); for a {columns}-column table name its "
                               f"projection, {where}:x or {where}:y" + (f", not {':'.join(branches)!r}"
                                                                        if branches else ""))
        k = 0 if branches == ["x"] else 1
        return np.column_stack([obj.axis(k).centers(), obj.values().sum(axis=1 - k)])
    if classname.startswith("TH2"):
        x, y = obj.axis(0).centers(), obj.axis(1).centers()
        xx, yy = np.meshgrid(x, y, indexing="ij")
        return np.column_stack([xx.ravel(), yy.ravel(), obj.values().ravel()])
    if classname in ("TTree", "ROOT::RNTuple"):
        names = branches or [k for k in obj.keys()]
        missing = [b for b in names if b not in obj.keys()]
        if missing:
            raise DatasetError(f"{where}: no branch {missing[0]!r}; the tree has {', '.join(obj.keys())}")
        data = obj.arrays(names, library="np")
        return np.column_stack([np.asarray(data[b], dtype=float) for b in names])
    raise DatasetError(f"{where}: expected a TH1, TH2, TTree or RNTuple, got {classname or type(obj).__name__}")
