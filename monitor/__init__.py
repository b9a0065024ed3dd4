"""Shift-crew GUI (PyQt5 + pyqtgraph)."""
