"""Where the COHERENT 2018 public release is: ``shared/data/coherent-2018-csi`` beside the
repository (``REPO/../shared``), or beside a parent directory holding the checkout (a git
worktree such as ``wt/NAME`` next to ``shared``)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def release_dir(name: str = "coherent-2018-csi") -> Path:
    for base in REPO.parents:
        candidate = base / "shared" / "data" / name
        if candidate.is_dir():
            return candidate
    return REPO.parent / "shared" / "data" / name  # absent: tests report this path


COHERENT_2018 = release_dir()
