"""Time axes and long series for the trends, no Qt: windows, ticks, decimation, y-ranges, beam state.

* :data:`WINDOWS`: the time windows a shift crew chooses from (10 min ... 24 h, the whole run, all
  runs this viewer saw, 30 days of the run catalogue);
* :func:`ticks`: major and minor tick times and labels for a span, in local time: ``HH:MM`` (and
  seconds for short spans), with the date (``Wed 02 Dec``) under the tick where the day changes
  and, on an axis of hours, under the first; steps from 1 s to 4 weeks, as many labelled ticks as
  the width holds;
* :func:`envelope`: a long series reduced to the minimum and maximum of each of ``n`` bins, so a
  spike survives and 5760 points do not draw as a solid bar;
* :func:`y_range`: the data's range, but at least ``min_span`` wide, so noise is not magnified;
* :func:`beam_state` / :func:`beam_segments`: beam on / off / trip / degraded power from DQ rows.
"""

from __future__ import annotations

import math
import time

import numpy as np

WINDOWS = {"10 min": 600.0, "1 h": 3600.0, "8 h": 8 * 3600.0, "24 h": 86400.0, "run": None, "all runs": math.inf,
           "30 days": 30 * 86400.0}  # 30 days: the run catalogue's history (monitor.longterm), hourly
STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 14400, 21600, 43200,
           86400, 2 * 86400,
           7 * 86400, 14 * 86400, 28 * 86400)
BEAM_OFF_FRACTION = 0.5  # a DQ interval with fewer beam-on triggers than this is beam off
TRIP_MAX_S = 120.0  # a beam-off stretch this short, between beam-on ones, is a trip
DEGRADED = 0.8  # beam power below this fraction of nominal: degraded


def _utc_offset(t: float) -> float:
    lt = time.localtime(t)
    return float(lt.tm_gmtoff)


def ticks(t0: float, t1: float, target: float = 6) -> tuple[list[tuple[float, str]], list[float]]:
    """(major ticks as (time, label), minor tick times) for [t0, t1] (s since the epoch, local time)."""
    span = max(t1 - t0, 1e-3)
    step = next((s for s in STEPS_S if span / s <= target), STEPS_S[-1])
    minor_step = next((s for s in reversed(STEPS_S) if s < step and step % s == 0 and step / s <= 6), step / 5)
    off = _utc_offset(t0)  # steps of an hour or more fall on local hours (and days on local midnight)
    first = math.ceil((t0 + off) / step) * step - off
    majors = list(np.arange(first, t1 + 1e-9, step))
    first_minor = math.ceil((t0 + off) / minor_step) * minor_step - off
    minors = [t for t in np.arange(first_minor, t1 + 1e-9, minor_step) if (t + off) % step]
    out, last_day = [], None
    for t in majors:
        lt = time.localtime(t)
        clock = time.strftime("%H:%M:%S" if step < 60 else "%H:%M", lt)
        day = (lt.tm_year, lt.tm_yday)
        if step >= 86400:
            label = time.strftime("%a %d %b", lt)
        elif day != last_day and (step >= 3600 or last_day is not None):  # the date under the clock: where
            # the day changes, and on the first tick of an axis of hours
            label = f"{clock}\n{time.strftime('%a %d %b', lt)}"
        else:
            label = clock
        last_day = day
        out.append((float(t), label))
    return out, [float(t) for t in minors]


def envelope(t: np.ndarray, y: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """``(t, y)`` reduced to at most ``2 n_bins`` points: per bin of equal point count, its minimum and
    its maximum, in time order (NaNs are no measurement and dropped). Short series come back whole."""
    ok = np.isfinite(y)
    t, y = t[ok], y[ok]
    if len(t) <= 2 * n_bins:
        return t, y
    edges = np.linspace(0, len(t), n_bins + 1).astype(int)
    out_t, out_y = np.empty(2 * n_bins), np.empty(2 * n_bins)
    for k, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        seg = y[a:b]
        i_min, i_max = a + int(np.argmin(seg)), a + int(np.argmax(seg))
        first, second = sorted((i_min, i_max))
        out_t[2 * k], out_y[2 * k] = t[first], y[first]
        out_t[2 * k + 1], out_y[2 * k + 1] = t[second], y[second]
    return out_t, out_y


def y_range(y: np.ndarray, min_span: float, limits: tuple[float, float] | None = None,
            pad: float = 0.1) -> tuple[float, float] | None:
    """The y-range to show: the finite values' range (with the limit band, if any, when it is near),
    widened about its centre to at least ``min_span``, plus ``pad`` of the span each side."""
    y = y[np.isfinite(y)]
    if not len(y):
        return None if limits is None else (limits[0] - pad * (limits[1] - limits[0]),
                                            limits[1] + pad * (limits[1] - limits[0]))
    lo, hi = float(y.min()), float(y.max())
    if limits is not None:  # show the band when the data is near it (within a band width)
        width = limits[1] - limits[0]
        if lo - width <= limits[1] and hi + width >= limits[0]:
            lo, hi = min(lo, limits[0]), max(hi, limits[1])
    span = max(hi - lo, min_span, 1e-12)
    centre = 0.5 * (lo + hi)
    return centre - 0.5 * span * (1 + 2 * pad), centre + 0.5 * span * (1 + 2 * pad)


def beam_state(dq: np.ndarray, nominal_mw: float) -> tuple[str, str]:
    """(state, text) from the newest DQ rows: ``on``, ``off``, ``trip`` (off, after beam within
    TRIP_MAX_S), ``degraded`` (on below DEGRADED of nominal power) or ``unknown`` (no rows)."""
    if not len(dq):
        return "unknown", "beam: no DQ yet"
    last = dq[-1]
    frac, power = float(last["beam_on_fraction"]), float(last["beam_power_mw"])
    if not np.isfinite(frac) or frac < BEAM_OFF_FRACTION:
        t = dq["time"] / 1e9
        on = dq["beam_on_fraction"] >= BEAM_OFF_FRACTION
        seen_on = np.flatnonzero(on)
        if len(seen_on):
            off_s = float(t[-1] - t[seen_on[-1]])
            if off_s <= TRIP_MAX_S:
                return "trip", f"BEAM TRIP ({off_s:.0f} s)"
            return "off", f"BEAM OFF ({off_s / 60:.0f} min)"
        return "off", "BEAM OFF"
    if np.isfinite(power) and power < DEGRADED * nominal_mw:
        return "degraded", f"BEAM DEGRADED {power:.2f} MW"
    return "on", f"BEAM ON {power:.2f} MW"


def beam_segments(dq: np.ndarray) -> list[tuple[float, float, str]]:
    """Stretches without beam as (start s, end s, ``off`` | ``trip``), from the DQ rows' beam-on fraction."""
    if not len(dq):
        return []
    end = dq["time"] / 1e9
    start = end - dq["interval_s"].astype(float)
    off = ~(dq["beam_on_fraction"] >= BEAM_OFF_FRACTION)
    out = []
    k = 0
    while k < len(dq):
        if not off[k]:
            k += 1
            continue
        j = k
        while j + 1 < len(dq) and off[j + 1]:
            j += 1
        between = k > 0 and j + 1 < len(dq)  # beam before and after
        kind = "trip" if between and end[j] - start[k] <= TRIP_MAX_S else "off"
        out.append((float(start[k]), float(end[j]), kind))
        k = j + 1
    return out
