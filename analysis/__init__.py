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
- ``diagnostics``: chi^2 per window with effective ndof, Asimov expected significance,
  nuisance impacts, profile-scan points (pure functions of best fit and point) and crossings.
- ``toys.run_toy(model, truth, seed)``: one toy experiment as a pure function of its seed.
- Steady-state background models: ``steady_state`` (factorised, per bin) and
  ``steady_smooth`` (smooth shape from the sideband, normalisation prior); correlated shape
  systematics in ``systematics``; ROOT inputs in ``rootfiles`` (uproot).

Physics lives in small pure modules (``flux``, ``formfactor``, ``xsec``, ``response``,
``timing``, ``nsi``); ``dataset`` reads the TOML description of one data set;
``likelihood`` holds composable cost functions. ``sevens predict`` and ``sevens fit`` are
in :mod:`daq.cli.fit`.

May import: ``daq.runfile``, ``daq.dtypes``, ``daq.config`` (to read our own run files), ``daq.catalogue``
(to select runs by tag, type, date or good-run list); numpy,
scipy, iminuit, matplotlib, uproot. Never sockets, processes or the CLI.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
