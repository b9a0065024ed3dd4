"""Offline CEvNS analysis for a CsI[Na] detector at a pulsed stopped-pion source.

What to use when
----------------
- ``prediction.predict`` / ``sevens predict``: standard-model expected counts per
  component (prompt nu_mu, delayed nu_e, delayed anti-nu_mu, beam neutrons) in the
  analysis PE x time binning of a dataset.
- ``fit.fit_dataset`` / ``sevens fit``: binned Poisson likelihood fit of the beam-on
  coincidence (C) window, steady-state background constrained by the anti-coincidence
  (AC) window, nuisance parameters with pull terms; derived physics results.
- ``counting.counting_analysis``: the single-bin C - AC - neutrons cross-check.

Physics lives in small pure modules (``flux``, ``formfactor``, ``xsec``, ``response``,
``timing``, ``nsi``); ``dataset`` reads the TOML description of one data set;
``likelihood`` holds composable cost functions. ``sevens predict`` and ``sevens fit`` are
in :mod:`daq.cli.fit`.

May import: ``daq.runfile``, ``daq.dtypes``, ``daq.config`` (to read our own run files), ``daq.catalogue``
(to select runs by tag, type, date or good-run list); numpy,
scipy, iminuit, matplotlib. Never sockets, processes or the CLI.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
