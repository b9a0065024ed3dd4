"""Dataset description: one TOML file says where the data are and how to model them.

``read_dataset(path, data_dir)`` parses and validates the TOML into a ``DatasetSpec``
(plain frozen dataclasses; file names resolved against ``data_dir`` or, if none is
given, the TOML's own directory).  ``datafiles.load`` then reads the files.
The key-by-key reference is ``docs/dataset-format.md``.
"""

from __future__ import annotations

import glob
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .constants import NUCLIDES, SIN2_THETA_W_LOW_Q, Nuclide
from .flux import COMPONENTS, pot_from_energy
from .formfactor import FORM_FACTORS
from .response import SMEARING_MODELS
from .rootfiles import is_root_reference, split_reference
from .runselect import CatalogueRun, select_runs
from .schema import REQUIRED, DatasetError, Section, read_text
from .systematics import SystematicSpec, parse_systematics

DATA_FORMATS = ("binned_text", "event_text", "hdf5_events")
WINDOWS = ("c_beam_on", "ac_beam_on", "c_beam_off", "ac_beam_off")
TIMING_KINDS = ("pulse", "prompt", "delayed")


@dataclass(frozen=True)
class Uncertain:
    """A value with (possibly asymmetric) one-sigma errors; zero errors = fixed."""

    value: float
    error_lo: float = 0.0
    error_hi: float = 0.0


@dataclass(frozen=True)
class DataSpec:
    format: str
    files: dict[str, Path]          # window name -> file (binned_text / event_text)
    run_files: tuple[Path, ...]     # hdf5_events
    time_unit_us: float             # multiply file times by this to get us
    selected_runs: tuple[CatalogueRun, ...] = ()  # hdf5_events chosen from the run catalogue ([data.select])


@dataclass(frozen=True)
class Exposure:
    pot: float | None
    gwhr: float | None


@dataclass(frozen=True)
class TargetNucleus:
    nuclide: Nuclide
    per_formula_unit: int


@dataclass(frozen=True)
class DetectorSpec:
    mass_kg: float
    nuclei: tuple[TargetNucleus, ...]
    form_factor: str
    form_factor_uncertainty: float
    sin2_theta_w: float
    couplings: str = "tree"             # "tree" or "radiative" (xsec.COUPLINGS)

    @property
    def molar_mass_g(self) -> float:
        return sum(n.per_formula_unit * n.nuclide.atomic_mass_u for n in self.nuclei)


@dataclass(frozen=True)
class ResponseSpec:
    qf_coefficients: tuple[float, ...]  # QF(T) = sum c_i T^i, T in keVnr
    qf_relative_uncertainty: float
    light_yield: Uncertain              # PE / keVee
    smearing: str
    excess_variance: float
    efficiency: dict[str, Uncertain]    # a, k, x0
    efficiency_offset: float
    efficiency_steps: tuple[tuple[float, float], ...]
    time_efficiency: str
    time_efficiency_params: dict[str, float]
    time_efficiency_table: Path | None
    excess_variance_slope: float = 0.0          # variance/mean = excess_variance + slope * mean PE
    excess_variance_table: Path | None = None   # or a table: mean PE, variance/mean
    qf_table: Path | None = None                # QF(T) as a table (recoil keVnr, QF) instead of coefficients


@dataclass(frozen=True)
class TimingSpec:
    model: str                          # "tables" or "pulse"
    tables: dict[str, Path]             # "prompt"/"delayed"[/"pulse"] -> file
    pulse_fwhm_ns: float
    pulse_centre_us: float
    pulse_table: Path | None
    offset_uncertainty_us: float


@dataclass(frozen=True)
class NeutronSpec:
    name: str                           # "brn" or "nin"
    pe_table: Path | None
    time_table: Path | None
    time_kind: str | None               # model timing when no table
    table_2d: Path | None
    units: str                          # "per_gwhr" or "counts"
    normalisation: float
    uncertainty: float
    apply_pe_efficiency: bool
    apply_time_efficiency: bool = True  # false for a time table that already includes it
    norm_from: str = "pe_table"         # which table's sum is the count: "pe_table" or "time_table"


STEADY_STATE_MODELS = ("factorized", "per_bin", "smooth")


@dataclass(frozen=True)
class SteadyStateSpec:
    model: str                          # one of STEADY_STATE_MODELS
    beam_off: bool                      # use the beam-off C and AC windows too
    # smooth model (steady_smooth.py)
    shape_windows: tuple[str, ...] = ("ac_beam_on", "c_beam_off", "ac_beam_off")
    norm_windows: tuple[str, ...] = ("ac_beam_on",)
    exposure_ratio: float = 1.0         # sideband (norm windows) exposure / C-window exposure
    pe_degree: int = 2                  # PE shape exp(polynomial of this degree)
    time_shape: str = "flat"            # "flat" (x acceptance vs time) or "exponential"


@dataclass(frozen=True)
class AnalysisSpec:
    pe_edges: NDArray[np.float64]
    time_edges_us: NDArray[np.float64]
    recoil_step_kev: float
    fine_pe_width: float


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    source_file: Path
    data: DataSpec
    exposure: Exposure
    nu_per_proton: Uncertain
    distance_m: float
    detector: DetectorSpec
    response: ResponseSpec
    timing: TimingSpec
    neutrons: tuple[NeutronSpec, ...]
    steady_state: SteadyStateSpec
    analysis: AnalysisSpec
    systematics: tuple[SystematicSpec, ...] = ()
    #: tabulated energy spectra per flux component ([source.spectra]); the others analytic
    flux_spectra: tuple[tuple[str, Path], ...] = ()


class _Files:
    def __init__(self, base: Path) -> None:
        self.base = base

    def get(self, sec: Section, key: str, required: bool = True) -> Path | None:
        if not sec.has(key):
            if required:
                raise DatasetError(f"{sec.source.name}: [{sec.name}] {key}: missing; expected a file name")
            return None
        path = self.base / sec.string(key)
        on_disk = split_reference(path)[0] if is_root_reference(path) else path
        if not on_disk.is_file():
            raise DatasetError(
                f"{sec.source.name}: [{sec.name}] {key}: expected an existing file, got {str(path)!r}"
                " (use --data-dir to point at the data directory)"
            )
        return path


def read_dataset(path: str | Path, data_dir: str | Path | None = None) -> DatasetSpec:
    """Parse and validate a dataset TOML; raise ``DatasetError`` naming file and key."""
    path = Path(path)
    text = read_text(path, "dataset file")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DatasetError(f"{path.name}: not valid TOML: {exc}") from exc
    except RecursionError:
        raise DatasetError(f"{path.name}: not valid TOML for a dataset: tables or arrays nested too deeply") from None
    base = Path(data_dir) if data_dir is not None else path.resolve().parent
    if data_dir is not None and not base.is_dir():
        raise DatasetError(f"--data-dir {str(base)!r}: not a directory")
    files = _Files(base)
    top = Section(path, "", raw)
    top.check_keys(["schema_version", "name", "description", "data", "exposure", "source", "detector",
                    "response", "timing", "backgrounds", "steady_state", "analysis", "systematics"])
    if top.integer("schema_version") != 1:
        raise top.error("schema_version", "1", raw["schema_version"])
    source = top.section("source")
    source.check_keys(["nu_per_flavor_per_proton", "nu_per_flavor_per_proton_uncertainty", "distance_m", "spectra"])
    r = source.number("nu_per_flavor_per_proton", lo=0, lo_open=True)
    r_err = source.number("nu_per_flavor_per_proton_uncertainty", 0.0, lo=0)
    data = _data(top.section("data"), files)
    return DatasetSpec(
        name=top.string("name"),
        source_file=path,
        data=data,
        exposure=_exposure(top.section("exposure", required=data.format != "hdf5_events"),
                           pot_required=data.format != "hdf5_events"),
        nu_per_proton=Uncertain(r, r_err, r_err),
        distance_m=source.number("distance_m", lo=0, lo_open=True),
        detector=_detector(top.section("detector")),
        response=_response(top.section("response"), files),
        timing=_timing(top.section("timing"), files),
        neutrons=_neutrons(top.section("backgrounds", required=False), files),
        steady_state=_steady_state(top.section("steady_state"), data),
        analysis=_analysis(top.section("analysis")),
        systematics=parse_systematics(top, lambda sec: _response(sec, files)),
        flux_spectra=_flux_spectra(source.section("spectra", required=False), files),
    )


def _data(sec: Section, files: _Files) -> DataSpec:
    fmt = sec.string("format", choices=DATA_FORMATS)
    unit = sec.string("time_unit", "us", choices=("us", "ns"))
    if fmt == "hdf5_events":
        sec.check_keys(["format", "files", "select"])
        if sec.has("select") == sec.has("files"):
            raise sec.error("files", "either files (names, patterns) or a [data.select] table (runs from the "
                                     "catalogue)")
        if sec.has("select"):
            chosen = select_runs(sec.section("select"), files.base)
            return DataSpec(fmt, {}, tuple(p for r in chosen for p in r.files), 1e-3, chosen)
        names = sec.strings("files")
        runs: list[Path] = []
        for pattern in names:
            found = sorted(Path(f) for f in glob.glob(str(files.base / pattern)))
            if not found:
                raise sec.error("files", f"file(s) matching {pattern!r} in {str(files.base)!r}")
            runs.extend(found)
        return DataSpec(fmt, {}, tuple(runs), 1e-3)
    sec.check_keys(["format", "time_unit", *WINDOWS])
    found = {w: files.get(sec, w, required=w in ("c_beam_on", "ac_beam_on")) for w in WINDOWS}
    return DataSpec(fmt, {w: p for w, p in found.items() if p is not None}, (),
                    1.0 if unit == "us" else 1e-3)


def _exposure(sec: Section | None, pot_required: bool) -> Exposure:
    """Exposure from the TOML; for run files the file attributes fill what is missing."""
    if sec is None:
        return Exposure(None, None)
    sec.check_keys(["pot", "gwhr", "proton_energy_gev"])
    gwhr = sec.number("gwhr", None, lo=0, lo_open=True)
    pot = sec.number("pot", None, lo=0, lo_open=True)
    if pot is None and sec.has("proton_energy_gev"):
        if gwhr is None:
            raise sec.error("gwhr", "a number > 0 (needed with proton_energy_gev)")
        pot = pot_from_energy(gwhr, sec.number("proton_energy_gev", lo=0, lo_open=True))
    if pot is None and pot_required:
        raise sec.error("pot", "a number > 0, or gwhr together with proton_energy_gev")
    return Exposure(pot, gwhr)


def _detector(sec: Section) -> DetectorSpec:
    sec.check_keys(["mass_kg", "nuclei", "form_factor", "form_factor_uncertainty", "sin2_theta_w", "couplings"])
    nuclei = []
    for item in sec.sections("nuclei"):
        item.check_keys(["nuclide", "Z", "A", "atomic_mass_u", "per_formula_unit", "rms_radius_fm"])
        name = item.string("nuclide")
        if name in NUCLIDES and not item.has("Z"):
            nuclide = NUCLIDES[name]
        elif item.has("Z"):
            nuclide = Nuclide(name, item.integer("Z", lo=1), item.integer("A", lo=1),
                              item.number("atomic_mass_u", lo=0, lo_open=True))
        else:
            raise item.error("nuclide", "one of " + ", ".join(NUCLIDES) + " or explicit Z, A, atomic_mass_u",
                             name)
        if item.has("rms_radius_fm"):  # the minimum keeps both form factors' hard-sphere radius real
            nuclide = replace(nuclide, weak_radius_fm=item.number("rms_radius_fm", lo=2.1))
        nuclei.append(TargetNucleus(nuclide, item.integer("per_formula_unit", 1, lo=1)))
    return DetectorSpec(
        mass_kg=sec.number("mass_kg", lo=0, lo_open=True),
        nuclei=tuple(nuclei),
        form_factor=sec.string("form_factor", "klein_nystrand", choices=tuple(FORM_FACTORS)),
        form_factor_uncertainty=sec.number("form_factor_uncertainty", 0.0, lo=0),
        sin2_theta_w=sec.number("sin2_theta_w", SIN2_THETA_W_LOW_Q, lo=0, hi=1),
        couplings=sec.string("couplings", "tree", choices=("tree", "radiative")),
    )


def _uncertain(sec: Section, key: str) -> Uncertain:
    raw = sec.raw.get(key)
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return Uncertain(float(raw))
    sub = sec.section(key)
    sub.check_keys(["value", "error", "error_lo", "error_hi"])
    err = sub.number("error", 0.0, lo=0)
    lo, hi = sub.number("error_lo", err, lo=0), sub.number("error_hi", err, lo=0)
    return Uncertain(sub.number("value"), lo, hi)


def _response(sec: Section, files: _Files) -> ResponseSpec:
    sec.check_keys(["quenching", "light_yield", "smearing", "pe_efficiency", "time_efficiency"])
    q = sec.section("quenching")
    q.check_keys(["model", "value", "uncertainty", "coefficients", "relative_uncertainty", "table"])
    q_model = q.string("model", choices=("constant", "polynomial", "table"))
    qf_table = files.get(q, "table") if q_model == "table" else None
    if q_model == "constant":
        qf = q.number("value", lo=0, lo_open=True, hi=1)
        coefficients = (qf,)
        rel = q.number("uncertainty", 0.0, lo=0) / qf
    elif q_model == "table":  # QF(T) interpolated in a table of recoil [keVnr], QF
        coefficients = ()
        rel = q.number("relative_uncertainty", 0.0, lo=0)
    else:
        coefficients = tuple(q.numbers("coefficients"))
        rel = q.number("relative_uncertainty", 0.0, lo=0)
    ly = _uncertain(sec, "light_yield")
    if ly.value <= 0:
        raise sec.error("light_yield", "a positive light yield [PE/keVee]", ly.value)
    sm = sec.section("smearing")
    sm.check_keys(["model", "excess_variance", "excess_variance_slope", "excess_variance_table"])
    eff = sec.section("pe_efficiency")
    eff.check_keys(["model", "a", "k", "x0", "offset", "steps"])
    eff.string("model", choices=("logistic",))
    steps = eff.raw.get("steps", [])
    if not isinstance(steps, list) or not all(
        isinstance(s, list) and len(s) == 2 and all(isinstance(v, int | float) for v in s) for s in steps
    ):
        raise eff.error("steps", "a list of [edge_pe, value] pairs", steps)
    te = sec.section("time_efficiency", required=False) or Section(sec.source, "response.time_efficiency", {})
    te.check_keys(["model", "onset_us", "decay_us", "table"])
    te_model = te.string("model", "none", choices=("none", "exponential", "table"))
    return ResponseSpec(
        qf_coefficients=coefficients,
        qf_relative_uncertainty=rel,
        light_yield=ly,
        smearing=sm.string("model", choices=SMEARING_MODELS),
        excess_variance=sm.number("excess_variance", 1.0, lo=0, lo_open=True),
        efficiency={name: _uncertain(eff, name) for name in ("a", "k", "x0")},
        efficiency_offset=eff.number("offset", 0.0),
        efficiency_steps=tuple((float(e), float(v)) for e, v in steps),
        time_efficiency=te_model,
        time_efficiency_params={
            "onset_us": te.number("onset_us", 0.0),
            "decay_us": te.number("decay_us", np.inf, lo=0, lo_open=True),
        },
        time_efficiency_table=files.get(te, "table", required=te_model == "table"),
        excess_variance_slope=sm.number("excess_variance_slope", 0.0),
        excess_variance_table=files.get(sm, "excess_variance_table", required=False),
        qf_table=qf_table,
    )


def _flux_spectra(sec: Section | None, files: _Files) -> tuple[tuple[str, Path], ...]:
    """``[source.spectra]``: a table (energy [MeV] bin centre, content per bin) per flux component,
    text or ``file.root:histogram`` / ``file.root:tree:energy,weight``."""
    if sec is None:
        return ()
    sec.check_keys(list(COMPONENTS))
    return tuple((c, path) for c in COMPONENTS if (path := files.get(sec, c, required=False)) is not None)


def _timing(sec: Section, files: _Files) -> TimingSpec:
    sec.check_keys(["model", "prompt", "delayed", "pulse", "pulse_fwhm_ns", "pulse_centre_us",
                    "pulse_table", "offset_uncertainty_us"])
    model = sec.string("model", choices=("tables", "pulse"))
    tables: dict[str, Path] = {}
    if model == "tables":
        for kind in TIMING_KINDS:
            path = files.get(sec, kind, required=kind != "pulse")
            if path is not None:
                tables[kind] = path
    return TimingSpec(
        model=model,
        tables=tables,
        pulse_fwhm_ns=sec.number("pulse_fwhm_ns", 380.0, lo=0, lo_open=True),
        pulse_centre_us=sec.number("pulse_centre_us", 0.0 if model == "tables" else REQUIRED),
        pulse_table=files.get(sec, "pulse_table", required=False),
        offset_uncertainty_us=sec.number("offset_uncertainty_us", 0.0, lo=0),
    )


def _neutrons(sec: Section | None, files: _Files) -> tuple[NeutronSpec, ...]:
    if sec is None:
        return ()
    sec.check_keys(["brn", "nin"])
    out = []
    for name in ("brn", "nin"):
        sub = sec.section(name, required=False)
        if sub is None:
            continue
        sub.check_keys(["pe_table", "time_table", "time", "table_2d", "units", "normalisation",
                        "uncertainty", "apply_pe_efficiency", "apply_time_efficiency", "norm_from"])
        table_2d = files.get(sub, "table_2d", required=False)
        pe_table = files.get(sub, "pe_table", required=table_2d is None)
        time_table = files.get(sub, "time_table", required=False)
        time_kind = sub.string("time", None, choices=TIMING_KINDS)
        if table_2d is None and time_table is None and time_kind is None:
            raise sub.error("time_table", "a time table file, or time = 'pulse'|'prompt'|'delayed'")
        out.append(NeutronSpec(
            name=name, pe_table=pe_table, time_table=time_table, time_kind=time_kind, table_2d=table_2d,
            units=sub.string("units", choices=("per_gwhr", "counts")),
            normalisation=sub.number("normalisation", 1.0, lo=0),
            uncertainty=sub.number("uncertainty", 0.0, lo=0),
            apply_pe_efficiency=sub.boolean("apply_pe_efficiency", True),
            apply_time_efficiency=sub.boolean("apply_time_efficiency", True),
            norm_from=sub.string("norm_from", "pe_table", choices=("pe_table", "time_table")),
        ))
        if out[-1].norm_from == "time_table" and (time_table is None or table_2d is not None):
            raise sub.error("norm_from", "'pe_table' unless a time_table (and no table_2d) is given", "time_table")
    return tuple(out)


def _steady_state(sec: Section, data: DataSpec) -> SteadyStateSpec:
    sec.check_keys(["model", "beam_off", "shape_windows", "norm_windows", "exposure_ratio", "pe_degree",
                    "time_shape"])
    model = sec.string("model", choices=STEADY_STATE_MODELS)
    beam_off = sec.boolean("beam_off", False)
    if beam_off and data.format != "hdf5_events" and not any(w in data.files for w in WINDOWS[2:]):
        raise sec.error("beam_off", "false when [data] has no c_beam_off or ac_beam_off file", True)
    sidebands = WINDOWS[1:] if beam_off else WINDOWS[1:2]
    shape = sec.strings("shape_windows", list(sidebands))
    norm = sec.strings("norm_windows", ["ac_beam_on"])
    for key, names in (("shape_windows", shape), ("norm_windows", norm)):
        if not names or any(w not in WINDOWS[1:] for w in names):
            raise sec.error(key, "a non-empty list of " + ", ".join(repr(w) for w in WINDOWS[1:]), names)
        if data.format != "hdf5_events" and any(w not in data.files for w in names):
            raise sec.error(key, "windows that [data] provides", names)
    return SteadyStateSpec(
        model, beam_off, tuple(shape), tuple(norm),
        exposure_ratio=sec.number("exposure_ratio", 1.0, lo=0, lo_open=True),
        pe_degree=sec.integer("pe_degree", 2, lo=1),
        time_shape=sec.string("time_shape", "flat", choices=("flat", "exponential")),
    )


def with_steady_state_model(spec: DatasetSpec, model: str) -> DatasetSpec:
    """The same dataset with another steady-state background model (its other keys kept)."""
    if model not in STEADY_STATE_MODELS:
        raise DatasetError(f"steady-state model: expected one of {', '.join(STEADY_STATE_MODELS)}, got {model!r}")
    return replace(spec, steady_state=replace(spec.steady_state, model=model))


def _edges(sec: Section, key: str, range_key: str, width_key: str) -> NDArray[np.float64]:
    if sec.has(key):
        edges = np.array(sec.numbers(key, min_len=2))
    else:
        lo, hi = (sec.numbers(range_key, min_len=2) + [0.0])[:2]
        width = sec.number(width_key, lo=0, lo_open=True)
        n = round((hi - lo) / width)
        if n < 1 or not np.isclose(lo + n * width, hi):
            raise sec.error(width_key, f"a width dividing {range_key} = [{lo}, {hi}]", width)
        edges = lo + width * np.arange(n + 1)
    if np.any(np.diff(edges) <= 0):
        raise sec.error(key, "strictly increasing bin edges", edges.tolist())
    return edges


def _analysis(sec: Section) -> AnalysisSpec:
    sec.check_keys(["pe_edges", "pe_range", "pe_bin_width", "time_edges_us", "time_range_us",
                    "time_bin_width_us", "recoil_step_kev", "fine_pe_width"])
    pe = _edges(sec, "pe_edges", "pe_range", "pe_bin_width")
    if pe[0] < 0:
        raise sec.error("pe_edges", "edges >= 0", pe.tolist())
    return AnalysisSpec(
        pe_edges=pe,
        time_edges_us=_edges(sec, "time_edges_us", "time_range_us", "time_bin_width_us"),
        recoil_step_kev=sec.number("recoil_step_kev", 0.1, lo=0, lo_open=True),
        fine_pe_width=sec.number("fine_pe_width", 1.0, lo=0, lo_open=True),
    )
