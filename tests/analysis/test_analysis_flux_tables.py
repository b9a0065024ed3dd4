"""Flux spectra from tables (issue 14, item 3: ROOT histograms and trees for the flux):
``[source.spectra]`` gives a component's energy spectrum as (bin centre, content) rows from a
text file, a ROOT TH1 or a ROOT tree, written here with uproot.  Tabulated pi+ DAR spectra
reproduce the analytic prediction; another spectrum changes it the way physics says."""

from dataclasses import replace

import numpy as np
import pytest
import uproot

from analysis.datafiles import read_table
from analysis.dataset import read_dataset
from analysis.datasets import builtin
from analysis.flux import COMPONENTS, MICHEL_ENDPOINT_MEV, PROMPT_ENERGY_MEV, nue_spectrum, numubar_spectrum
from analysis.prediction import CevnsModel, flux_spectra, nominal_state
from analysis.schema import DatasetError
from analysis.xsec import flux_averaged_cross_section
from tests.analysis.release import COHERENT_2018

STEP = 0.25  # MeV


def _michel(spectrum) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres and probability per 0.25-MeV bin of an analytic Michel spectrum (the last bin
    straddles the 52.83 MeV end point), integrated with a fine midpoint rule."""
    edges = np.arange(0.0, MICHEL_ENDPOINT_MEV + STEP, STEP)
    fine = np.linspace(0.0, edges[-1], 200 * (edges.size - 1) + 1)
    mid = 0.5 * (fine[1:] + fine[:-1])
    content = (spectrum(mid) * np.diff(fine)).reshape(edges.size - 1, -1).sum(axis=1)
    return 0.5 * (edges[1:] + edges[:-1]), content


@pytest.fixture(scope="module")
def spec():
    return read_dataset(builtin("coherent-2018"), COHERENT_2018)


@pytest.fixture(scope="module")
def tabulated(spec, tmp_path_factory):
    """The three pi+ DAR spectra: nu_e as a TH1, anti-nu_mu as a tree, the prompt line as a
    0.1-MeV-wide text histogram around 29.79 MeV."""
    d = tmp_path_factory.mktemp("flux")
    e, nue = _michel(nue_spectrum)
    _, numubar = _michel(numubar_spectrum)
    with uproot.recreate(d / "flux.root") as f:
        f["nue"] = (nue * 1e4, np.concatenate([e - STEP / 2, [e[-1] + STEP / 2]]))  # any normalisation
        f["numubar"] = {"energy_mev": e, "weight": numubar}
    (d / "prompt.txt").write_text("# E [MeV], content\n" + "".join(
        f"{x:.6f} {w}\n" for x, w in zip(PROMPT_ENERGY_MEV + np.array([-0.1, 0.0, 0.1]), (0, 1, 0), strict=True)))
    files = (("prompt", d / "prompt.txt"), ("delayed_nue", d / "flux.root:nue"),
             ("delayed_numubar", d / "flux.root:numubar:energy_mev,weight"))
    return replace(spec, flux_spectra=files)


def test_tables_are_read_and_normalised(tabulated):
    spectra = flux_spectra(tabulated)
    assert set(spectra) == set(COMPONENTS)
    for edges, prob in spectra.values():
        assert prob.sum() == pytest.approx(1.0) and np.all(np.diff(edges) > 0)
    assert spectra["prompt"][1] == pytest.approx([0, 1, 0])


def test_tabulated_dar_spectra_reproduce_the_analytic_prediction(spec, tabulated):
    """Per component and nucleus the window counts agree within 1e-4 (0.25-MeV bins, flat within
    each bin; the prompt line spread over 0.1 MeV), and so do the flux-averaged cross sections."""
    state = nominal_state(spec)
    analytic = CevnsModel(spec, 1e23).templates(state).sum(axis=(2, 3))
    table = CevnsModel(tabulated, 1e23).templates(state).sum(axis=(2, 3))
    assert table == pytest.approx(analytic, rel=1e-4)  # measured: 1.4e-5
    spectra = flux_spectra(tabulated)
    for c in COMPONENTS:
        for n in spec.detector.nuclei:
            assert flux_averaged_cross_section(c, n.nuclide, 0.23857, spectrum=spectra[c]) == pytest.approx(
                flux_averaged_cross_section(c, n.nuclide, 0.23857), rel=1e-4)


def test_a_harder_spectrum_gives_more_events(spec, tmp_path):
    """nu_e at the end point (50-52.5 MeV) instead of Michel: above threshold the rate grows
    (sigma ~ E^2 and more recoils above 6 PE); the other components are unchanged."""
    (tmp_path / "hard.txt").write_text("50.625 1\n51.875 1\n")
    hard = replace(spec, flux_spectra=(("delayed_nue", tmp_path / "hard.txt"),))
    state = nominal_state(spec)
    base = CevnsModel(spec, 1e23).templates(state).sum(axis=(1, 2, 3))
    harder = CevnsModel(hard, 1e23).templates(state).sum(axis=(1, 2, 3))
    assert harder[1] > 1.5 * base[1]
    assert harder[[0, 2]] == pytest.approx(base[[0, 2]], rel=1e-12)


def test_dataset_keys_and_errors(tmp_path):
    """``[source] spectra`` in the TOML (file names relative to --data-dir, or absolute); an
    unknown component or a negative spectrum is refused with the key or the file."""
    text = builtin("coherent-2018").read_text()
    nue = tmp_path / "nue.txt"
    nue.write_text("10 1\n20 2\n30 1\n")
    good = tmp_path / "good.toml"
    good.write_text(text.replace("[source]\n", f'[source]\nspectra = {{ delayed_nue = "{nue}" }}\n', 1))
    spec = read_dataset(good, COHERENT_2018)
    assert spec.flux_spectra == (("delayed_nue", nue),)
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace("delayed_nue =", "nu_tau =", 1))
    with pytest.raises(DatasetError, match=r"source.spectra.*nu_tau"):
        read_dataset(bad, COHERENT_2018)
    missing = tmp_path / "missing.toml"
    missing.write_text(good.read_text().replace(str(nue), str(tmp_path / "absent.txt"), 1))
    with pytest.raises(DatasetError, match=r"\[source.spectra\] delayed_nue: expected an existing file"):
        read_dataset(missing, COHERENT_2018)
    (tmp_path / "neg.txt").write_text("10 1\n20 -2\n30 1\n")
    neg = replace(spec, flux_spectra=(("delayed_nue", tmp_path / "neg.txt"),))
    with pytest.raises(DatasetError, match=r"neg.txt: flux spectrum of delayed_nue"):
        CevnsModel(neg, 1e23)


def test_one_2d_flux_histogram_gives_the_spectrum_and_the_timing(spec, tmp_path):
    """A TH2 of (energy, time) for the delayed nu_e, written with uproot: ``:x`` is its energy
    spectrum (the same prediction as the 1D histogram it was made from), ``:y`` its time profile
    (summed over energy), and without a projection a 2-column reader refuses it."""
    e, nue = _michel(nue_spectrum)
    e_edges = np.concatenate([e - STEP / 2, [e[-1] + STEP / 2]])
    t_edges = np.linspace(0.0, 10.0, 41)
    t_centres = 0.5 * (t_edges[1:] + t_edges[:-1])
    t_profile = np.exp(-t_centres / 2.197)
    with uproot.recreate(tmp_path / "flux2d.root") as f:
        f["nue_et"] = (np.outer(nue, t_profile), e_edges, t_edges)
        f["nue"] = (nue, e_edges)
    time = read_table(tmp_path / "flux2d.root:nue_et:y", 2)
    assert time[:, 0] == pytest.approx(t_centres) and time[:, 1] == pytest.approx(t_profile * nue.sum())
    state = nominal_state(spec)
    one_d = replace(spec, flux_spectra=(("delayed_nue", tmp_path / "flux2d.root:nue"),))
    two_d = replace(spec, flux_spectra=(("delayed_nue", tmp_path / "flux2d.root:nue_et:x"),))
    assert CevnsModel(two_d, 1e23).templates(state) == pytest.approx(CevnsModel(one_d, 1e23).templates(state),
                                                                      rel=1e-12)
    with pytest.raises(DatasetError, match=r"a TH2 holds \(x, y, content\).*nue_et:x or .*nue_et:y"):
        read_table(tmp_path / "flux2d.root:nue_et", 2)
    with pytest.raises(DatasetError, match=r"not 'z'"):
        read_table(tmp_path / "flux2d.root:nue_et:z", 2)
