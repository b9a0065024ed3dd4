"""Named simulator presets that span real PMTs: SPE shape x electronic noise x in-record baseline slope.

Real PMTs differ (SPEC section 4): SPE pulses with 2 to 20 ns tails and a 30-50 % charge spread,
0.5 to 1.5 ADC of noise, baselines that drift and slope across a 70 us record. A preset is a set of
``[simulation]`` overrides; :func:`preset_config` applies one to a config. Names read
``SPE[/NOISE[/SLOPE]]``, e.g. ``typical``, ``slow/1.2``, ``fast/0.5/-1``:

* SPE shapes (``SPE_SHAPES``): ``gaussian`` (the original simulator: a 2.5 ns gaussian), ``fast``
  (1 ns rise, 2 ns tail), ``typical`` (1 ns rise, 10 ns tail), ``slow`` (1 ns rise, 20 ns tail),
  ``two-tail`` (10 ns tail with 15 % of the charge in a 40 ns tail). All but ``gaussian`` have a 1 ns
  electronics response and a 40 % SPE charge spread (Polya/gamma distributed), 30 ADC*sample mean.
* noise: rms [ADC] (default 0.8); slope: baseline change across the record [ADC] (default 0).

The CsI[Na] light of the presets is that of the independent check of issue 13: 80 % with 600 ns and
20 % with 3.5 us decay.
"""

from __future__ import annotations

from typing import Any

SPE_SHAPES: dict[str, dict[str, float]] = {
    "gaussian": {"spe_decay_ns": 0.0, "spe_sigma_ns": 2.5, "spe_gain_spread": 0.35},
    "fast": {"spe_decay_ns": 2.0, "spe_rise_ns": 1.0, "spe_sigma_ns": 1.0, "spe_gain_spread": 0.40},
    "typical": {"spe_decay_ns": 10.0, "spe_rise_ns": 1.0, "spe_sigma_ns": 1.0, "spe_gain_spread": 0.40},
    "slow": {"spe_decay_ns": 20.0, "spe_rise_ns": 1.0, "spe_sigma_ns": 1.0, "spe_gain_spread": 0.40},
    "two-tail": {"spe_decay_ns": 10.0, "spe_rise_ns": 1.0, "spe_sigma_ns": 1.0, "spe_gain_spread": 0.40,
                 "spe_tail2_fraction": 0.15, "spe_tail2_ns": 40.0},
}
SPE_TAIL_NS = {"fast": 2.0, "typical": 10.0, "slow": 20.0}  # the matrix's SPE tails by name
CSI_LIGHT = {"scint_fast_ns": 600.0, "scint_slow_ns": 3500.0, "scint_slow_fraction": 0.2}
NOISES_ADC = (0.5, 0.8, 1.2)
SLOPES_ADC = (0.0, 1.0, -1.0)
# the matrix of issue 13, item 6: SPE tail 2 / 10 / 20 ns x noise 0.5 / 0.8 / 1.2 ADC x slope 0 / +-1 ADC
MATRIX = tuple((spe, noise, slope) for spe in SPE_TAIL_NS for noise in NOISES_ADC for slope in SLOPES_ADC)


def preset_name(spe: str, noise_adc: float, slope_adc: float = 0.0) -> str:
    return f"{spe}/{noise_adc:g}/{slope_adc:+g}"


def parse_preset(name: str) -> tuple[str, float, float]:
    """(SPE shape, noise [ADC], slope [ADC]) of a preset name; ValueError naming what is wrong."""
    parts = name.split("/")
    if not 1 <= len(parts) <= 3 or parts[0] not in SPE_SHAPES:
        raise ValueError(f"preset {name!r}: expected SPE[/NOISE[/SLOPE]] with SPE one of {', '.join(SPE_SHAPES)}")
    try:
        noise = float(parts[1]) if len(parts) > 1 else 0.8
        slope = float(parts[2]) if len(parts) > 2 else 0.0
    except ValueError:
        raise ValueError(f"preset {name!r}: NOISE and SLOPE are numbers [ADC]") from None
    if not 0 <= noise <= 10:
        raise ValueError(f"preset {name!r}: noise {noise} ADC outside 0 to 10")
    return parts[0], noise, slope


def simulation_overrides(spe: str, noise_adc: float, slope_adc: float = 0.0) -> dict[str, Any]:
    """The ``[simulation]`` keys of a preset."""
    return {**SPE_SHAPES[spe], **CSI_LIGHT, "noise_rms_adc": float(noise_adc), "baseline_slope_adc": float(slope_adc)}


def preset_config(cfg: Any, name: str, **simulation: Any) -> Any:
    """``cfg`` (a :class:`daq.config.Config`) with the preset ``name`` and further ``[simulation]`` keys."""
    from daq.config import with_overrides

    return with_overrides(cfg, {"simulation": {**simulation_overrides(*parse_preset(name)), **simulation}})
