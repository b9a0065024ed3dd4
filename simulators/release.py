"""A worked example of a full-dataset release, made from our own simulation.

    python -m simulators.release analysis/datasets/worked-example [--seed 2026]

writes, in the form a collaboration's full-dataset release takes:

- ``release.root`` (uproot): the beam-on C and AC windows as TH2 histograms of
  events (PE x reconstructed time; the AC window three times longer than C), the
  prompt and delayed neutrino arrival-time PDFs (TH1), and the beam-neutron time
  distribution in counts per GWhr (TH1) that already includes the acceptance vs time;
- ``brn_pe.txt``: the beam-neutron PE shape (the count comes from the time table);
- ``quenching_{nominal,up,down}.txt``: the quenching factor curve and its +-1 sigma
  curves as tables (recoil keVnr, QF);
- ``worked-example.toml``: the dataset description using every input feature of
  issue 14 (smooth steady-state model with a longer sideband, +-1 sigma curves and
  an efficiency covariance, energy-dependent smearing, ROOT inputs, neutron count
  from its table, acceptance vs time on or off per component, radiative couplings and
  per-nucleus radii).

Events come from the simulator's own physics (:class:`simulators.physics.CevnsSource`
for the recoils, :func:`simulators.physics.sample_arrival_ns` for the arrival times,
and the proton pulse of ``[beam]``; an exponential steady-state spectrum) passed through the detector
response the dataset states (quenching, light yield, gamma smearing with
variance/mean = a + b PE, PE acceptance, acceptance vs time).  The CEvNS truth count
is written into the TOML's header comment and returned.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from analysis.response import logistic_efficiency, quenching_factor, time_efficiency
from daq import config
from simulators.physics import CevnsSource, sample_arrival_ns, sample_proton_time_ns

PE_EDGES = np.arange(6.0, 31.0, 2.0)          # 12 bins, 6-30 PE
T_EDGES = np.arange(0.0, 6.01, 0.5)           # 12 bins, 0-6 us
POT = 3.2e23                                  # ~300 CEvNS in the window, like the 2020 CsI analysis
PROTON_ENERGY_GEV = 1.0
QF = (0.0755, 0.00062)                        # QF(T) = c0 + c1 T [keVnr]
QF_UP, QF_DOWN = (0.0785, 0.00062), (0.0725, 0.00062)
LIGHT_YIELD = 13.35                           # [simulation] light_yield_pe_per_kevee
EXCESS, EXCESS_SLOPE = 1.19, 0.004            # variance / mean = a + b mean PE
EFF = {"a": 0.92, "k": 0.45, "x0": 9.0}
EFF_COV = [[4.0e-4, 0.0, 0.0], [0.0, 9.0e-4, -1.5e-3], [0.0, -1.5e-3, 0.0625]]
TIME_ONSET_US, TIME_DECAY_US = 0.25, 12.0
STEADY_RAW_PER_C_WINDOW = 3400.0              # steady-state deposits in the C window before cuts
STEADY_SLOPE_KEVEE = 1.5                      # their falling spectrum (chosen, not from [simulation])
AC_RATIO = 3.0                                # AC sideband exposure / C window exposure
BRN_PER_GWHR = 0.45
BRN_PE_SLOPE = 14.0


def _pe(rng: np.random.Generator, mean: np.ndarray) -> np.ndarray:
    """Gamma-smeared PE with variance (a + b mean) mean, as the dataset states."""
    ev = EXCESS + EXCESS_SLOPE * mean
    return rng.gamma(np.maximum(mean, 1e-9) / ev, ev)


def _accept(rng: np.random.Generator, pe: np.ndarray, t_us: np.ndarray, time_cut: bool = True) -> np.ndarray:
    """PE acceptance at the 1-PE bin centre (the release rule) and the acceptance vs time."""
    keep = logistic_efficiency(np.floor(pe) + 0.5, EFF["a"], EFF["k"], EFF["x0"], 0.0, ((5.0, 0.0), (6.0, 1.0)))
    if time_cut:
        keep = keep * time_efficiency(t_us, "exponential", TIME_ONSET_US, TIME_DECAY_US)
    return rng.random(pe.size) < keep


def simulate(seed: int) -> dict[str, object]:
    """Events and tables of the worked example (see module doc)."""
    rng = np.random.default_rng(seed)
    cfg = config.load()
    fwhm = float(cfg.beam.pulse_fwhm_ns)
    source = CevnsSource(cfg)
    prompt, delayed = source.expected_per_pot()
    pe_c, t_c = [], []
    n_true = 0
    for is_delayed, per_pot in ((False, prompt), (True, delayed)):
        n = rng.poisson(per_pot * POT)
        recoil = source.sample_recoil_kevnr(rng, n, is_delayed)
        t_us = sample_arrival_ns(rng, n, fwhm, is_delayed) * 1e-3
        pe = _pe(rng, LIGHT_YIELD * quenching_factor(recoil, QF) * recoil)
        keep = _accept(rng, pe, t_us) & _in_window(pe, t_us)
        n_true += int(keep.sum())
        pe_c.append(pe[keep])
        t_c.append(t_us[keep])
    # steady state: an exponential spectrum, flat in time, in the C and the longer AC window
    windows = {}
    for name, ratio in (("c_beam_on", 1.0), ("ac_beam_on", AC_RATIO)):
        n = rng.poisson(STEADY_RAW_PER_C_WINDOW * ratio)
        energy = rng.exponential(STEADY_SLOPE_KEVEE, n)
        t_us = rng.uniform(T_EDGES[0], T_EDGES[-1], n)
        pe = _pe(rng, energy * LIGHT_YIELD)
        keep = _accept(rng, pe, t_us) & _in_window(pe, t_us)
        windows[name] = (pe[keep], t_us[keep])
    # beam neutrons: exponential PE, prompt timing (proton pulse + 0.1 us transit)
    gwhr = POT * PROTON_ENERGY_GEV * 1.602176634e-10 / 3.6e12
    n_brn = rng.poisson(BRN_PER_GWHR * gwhr)
    pe_brn = rng.exponential(BRN_PE_SLOPE, n_brn)
    t_brn = sample_proton_time_ns(rng, n_brn, fwhm) * 1e-3 + 0.1
    keep = _accept(rng, pe_brn, t_brn) & _in_window(pe_brn, t_brn)
    pe_all = np.concatenate([*pe_c, windows["c_beam_on"][0], pe_brn[keep]])
    t_all = np.concatenate([*t_c, windows["c_beam_on"][1], t_brn[keep]])
    # tables: arrival-time PDFs (0.1 us), BRN time table in counts per GWhr with the time acceptance
    fine_t = np.arange(0.0, 12.01, 0.1)
    pdfs = {}
    for name, is_delayed in (("prompt", False), ("delayed", True)):
        t = sample_arrival_ns(rng, 400_000, fwhm, is_delayed) * 1e-3
        pdfs[name] = np.histogram(t, fine_t)[0] / t.size
    t_table = sample_proton_time_ns(rng, 400_000, fwhm) * 1e-3 + 0.1
    weights = time_efficiency(t_table, "exponential", TIME_ONSET_US, TIME_DECAY_US) * BRN_PER_GWHR / t_table.size
    brn_time = np.histogram(t_table, fine_t, weights=weights)[0]
    return {"c": np.histogram2d(pe_all, t_all, (PE_EDGES, T_EDGES))[0],
            "ac": np.histogram2d(*windows["ac_beam_on"], (PE_EDGES, T_EDGES))[0],
            "pdfs": pdfs, "fine_t": fine_t, "brn_time": brn_time, "gwhr": gwhr, "n_cevns_true": n_true}


def _in_window(pe: np.ndarray, t_us: np.ndarray) -> np.ndarray:
    return (pe >= PE_EDGES[0]) & (pe < PE_EDGES[-1]) & (t_us >= T_EDGES[0]) & (t_us < T_EDGES[-1])


def write_release(directory: str | Path, seed: int = 2026) -> dict[str, object]:
    """Write the worked example into ``directory``; return the simulation's truth."""
    import uproot

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    sim = simulate(seed)
    with uproot.recreate(out / "release.root") as f:
        f["c_beam_on"] = (sim["c"], PE_EDGES, T_EDGES)
        f["ac_beam_on"] = (sim["ac"], PE_EDGES, T_EDGES)
        for name, pdf in sim["pdfs"].items():
            f[f"arrival_{name}"] = (pdf, sim["fine_t"])
        f["brn_time_per_gwhr"] = (sim["brn_time"], sim["fine_t"])
    pe = np.arange(0.5, 60.0, 1.0)
    np.savetxt(out / "brn_pe.txt", np.column_stack([pe, np.exp(-pe / BRN_PE_SLOPE)]), fmt="%.6g",
               header="beam-neutron PE shape (arbitrary units; the count is in the time table)")
    recoil = np.arange(0.0, 100.1, 1.0)
    for label, coeffs in (("nominal", QF), ("up", QF_UP), ("down", QF_DOWN)):
        np.savetxt(out / f"quenching_{label}.txt", np.column_stack([recoil, quenching_factor(recoil, coeffs)]),
                   fmt="%.6g", header=f"quenching factor vs recoil [keVnr], {label}: {coeffs[0]} + {coeffs[1]} T")
    (out / "worked-example.toml").write_text(_toml(sim, seed))
    return {"n_cevns_true": sim["n_cevns_true"], "gwhr": sim["gwhr"]}


def _toml(sim: dict[str, object], seed: int) -> str:
    cov = ", ".join("[" + ", ".join(f"{v:g}" for v in row) + "]" for row in EFF_COV)
    return f'''# Worked example of a full-dataset release, written by `python -m simulators.release` (seed {seed})
# from our own simulation: {sim["n_cevns_true"]} CEvNS events were simulated inside the window.
# Fit it with: sevens fit analysis/datasets/worked-example/worked-example.toml
schema_version = 1
name = "worked-example"
description = "simulated CsI[Na] release: ROOT histograms, +-1 sigma curves, a 3x longer AC sideband"

[data]
format = "binned_text"               # histograms: TH2 in the ROOT file (rows PE, time, counts)
c_beam_on = "release.root:c_beam_on"
ac_beam_on = "release.root:ac_beam_on"

[exposure]
pot = {POT:g}
gwhr = {sim["gwhr"]:.6g}

[source]
nu_per_flavor_per_proton = 0.08      # [simulation] of hwconfig/csi-sns.toml
nu_per_flavor_per_proton_uncertainty = 0.008
distance_m = 19.3

[detector]
mass_kg = 14.57
form_factor = "klein_nystrand"       # as the simulator draws its recoils
form_factor_uncertainty = 0.034
sin2_theta_w = 0.23857
couplings = "tree"                   # the simulator is tree level ("radiative" is the option)

[[detector.nuclei]]
nuclide = "Cs133"
rms_radius_fm = {_kn_rms(133):.5f}          # the Klein-Nystrand default, written out per nucleus

[[detector.nuclei]]
nuclide = "I127"
rms_radius_fm = {_kn_rms(127):.5f}

[response.quenching]
model = "table"
table = "quenching_nominal.txt"      # QF({QF[0]} + {QF[1]} T) vs recoil [keVnr]
relative_uncertainty = 0.0           # the +-1 sigma curves below carry it

[response.light_yield]
value = {LIGHT_YIELD}
error = 0.0

[response.smearing]
model = "gamma"
excess_variance = {EXCESS}
excess_variance_slope = {EXCESS_SLOPE}

[response.pe_efficiency]
model = "logistic"                   # errors via the covariance below
a = {EFF["a"]}
k = {EFF["k"]}
x0 = {EFF["x0"]}
steps = [[5.0, 0.0], [6.0, 1.0]]

[response.time_efficiency]
model = "exponential"
onset_us = {TIME_ONSET_US}
decay_us = {TIME_DECAY_US}

[timing]
model = "tables"
prompt = "release.root:arrival_prompt"
delayed = "release.root:arrival_delayed"
offset_uncertainty_us = 0.0

[backgrounds.brn]
pe_table = "brn_pe.txt"                          # shape only
time_table = "release.root:brn_time_per_gwhr"    # counts per GWhr, acceptance vs time included
norm_from = "time_table"
apply_time_efficiency = false
units = "per_gwhr"
uncertainty = 0.1

[steady_state]
model = "smooth"
shape_windows = ["ac_beam_on"]
norm_windows = ["ac_beam_on"]
exposure_ratio = {AC_RATIO}                # the AC window is three times longer than C
pe_degree = 3                       # sideband chi^2 184/141 at degree 2, 149/140 at 3, 146/139 at 4
time_shape = "flat"                  # flat x the acceptance vs time

[[systematics]]
name = "qf_curve"
description = "quenching factor +-1 sigma curves (quenching_up.txt, quenching_down.txt)"
up = {{ quenching = {{ table = "quenching_up.txt" }} }}
down = {{ quenching = {{ table = "quenching_down.txt" }} }}

[[systematics]]
name = "eff"
description = "PE acceptance coefficients"
parameters = ["pe_efficiency.a", "pe_efficiency.k", "pe_efficiency.x0"]
covariance = [{cov}]

[analysis]
pe_range = [{PE_EDGES[0]}, {PE_EDGES[-1]}]
pe_bin_width = 2.0
time_range_us = [{T_EDGES[0]}, {T_EDGES[-1]:.1f}]
time_bin_width_us = 0.5
recoil_step_kev = 0.1
fine_pe_width = 1.0
'''


def _kn_rms(mass_number: int) -> float:
    from analysis.formfactor import KN_RADIUS_COEFF_FM, KN_YUKAWA_RANGE_FM

    r_a = KN_RADIUS_COEFF_FM * mass_number ** (1.0 / 3.0)
    return float(np.sqrt(0.6 * r_a**2 + 6.0 * KN_YUKAWA_RANGE_FM**2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    truth = write_release(args.directory, args.seed)
    print(f"wrote {args.directory}: {truth['n_cevns_true']} CEvNS simulated in the window")
    return 0


if __name__ == "__main__":
    sys.exit(main())
