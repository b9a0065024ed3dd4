"""Correlated shape systematics: +-1 sigma template variations with interpolation.

A ``[[systematics]]`` entry of a dataset names two alternative detector
responses, ``up`` and ``down`` (tables of ``[response]`` keys that replace the
nominal ones: another quenching curve, another set of efficiency
coefficients), or a ``covariance`` over response parameters, which becomes one
pair of variations per principal component (nominal +- sqrt(lambda_k) v_k).

Each pair gives, per beam component (prompt, delayed_nue, delayed_numubar,
brn, nin) and per (PE, time) bin, the ratios up / nominal and down / nominal at
the nominal response.  In the fit, a standardised nuisance theta ~ N(0, 1)
multiplies the component by

    1 + theta (h + l)/2 + theta^2 (h - l)/2   (|theta| <= 1, linear beyond),

h = up/nominal - 1, l = 1 - down/nominal: exactly the up template at theta = +1
and the down template at -1, smooth in between (the quadratic-linear
interpolation of pyhf's histosys/normsys, applied as a relative factor so that it
composes with the other nuisances).  The normalisation change of a variation is
part of it (a normsys is a variation that only scales).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .schema import DatasetError, Section

#: Response parameters a covariance may be given over: dotted [response] key -> path in the raw table.
COVARIANCE_KEYS = ("pe_efficiency.a", "pe_efficiency.k", "pe_efficiency.x0", "quenching.value",
                   "light_yield.value")


@dataclass(frozen=True)
class SystematicSpec:
    """One +-1 sigma variation pair of the detector response (parsed ``ResponseSpec``s)."""

    name: str
    description: str
    up: Any
    down: Any


def principal_directions(covariance: NDArray[np.float64]) -> NDArray[np.float64]:
    """Columns sqrt(lambda_k) v_k of a covariance, largest variance first: x = x0 + D theta with
    theta ~ N(0, 1) independent reproduces the covariance (D D^T = C)."""
    values, vectors = np.linalg.eigh(np.asarray(covariance, dtype=float))
    order = np.argsort(values)[::-1]
    return vectors[:, order] * np.sqrt(np.maximum(values[order], 0.0))


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _with_value(raw: Mapping[str, Any], dotted: str, value: float) -> dict[str, Any]:
    """``raw`` [response] table with the parameter ``dotted`` set to ``value``; a parameter given
    as a {value, error...} table keeps that form."""
    table, key = dotted.split(".")
    container = raw[table]
    if key == "value" and not isinstance(container, dict):
        return {**raw, table: value}
    item = container[key]
    return {**raw, table: {**container, key: {**item, "value": value} if isinstance(item, dict) else value}}


def _get_value(raw: Mapping[str, Any], dotted: str) -> float:
    table, key = dotted.split(".")
    container = raw[table]
    item = container if key == "value" and not isinstance(container, dict) else container[key]
    return float(item["value"] if isinstance(item, dict) else item)


def parse_systematics(top: Section, parse_response: Callable[[Section], Any]) -> tuple[SystematicSpec, ...]:
    """The ``[[systematics]]`` entries of a dataset (``parse_response`` parses a [response] table)."""
    if not top.has("systematics"):
        return ()
    base = top.raw.get("response", {})
    out: list[SystematicSpec] = []
    for item in top.sections("systematics"):
        item.check_keys(["name", "description", "up", "down", "parameters", "covariance"])
        name = item.string("name")
        if not name.isidentifier():
            raise item.error("name", "a name of letters, digits and _", name)
        text = item.string("description", name)
        if item.has("covariance"):
            keys = item.strings("parameters")
            bad = [k for k in keys if k not in COVARIANCE_KEYS]
            if bad or not keys:
                raise item.error("parameters", "names among " + ", ".join(COVARIANCE_KEYS), keys)
            cov = np.array(item.raw["covariance"], dtype=float) if _is_matrix(item.raw["covariance"]) else None
            if cov is None or cov.shape != (len(keys), len(keys)) or not np.allclose(cov, cov.T) \
                    or np.linalg.eigvalsh(cov).min() < -1e-12 * max(abs(cov).max(), 1e-300):
                raise item.error("covariance", f"a symmetric positive semi-definite {len(keys)} x {len(keys)} "
                                               "matrix of numbers", item.raw["covariance"])
            centre = np.array([_get_value(base, k) for k in keys])
            for k, column in enumerate(principal_directions(cov).T):
                shifted = []
                for sign in (+1.0, -1.0):
                    raw = dict(base)
                    for key, value in zip(keys, centre + sign * column, strict=True):
                        raw = _with_value(raw, key, float(value))
                    shifted.append(parse_response(Section(top.source, f"{item.name}.pc{k + 1}", raw)))
                out.append(SystematicSpec(f"{name}_pc{k + 1}", f"{text}, principal component {k + 1}", *shifted))
            continue
        pair = []
        for side in ("up", "down"):
            override = item.section(side)
            pair.append(parse_response(Section(top.source, f"{item.name}.{side}", _merge(base, override.raw))))
        out.append(SystematicSpec(name, text, *pair))
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise DatasetError(f"{top.source.name}: [[systematics]] name: names must differ, got {names}")
    return tuple(out)


def _is_matrix(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(row, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in row)
        for row in value)


def interpolated_factor(theta: float, up: NDArray, down: NDArray) -> NDArray[np.float64]:
    """Relative factor at pull ``theta`` between the ratios ``down`` (theta = -1) and ``up`` (+1)."""
    h, low = up - 1.0, 1.0 - down
    mean, half = 0.5 * (h + low), 0.5 * (h - low)
    if abs(theta) <= 1.0:
        shift = theta * mean + theta * theta * half
    else:
        edge = np.sign(theta)
        shift = edge * mean + half + (mean + 2.0 * edge * half) * (theta - edge)
    return np.maximum(1.0 + shift, 0.0)


class TemplateVariations:
    """Per-component ratio tables of every systematic; ``factors(p)`` the product of their
    interpolated factors per component (memoised on the pulls)."""

    def __init__(self, names: tuple[str, ...], ratios: list[dict[str, tuple[NDArray, NDArray]]]) -> None:
        self.names = names
        self.ratios = ratios
        self._memo: tuple[tuple[float, ...], dict[str, NDArray | float]] | None = None

    def factors(self, p: Mapping[str, float]) -> dict[str, NDArray | float]:
        key = tuple(p.get(n, 0.0) for n in self.names)
        if self._memo is not None and self._memo[0] == key:
            return self._memo[1]
        out: dict[str, NDArray | float] = {}
        for theta, table in zip(key, self.ratios, strict=True):
            if theta == 0.0:
                continue
            for component, (up, down) in table.items():
                out[component] = out.get(component, 1.0) * interpolated_factor(theta, up, down)
        self._memo = (key, out)
        return out


def ratio(variant: NDArray, nominal: NDArray) -> NDArray[np.float64]:
    """variant / nominal per bin, 1 where the nominal template is empty."""
    return np.where(nominal > 0, variant / np.where(nominal > 0, nominal, 1.0), 1.0)
