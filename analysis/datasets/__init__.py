"""Dataset descriptions (TOML) shipped with the analysis package."""

from pathlib import Path

DATASET_DIR = Path(__file__).resolve().parent


def builtin(name: str) -> Path:
    """Path of a shipped dataset description, e.g. ``builtin("coherent-2018")``."""
    return DATASET_DIR / f"{name}.toml"
