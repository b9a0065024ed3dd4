"""PNG figures of a fit: data vs fitted components, likelihood profile, NSI region.

Matplotlib with the Agg backend (no display needed).  Each function takes an
``AnalysisResult`` and a directory and returns the path it wrote.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .results import DCHI2_90_2D, AnalysisResult  # noqa: E402

#: Stacking order (bottom to top), label and colour of the fit components.
COMPONENT_STYLE = (
    ("steady_state", "steady-state background", "#bbbbbb"),
    ("brn", "beam neutrons", "#8c564b"),
    ("nin", "nu-induced neutrons", "#e377c2"),
    ("prompt", r"CEvNS prompt $\nu_\mu$", "#1f77b4"),
    ("delayed_nue", r"CEvNS delayed $\nu_e$", "#2ca02c"),
    ("delayed_numubar", r"CEvNS delayed $\bar\nu_\mu$", "#ff7f0e"),
)


def _components(result: AnalysisResult) -> dict[str, np.ndarray]:
    best = result.best
    comps = best.model.components(best.values)
    if "steady_state" not in comps:  # per-bin model: the profiled background
        comps["steady_state"] = best.cost.costs[0].background(best.values)
    return comps


def _chi2_text(s: dict) -> str:
    if not np.isfinite(s["chi2"]):
        return ""
    return rf", C $\chi^2$/ndof = {s['chi2']:.1f}/{s['ndof']:.1f}"


def plot_projections(result: AnalysisResult, directory: Path) -> Path:
    """C beam-on data with the stacked fitted components, projected on PE and on time."""
    spec = result.best.model.spec
    data = result.best.model.observed.counts["c_beam_on"]
    comps = _components(result)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for axis, (ax, edges, label) in enumerate(
        ((axes[0], spec.analysis.pe_edges, "photoelectrons [PE]"),
         (axes[1], spec.analysis.time_edges_us, r"reconstructed time [$\mu$s]"))
    ):
        other = 1 - axis
        bottom = np.zeros(len(edges) - 1)
        for name, text, colour in COMPONENT_STYLE:
            if name not in comps:
                continue
            values = comps[name].sum(axis=other) / np.diff(edges)
            ax.stairs(bottom + values, edges, baseline=bottom, fill=True, color=colour, label=text)
            bottom = bottom + values
        ax.stairs(bottom, edges, color="k", lw=1.2, label="total fit")
        counts = data.sum(axis=other)
        centres = 0.5 * (edges[1:] + edges[:-1])
        widths = np.diff(edges)
        ax.errorbar(centres, counts / widths, xerr=widths / 2, yerr=np.sqrt(counts) / widths, fmt="o",
                    color="k", ms=4, label="C beam-on data")
        ax.set_xlabel(label)
        ax.set_ylabel("counts per PE" if axis == 0 else r"counts per $\mu$s")
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0, None)
    axes[1].legend(fontsize=8, frameon=False)
    s = result.summary
    fig.suptitle(f"{spec.name}: CEvNS {s['n_cevns']:.0f} $\\pm$ {s['n_cevns_err']:.0f} "
                 f"(SM {s['sm_prediction']:.0f}), {s['significance_sigma']:.1f}$\\sigma$"
                 f"{_chi2_text(s)}", fontsize=10)
    path = directory / "fit_projections.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_profile(result: AnalysisResult, directory: Path) -> Path:
    """Profile likelihood 2 Delta NLL of the signal strength, counts on the top axis."""
    grid, values = result.profile_mu
    s = result.summary
    sm = s["sm_prediction"]
    fig, ax = plt.subplots(figsize=(6, 4.2), constrained_layout=True)
    ax.plot(grid, values, "-", color="#1f77b4", lw=2)
    ax.plot(grid, values, ".", color="#1f77b4", ms=3)
    for level, text in ((1.0, r"1$\sigma$"), (4.0, r"2$\sigma$"), (9.0, r"3$\sigma$"), (25.0, r"5$\sigma$")):
        if level <= values.max():
            ax.axhline(level, color="0.6", ls=":", lw=1)
            ax.text(grid[-1], level, text, ha="right", va="bottom", fontsize=8, color="0.4")
    for k, (lo, hi) in enumerate(s["profile_mu"]["crossings"].values()):
        for x in (lo, hi):
            if x is not None:
                ax.axvline(x, color="0.5", ls="--", lw=0.8, alpha=1.0 - 0.25 * k)
    ax.axvline(1.0, color="#d62728", ls="--", lw=1, label="standard model")
    ax.set_xlabel(r"signal strength $\mu = \sigma/\sigma_{SM}$")
    ax.set_ylabel(r"$-2\,\Delta\ln L$ (profiled)")
    ax.set_xlim(grid[0], grid[-1])
    ax.set_ylim(0, 1.05 * values.max())
    top = ax.secondary_xaxis("top", functions=(lambda m: m * sm, lambda n: n / sm))
    top.set_xlabel("CEvNS counts at SM response")
    ax.legend(frameon=False, loc="upper center")
    def num(value: float) -> str:
        return f"{value:.2f}" if np.isfinite(value) else "n/a"

    ax.text(0.03, 0.95, f"no CEvNS rejected at {num(s['significance_sigma'])}$\\sigma$\n"
            f"$\\mu$ = {s['mu']:.2f} $-${num(s['mu_err_lo'])} +{num(s['mu_err_hi'])}",
            transform=ax.transAxes, va="top", fontsize=9)
    path = directory / "likelihood_profile.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_nsi(result: AnalysisResult, directory: Path) -> Path:
    """90 % CL allowed region in (eps^uV_ee, eps^dV_ee), fit and counting."""
    nsi = result.nsi
    fig, ax = plt.subplots(figsize=(5.6, 5), constrained_layout=True)
    ax.contourf(nsi.eps_u, nsi.eps_d, nsi.dchi2_fit, levels=[0, DCHI2_90_2D], colors=["#9ecae1"])
    ax.contour(nsi.eps_u, nsi.eps_d, nsi.dchi2_fit, levels=[DCHI2_90_2D], colors=["#08519c"])
    ax.contour(nsi.eps_u, nsi.eps_d, nsi.dchi2_counting, levels=[DCHI2_90_2D], colors=["k"],
               linestyles="--", linewidths=1)
    ax.plot([0], [0], "r*", ms=10)
    handles = [plt.Rectangle((0, 0), 1, 1, color="#9ecae1"), plt.Line2D([], [], color="k", ls="--"),
               plt.Line2D([], [], color="r", marker="*", ls="")]
    ax.legend(handles, ["2D fit, 90% CL", "counting, 90% CL", "standard model"], frameon=False,
              loc="upper right", fontsize=8)
    ax.set_xlabel(r"$\varepsilon^{uV}_{ee}$")
    ax.set_ylabel(r"$\varepsilon^{dV}_{ee}$")
    ax.set_title("non-standard interactions (other couplings zero)", fontsize=10)
    path = directory / "nsi_region.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_pull_map(result: AnalysisResult, directory: Path) -> Path:
    """(data - fit) / sqrt(fit) per (PE, time) bin of the C window."""
    best = result.best
    spec = best.model.spec
    total = sum(_components(result).values())
    data = best.model.observed.counts["c_beam_on"]
    pulls = (data - total) / np.sqrt(np.maximum(total, 1e-9))
    fig, ax = plt.subplots(figsize=(6, 4.6), constrained_layout=True)
    mesh = ax.pcolormesh(spec.analysis.time_edges_us, spec.analysis.pe_edges, pulls, cmap="RdBu_r",
                         vmin=-3, vmax=3)
    fig.colorbar(mesh, ax=ax, label=r"(data $-$ fit) / $\sqrt{\mathrm{fit}}$")
    ax.set_xlabel(r"reconstructed time [$\mu$s]")
    ax.set_ylabel("photoelectrons [PE]")
    ax.set_title(f"C-window residuals: mean {pulls.mean():+.2f}, rms {pulls.std():.2f}", fontsize=10)
    path = directory / "pull_map.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_plots(result: AnalysisResult, directory: str | Path) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [plot_projections(result, directory), plot_pull_map(result, directory)]
    if np.isfinite(result.profile_mu[1]).all():  # no profile without a minimum to profile from
        paths.append(plot_profile(result, directory))
    if result.nsi is not None:
        paths.append(plot_nsi(result, directory))
    return paths
