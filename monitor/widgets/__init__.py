"""The GUI's panels. Each panel reads the model on the main window's redraw timer
(:meth:`refresh`), only when a topic it shows changed (:meth:`mark_dirty`, connected to
:class:`monitor.stream.ModelNotifier`). Plot items are made once and updated with ``setData``."""
