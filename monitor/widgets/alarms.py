"""The alarm list: time, severity, state, message; acknowledge one or all.

Unacknowledged errors are red, unacknowledged warnings amber, acknowledged alarms grey.
An alarm leaves the list once it has cleared and been acknowledged (see :mod:`monitor.alarms`).
"""

from __future__ import annotations

import time

from PyQt5.QtCore import Qt
from PyQt5.QtGui import QColor
from PyQt5.QtWidgets import (
    QAbstractItemView,
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

COLUMNS = ("time", "severity", "state", "message")
UNACK_BG = {Severity.ERROR: QColor(198, 40, 40), Severity.WARNING: QColor(239, 143, 0)}
ACK_FG = QColor(140, 140, 140)


class AlarmPanel(Panel):
    topics = frozenset({"alarms"})

    def __init__(self, alarms: AlarmMonitor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.alarms = alarms
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
        for col in range(3):
            header.setSectionResizeMode(col, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.Stretch)
        inner.addWidget(self.table)
        buttons = QHBoxLayout()
        self.ack = QPushButton("Acknowledge selected")
        self.ack_all = QPushButton("Acknowledge all")
        buttons.addWidget(self.ack)
        buttons.addWidget(self.ack_all)
        buttons.addStretch(1)
        inner.addLayout(buttons)
        layout.addWidget(box)
        self.ack.clicked.connect(self.acknowledge_selected)
        self.ack_all.clicked.connect(self.acknowledge_all)

    def acknowledge_selected(self) -> None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        for row in rows:
            if row < len(self.shown):
                self.alarms.book.acknowledge(self.shown[row].key)
        self._dirty = True
        self.refresh(force=True)

    def acknowledge_all(self) -> None:
        self.alarms.book.acknowledge_all()
        self._dirty = True
        self.refresh(force=True)

    def redraw(self) -> None:
        self.shown = self.alarms.book.listing()
        self.table.setRowCount(len(self.shown))
        for row, a in enumerate(self.shown):
            when = time.strftime("%H:%M:%S", time.localtime(a.raised))
            values = (when, a.severity.label.upper(), a.state + (f" x{a.count}" if a.count > 1 else ""), a.message)
            for col, text in enumerate(values):
                item = self.table.item(row, col)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(row, col, item)
                item.setText(text)
                item.setToolTip(a.message)
                if a.acknowledged:
                    item.setBackground(QColor(0, 0, 0, 0))
                    item.setForeground(ACK_FG)
                else:
                    item.setBackground(UNACK_BG[a.severity])
                    item.setForeground(QColor(Qt.white))
        self.table.resizeRowsToContents()
        self.ack.setEnabled(bool(self.shown))
        self.ack_all.setEnabled(bool(self.shown))
