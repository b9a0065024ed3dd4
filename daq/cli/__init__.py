"""The ``sevens`` command line, one module per command group: ``run`` (daq, daemon, start, stop,
status, shutdown, reset, process), ``tools`` (keys, config), ``replay`` (replay, report, export),
``fit`` (predict, fit), ``interfaces`` (sim-ioc), ``gui``; ``main`` assembles them, and
``failures`` turns every error into one line on stderr (the traceback into the CLI log).

May import anything. Nothing imports it.
"""
