"""Features do not depend on how records were batched (the condition for a bit-exact replay)."""

from __future__ import annotations

import numpy as np

from daq import config
from daq.hardware.protocols import RunParameters
from daq.stages.building import GAIN_BLOCK, FeatureExtraction
from simulators.beam import SNSBeamTimeline
from simulators.detector import DetectorSimulator


def features_with_batches(cfg: config.Config, batch, sizes: list[int]) -> np.ndarray:  # noqa: ANN001
    extraction = FeatureExtraction(cfg)  # a new run
    out, lo = [], 0
    for size in sizes:
        f, _ = extraction(batch.waveforms["csi"][lo:lo + size], batch.triggers[lo:lo + size])
        out.append(f)
        lo += size
    return np.concatenate(out)


def test_features_are_bit_identical_for_any_batching(daq_config) -> None:  # noqa: ANN001
    cfg = config.load(daq_config.path)
    params = RunParameters(run_number=1, seed=3, rate_boost=1e4, speed=1.0, start_time_ns=10**18)
    n = 4 * GAIN_BLOCK + 17
    batch = DetectorSimulator(cfg, params).records(SNSBeamTimeline(cfg, params).pulses(0, n), 0)
    one = features_with_batches(cfg, batch, [n])
    rng = np.random.default_rng(0)
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(min(rng.integers(1, 40), n - sum(sizes))))
    many = features_with_batches(cfg, batch, sizes)
    assert one.tobytes() == many.tobytes()
    assert len(np.unique(one["spe_gain"])) > 2  # the gain did move between blocks
