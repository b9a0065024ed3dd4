"""Colours, formats and the dirty-flag base of every panel."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PyQt5.QtWidgets import QWidget

OK = "#2e7d32"  # green
WARN = "#ef8f00"  # amber
BAD = "#c62828"  # red
IDLE = "#546e7a"  # blue-grey
INFO = "#1565c0"  # blue
C_PEN = "#ff7043"  # coincidence window: orange
AC_PEN = "#42a5f5"  # anti-coincidence window: blue
LIMIT_PEN = pg.mkPen("#ff5252", width=1.5, style=2)  # Qt.DashLine
OK_BAND = (46, 125, 50, 40)
ALERT_BG = "#3b0d0d"
PLOT_BG = "#111417"

STATE_COLOURS = {"running": OK, "ready": INFO, "stopping": WARN, "launching": WARN, "idle": IDLE, "error": BAD}

pg.setConfigOptions(antialias=False, background=PLOT_BG, foreground="#d0d0d0")


def badge_style(colour: str, size_pt: int = 11) -> str:
    """Style sheet of a coloured label with white bold text."""
    return (f"background-color: {colour}; color: white; font-weight: bold; font-size: {size_pt}pt;"
            "padding: 3px 8px; border-radius: 4px;")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = int(seconds)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def elide(text: str, n: int, middle: bool = False) -> str:
    """``text`` cut to ``n`` characters with an ellipsis (in the middle for paths); show the whole as tooltip."""
    if len(text) <= n:
        return text
    if middle:
        return text[: n // 3] + "…" + text[-(n - n // 3 - 1):]
    return text[: n - 1] + "…"


def fmt_value(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}g}"


class Panel(QWidget):
    """A widget that redraws on the timer when one of its ``topics`` changed."""

    topics: frozenset[str] = frozenset()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._dirty = True
        self.redraws = 0

    def mark_dirty(self, topics: set[str]) -> None:
        if self.topics & topics:
            self._dirty = True

    def refresh(self, force: bool = False) -> bool:
        """Redraw if something changed (and the panel is visible, unless ``force``)."""
        if not (self._dirty or force) or not (force or self.isVisible()):
            return False
        self._dirty = False
        self.redraw()
        self.redraws += 1
        return True

    def __init_subclass__(cls, **kwargs: object) -> None:
        # redraw is abstract; QWidget's metaclass does not mix with ABCMeta, so check it here,
        # when a panel class is defined, rather than when it first draws
        super().__init_subclass__(**kwargs)
        if "redraw" not in cls.__dict__ and not any("redraw" in b.__dict__ for b in cls.__mro__[1:-1]
                                                   if b is not Panel and issubclass(b, Panel)):
            raise TypeError(f"{cls.__name__} must define redraw()")
