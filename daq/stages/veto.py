"""What the muon-veto trigger computes on a batch: the muon hits of each record's veto channel."""

from __future__ import annotations

import numpy as np

from daq.config import Config
from daq.kernels import veto_hits
from daq.stages.params import veto_params


class VetoHits:
    """Finds the VETO_HIT rows of veto-channel records and counts them per trigger."""

    def __init__(self, cfg: Config) -> None:
        self.args = veto_params(cfg).kernel_args()
        self.n_samples = cfg.digitizer.n_samples

    def warm(self) -> None:
        """Compile (or load from the cache) the kernel now rather than on the first data."""
        veto_hits.find_veto_hits(np.zeros((1, self.n_samples), np.int8), np.zeros(1, np.int64), *self.args)

    def __call__(self, veto: np.ndarray, triggers: np.ndarray) -> np.ndarray:
        """VETO_HIT rows of ``veto`` (records of ``triggers``, sorted by trigger id); fills the
        triggers' ``n_veto_hits`` IN PLACE."""
        hits = veto_hits.find_veto_hits(veto, triggers["trigger_id"], *self.args)
        n = len(triggers)
        counts = np.bincount(np.searchsorted(triggers["trigger_id"], hits["trigger_id"]), minlength=n)
        triggers["n_veto_hits"] = counts[:n]
        return hits
