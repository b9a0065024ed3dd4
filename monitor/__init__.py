"""Shift-crew GUI (PyQt5 + pyqtgraph) and the run report: the data-quality views of a run.

``model`` (accumulates what the monitor stream or a file brings; no widgets), ``stream`` (the
monitor-stream and run-control threads), ``filesource`` (a run file into the model),
``alarms`` (this viewer's checks, and the supervisor's alarm log), ``histograms``, ``timeaxis`` (trend
windows, hour and date ticks, min/max decimation, beam state), ``qtplatform`` (can Qt open a window
here, asked before the QApplication), ``widgets/`` (panels that redraw from the model on a timer),
``mainwindow``/``app`` (the Qt application), ``report`` (the run report as HTML and PNG).

May import: ``daq.control`` (the control client, the run summary), ``daq.catalogue`` (the
long-term trends: its DQ history), ``daq.runfile``, ``daq.wire``,
``daq.dtypes``, ``daq.config``. Never the CLI (``sevens gui`` in :mod:`daq.cli.gui` starts this).
"""
