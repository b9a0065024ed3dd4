"""Simulated hardware: SNS-like beam and digitizer with a CsI[Na] detector and muon veto.

Pure, seeded signal generators, separate from the device classes:

- :mod:`simulators.beam` — the beam timeline, a pure function of (seed, pulse id);
- :mod:`simulators.physics` — standard-model CEvNS per POT and beam arrival times;
- :mod:`simulators.deposits` — steady-state and beam-related energy deposits;
- :mod:`simulators.photons` — photoelectron times in a record (scintillation, afterglow, dark counts);
- :mod:`simulators.kernels` — numba kernels that add pulses and digitize with noise;
- :mod:`simulators.detector` — one CsI + veto record per pulse, with truth;
- :mod:`simulators.devices` — the wall-clock-paced devices implementing ``daq.hardware.protocols``;
- :mod:`simulators.sim_ioc` — a simulated accelerator IOC (EPICS, through caproto);
- :mod:`simulators.release` — a worked example of a full-dataset release for the fit
  (``python -m simulators.release DIR``: ROOT histograms, +-1 sigma curves, dataset TOML).

May import: ``daq.hardware`` (the protocols it implements), ``analysis`` (the physics it draws
from), ``daq.dtypes``, ``daq.config``. The backend registry names its devices by string.
"""
