"""The alarm list: raised, severity, state, cleared, acknowledged (when, by whom), message.

Unacknowledged errors are red, unacknowledged warnings amber, acknowledged alarms grey. Two
kinds of alarm share the list: the supervisor's (a restart, a hang, a lost source, the run
aborted: the same in every GUI, acknowledged for every GUI by the control role through run
control, kept with their history) and this viewer's own (DQ limits, the monitor stream),
acknowledged here. An alarm leaves the list once it has cleared and been acknowledged;
"History" shows the supervisor's log of the run with those too (see :mod:`monitor.alarms`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PyQt5.QtCore import Qt
from PyQt5.QtGui import QColor
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from monitor.alarms import Alarm, AlarmMonitor, Severity
from monitor.widgets.common import Panel

COLUMNS = ("raised", "severity", "state", "cleared", "acknowledged", "message")
UNACK_BG = {Severity.ERROR: QColor(198, 40, 40), Severity.WARNING: QColor(239, 143, 0)}
ACK_FG = QColor(140, 140, 140)
MESSAGE_CHARS = 160  # longer messages are cut in the cell (the whole text is the tooltip)


def _hms(t: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) if t else ""


def row_texts(a: Alarm) -> tuple[str, ...]:
    """The cells of one alarm's row."""
    state = a.state + (f" x{a.count}" if a.count > 1 else "")
    acked = f"{_hms(a.acked_at)} {a.acked_by or ''}".strip() if a.acked_at else ("yes" if a.acknowledged else "")
    message = a.message if not a.cause else f"[{a.cause}] {a.message}"
    if len(message) > MESSAGE_CHARS:
        message = message[: MESSAGE_CHARS - 1] + "…"
    return (_hms(a.raised), a.severity.label.upper(), state, _hms(a.cleared), acked, message)


class AlarmPanel(Panel):
    topics = frozenset({"alarms", "supervision"})

    def __init__(self, alarms: AlarmMonitor, parent: QWidget | None = None,
                 acknowledge_shared: Callable[[list[int] | None], None] | None = None) -> None:
        super().__init__(parent)
        self.alarms = alarms
        self.acknowledge_shared = acknowledge_shared  # the supervisor's alarms: a run-control command
        self.shown: list[Alarm] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        box = QGroupBox("Alarms")
        inner = QVBoxLayout(box)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        for col in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.Stretch)
        inner.addWidget(self.table)
        buttons = QHBoxLayout()
        self.ack = QPushButton("Acknowledge selected")
        self.ack_all = QPushButton("Acknowledge all")
        self.history = QCheckBox("History")
        self.history.setToolTip("also the supervisor's cleared and acknowledged alarms of the run")
        buttons.addWidget(self.ack)
        buttons.addWidget(self.ack_all)
        buttons.addStretch(1)
        buttons.addWidget(self.history)
        inner.addLayout(buttons)
        layout.addWidget(box)
        self.ack.clicked.connect(self.acknowledge_selected)
        self.ack_all.clicked.connect(self.acknowledge_all)
        self.history.toggled.connect(lambda _: self.refresh(force=True))

    def _acknowledge(self, alarms: list[Alarm]) -> None:
        shared = [a.shared_id for a in alarms if a.shared_id is not None and not a.acknowledged]
        for a in alarms:
            if a.shared_id is None:
                self.alarms.book.acknowledge(a.key)
        if shared and self.acknowledge_shared is not None:
            self.acknowledge_shared(shared)
        self._dirty = True
        self.refresh(force=True)

    def acknowledge_selected(self) -> None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        self._acknowledge([self.shown[r] for r in sorted(rows) if r < len(self.shown)])

    def acknowledge_all(self) -> None:
        self._acknowledge(list(self.shown))

    def redraw(self) -> None:
        self.shown = self.alarms.listing(history=self.history.isChecked())
        self.table.setRowCount(len(self.shown))
        for row, a in enumerate(self.shown):
            tip = f"{a.key}: {a.message}" + (f"\ncause: {a.cause}" if a.cause else "")
            for col, text in enumerate(row_texts(a)):
                item = self.table.item(row, col)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(row, col, item)
                item.setText(text)
                item.setToolTip(tip)
                if a.acknowledged:
                    item.setBackground(QColor(0, 0, 0, 0))
                    item.setForeground(ACK_FG)
                else:
                    item.setBackground(UNACK_BG[a.severity])
                    item.setForeground(QColor(Qt.white))
        self.table.resizeRowsToContents()
        pending = any(not a.acknowledged for a in self.shown)
        self.ack.setEnabled(pending)
        self.ack_all.setEnabled(pending)
