"""Every structured data type of sevens, defined once.

Each field carries its unit in its title (``np.dtype`` titles), so ``units(dtype)``
can put the units into the run file's attributes. Times are int64 nanoseconds.

Record-relative times (``*_ns`` fields of features, peaks, truth and veto hits)
count from the first sample of the 70 us digitizer record; ROI-relative times
(``onset_ns``) count from the start of the window's region of interest, which for
the coincidence (C) window is the beam (POT) time.
"""

from __future__ import annotations

import numpy as np

# Window codes used in every per-window table.
WINDOW_AC = 0  # anti-coincidence: steady-state background only
WINDOW_C = 1  # coincidence: ROI starts at the beam (POT) time
WINDOW_NAMES = {WINDOW_AC: "AC", WINDOW_C: "C"}

# Region codes for found peaks.
REGION_PRETRACE = 0
REGION_ROI = 1
REGION_NOISE = 2  # a peak of the inverted pretrace: noise that the peak threshold lets through


def _f(name: str, title: str, kind: str) -> tuple[tuple[str, str], str]:
    return ((title, name), kind)


BEAM_PULSE = np.dtype(
    [
        _f("pulse_id", "beam pulse id [count]", "<i8"),
        _f("time", "pulse (POT) time [ns since Unix epoch]", "<i8"),
        _f("pot", "protons on target in this pulse [protons]", "<f8"),
        _f("power_mw", "beam power [MW]", "<f4"),
        _f("energy_gev", "proton kinetic energy [GeV]", "<f4"),
        _f("beam_on", "beam present in this pulse [bool]", "?"),
        _f("good", "pulse flagged good by the timing system [bool]", "?"),
    ]
)

# Trigger flag bits
TRIGGER_UNMATCHED = 1 << 0  # no beam pulse found within the match window
TRIGGER_CSI_OVERFLOW = 1 << 1  # CsI channel touched an ADC rail somewhere in the record
TRIGGER_VETO_OVERFLOW = 1 << 2

TRIGGER = np.dtype(
    [
        _f("trigger_id", "global trigger id [count]", "<i8"),
        _f("time", "digitizer trigger time [ns since Unix epoch]", "<i8"),
        _f("pulse_id", "matched beam pulse id, -1 if unmatched [count]", "<i8"),
        _f("match_dt", "trigger time minus beam pulse time [ns]", "<i8"),
        _f("pot", "protons on target of the matched pulse [protons]", "<f8"),
        _f("power_mw", "beam power of the matched pulse [MW]", "<f4"),
        _f("beam_on", "matched pulse had beam [bool]", "?"),
        _f("flags", "TRIGGER_* bit mask [bits]", "<u2"),
        _f("n_veto_hits", "muon-veto hits in the record [count]", "<i4"),
    ]
)

# Cut bits: a set bit means the window FAILED that cut.
CUT_VETO = 1 << 0  # muon-veto coincidence
CUT_LINEAR_GATE = 1 << 1  # deadtime after PMT saturation
CUT_OVERFLOW = 1 << 2  # digitizer range overflow
CUT_AFTERGLOW = 1 << 3  # too many SPE-like peaks in the pretrace
CUT_CHERENKOV = 1 << 4  # too few peaks in the integration window
CUT_RISE_TIME = 1 << 5  # rise times outside the pulse-shape windows
CUT_NO_ONSET = 1 << 6  # no scintillation onset in the ROI
CUT_NAMES = {
    CUT_VETO: "veto",
    CUT_LINEAR_GATE: "linear_gate",
    CUT_OVERFLOW: "overflow",
    CUT_AFTERGLOW: "afterglow",
    CUT_CHERENKOV: "cherenkov",
    CUT_RISE_TIME: "rise_time",
    CUT_NO_ONSET: "no_onset",
}
CUT_FAMILIES = {
    "quality": CUT_VETO | CUT_LINEAR_GATE | CUT_OVERFLOW,
    "afterglow": CUT_AFTERGLOW,
    "cherenkov": CUT_CHERENKOV,
    "rise_time": CUT_RISE_TIME,
}

FEATURES = np.dtype(
    [
        _f("trigger_id", "global trigger id [count]", "<i8"),
        _f("time", "ROI start time [ns since Unix epoch]", "<i8"),
        _f("window", "window code, 0 = AC, 1 = C [enum]", "i1"),
        _f("baseline", "pretrace baseline mean [ADC]", "<f4"),
        _f("baseline_rms", "pretrace baseline rms [ADC]", "<f4"),
        _f("baseline_slope", "slope of the record's baseline line through both pretraces [ADC/us]", "<f4"),
        _f("baseline_quiet", "fraction of the pretrace whose quiet blocks measured the baseline [fraction]", "<f4"),
        _f("n_noise_peaks", "peaks of the inverted pretrace (noise over the peak threshold) [count]", "<i4"),
        _f("n_pretrace_peaks", "SPE-like peaks in the pretrace [count]", "<i4"),
        _f("pretrace_charge", "summed charge of the pretrace peaks [ADC*sample]", "<f4"),
        _f("n_roi_peaks", "SPE-like peaks in the ROI [count]", "<i4"),
        _f("onset_ns", "scintillation onset after ROI start, -1 if none [ns]", "<i8"),
        _f("charge", "integrated charge in the integration window [ADC*sample]", "<f4"),
        _f("pe", "integrated charge over the SPE gain [PE]", "<f4"),
        _f("spe_gain", "SPE mean charge used for pe [ADC*sample]", "<f4"),
        _f("n_peaks_int", "peaks in the integration window [count]", "<i4"),
        _f("rise_0_10_ns", "integrated-charge rise time 0-10 % [ns]", "<f4"),
        _f("rise_10_50_ns", "integrated-charge rise time 10-50 % [ns]", "<f4"),
        _f("rise_10_90_ns", "integrated-charge rise time 10-90 % [ns]", "<f4"),
        _f("since_saturation_ns", "ROI start minus last saturated sample, -1 if none [ns]", "<i8"),
        _f("overflow", "ADC rail reached in pretrace, ROI or integration window [bool]", "?"),
        _f("veto", "muon-veto hit in the veto coincidence window [bool]", "?"),
        _f("cut_mask", "CUT_* bits of the cuts this window fails [bits]", "<u2"),
        _f("selected", "passes every cut and lies in the analysis window [bool]", "?"),
    ]
)

PEAK = np.dtype(
    [
        _f("trigger_id", "global trigger id [count]", "<i8"),
        _f("window", "window code [enum]", "i1"),
        _f("region", "0 = pretrace, 1 = ROI, 2 = noise (inverted pretrace) [enum]", "i1"),
        _f("time_ns", "peak maximum after record start [ns]", "<i8"),
        _f("amplitude", "peak height above baseline [ADC]", "<f4"),
        _f("charge", "peak charge above baseline [ADC*sample]", "<f4"),
    ]
)

VETO_HIT = np.dtype(
    [
        _f("trigger_id", "global trigger id [count]", "<i8"),
        _f("time_ns", "veto threshold crossing after record start [ns]", "<i8"),
        _f("amplitude", "hit height above baseline [ADC]", "<f4"),
    ]
)

# Truth kinds for simulated deposits
TRUTH_SPE = 0  # dark count or afterglow photoelectron (not stored per SPE, see TRUTH_WINDOW)
TRUTH_GAMMA = 1
TRUTH_INTERNAL_LINE = 2
TRUTH_CHERENKOV = 3
TRUTH_MUON = 4
TRUTH_CEVNS_PROMPT = 5
TRUTH_CEVNS_DELAYED = 6
TRUTH_BEAM_NEUTRON = 7
TRUTH_VETO_BEAM = 8  # beam-related hit in the muon veto
TRUTH_NAMES = {
    TRUTH_SPE: "spe",
    TRUTH_GAMMA: "gamma",
    TRUTH_INTERNAL_LINE: "internal_line",
    TRUTH_CHERENKOV: "cherenkov",
    TRUTH_MUON: "muon",
    TRUTH_CEVNS_PROMPT: "cevns_prompt",
    TRUTH_CEVNS_DELAYED: "cevns_delayed",
    TRUTH_BEAM_NEUTRON: "beam_neutron",
    TRUTH_VETO_BEAM: "veto_beam",
}

TRUTH_EVENT = np.dtype(
    [
        _f("trigger_id", "global trigger id [count]", "<i8"),
        _f("kind", "TRUTH_* code [enum]", "i1"),
        _f("window", "window whose ROI holds the deposit, -1 if none [enum]", "i1"),
        _f("time_ns", "deposit time after record start [ns]", "<i8"),
        _f("energy_kev", "deposited energy, keVnr for recoils, keVee otherwise [keV]", "<f4"),
        _f("n_pe", "photoelectrons produced [PE]", "<i4"),
    ]
)

TRUTH_WINDOW = np.dtype(
    [
        _f("trigger_id", "global trigger id [count]", "<i8"),
        _f("window", "window code [enum]", "i1"),
        _f("n_pretrace_pe", "photoelectrons in the pretrace [PE]", "<i4"),
        _f("baseline", "true baseline [ADC]", "<f4"),
        _f("spe_gain", "true SPE mean charge [ADC*sample]", "<f4"),
    ]
)

LOSS = np.dtype(
    [
        _f("trigger_id", "first lost trigger id, -1 if not a trigger [count]", "<i8"),
        _f("count", "triggers (or messages) lost [count]", "<i8"),
        _f("time", "when the loss was noticed [ns since Unix epoch]", "<i8"),
        _f("stage", "process that lost them [name]", "S16"),
        _f("reason", "why [text]", "S48"),
    ]
)

DQ = np.dtype(
    [
        _f("time", "end of the interval [ns since Unix epoch]", "<i8"),
        _f("interval_s", "interval length [s]", "<f4"),
        _f("triggers", "triggers in the interval [count]", "<i8"),
        _f("trigger_rate_hz", "trigger rate [Hz]", "<f4"),
        _f("beam_on_fraction", "fraction of triggers with beam [fraction]", "<f4"),
        _f("beam_power_mw", "mean beam power [MW]", "<f4"),
        _f("pot", "protons on target in the interval [protons]", "<f8"),
        _f("pot_total", "accumulated protons on target [protons]", "<f8"),
        _f("gwhr_total", "accumulated beam energy on target [GW*hr]", "<f8"),
        _f("baseline_adc", "mean CsI baseline [ADC]", "<f4"),
        _f("baseline_rms_adc", "mean CsI baseline rms [ADC]", "<f4"),
        _f("noise_peak_rate_hz", "noise peaks (inverted pretrace over the peak threshold) per pretrace time [Hz]",
           "<f4"),
        _f("spe_mean_charge", "SPE mean charge from pretrace peaks [ADC*sample]", "<f4"),
        _f("spe_gain", "SPE gain of the calibration in use at the interval's end (the PE scale) [ADC*sample]",
           "<f4"),
        _f("afterglow_fraction", "windows removed by the afterglow cut [fraction]", "<f4"),
        _f("veto_fraction", "windows removed by the muon-veto cut [fraction]", "<f4"),
        _f("linear_gate_fraction", "windows removed by the linear gate [fraction]", "<f4"),
        _f("overflow_fraction", "windows with ADC overflow [fraction]", "<f4"),
        _f("pot_to_signal_delay_ns", "median beam-related veto hit time after POT [ns]", "<f4"),
        _f("line_gain", "internal-line PE over its expected PE [ratio]", "<f4"),
        _f("losses", "triggers lost in the interval [count]", "<i8"),
    ]
)

SELECTED = np.dtype(
    [
        _f("trigger_id", "global trigger id [count]", "<i8"),
        _f("window", "window code, 0 = AC, 1 = C [enum]", "i1"),
        _f("pe", "integrated charge [PE]", "<f4"),
        _f("time_ns", "onset after ROI start [ns]", "<i8"),
        _f("beam_on", "matched pulse had beam [bool]", "?"),
    ]
)


def units(dtype: np.dtype) -> dict[str, str]:
    """Field name -> unit, read from the ``[unit]`` suffix of each field title."""
    out = {}
    for name in dtype.names or ():
        title = dtype.fields[name][2] or ""
        unit = title[title.rfind("[") + 1 : title.rfind("]")] if "[" in title else ""
        out[name] = unit
    return out


def descriptions(dtype: np.dtype) -> dict[str, str]:
    """Field name -> full title (description with unit)."""
    return {name: dtype.fields[name][2] or "" for name in dtype.names or ()}


def cut_mask_names(mask: int) -> list[str]:
    """Names of the cuts set in ``mask``."""
    return [name for bit, name in CUT_NAMES.items() if mask & bit]


def plain(dtype: np.dtype) -> np.dtype:
    """The same layout without titles (for HDF5, which has no place for them)."""
    if dtype.names is None:
        return dtype
    return np.dtype({"names": list(dtype.names), "formats": [dtype.fields[n][0] for n in dtype.names],
                     "offsets": [dtype.fields[n][1] for n in dtype.names], "itemsize": dtype.itemsize})
