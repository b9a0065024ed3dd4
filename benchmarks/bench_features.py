"""Throughput of the CsI feature-extraction kernel against numpy/scipy and the memory-copy limit.

A script, not a test. It builds N realistic records (the simulated detector of ``simulators/`` with
the shipped config, or a small built-in generator with ``--source synthetic``), warms up the JIT, then
in the same run times, best of ``--repeats`` rounds in which the kernels take turns (a slow spell of a shared
host then falls on all of them alike; the strax ratio is also given round by round):

* ``numba``: :func:`daq.kernels.features.extract_features` (one core, as in the event builder);
* ``numpy/scipy``: :func:`daq.kernels.features_reference.extract_features_reference` on the same records;
* ``strax``: ``strax.baseline`` + ``strax.find_hits`` on the same records cut into strax records of 110
  samples (int16, the cutting outside the timing; each repeat works on a fresh copy, whose time is
  subtracted), one core, when ``strax`` is importable (``pip install strax``: a peer for the benchmark, not a
  dependency of the project); otherwise a note and no column;
* ``memcpy``: ``np.copyto`` of the same bytes (the memory-bandwidth limit);
* ``veto hits``: :func:`daq.kernels.veto_hits.find_veto_hits` on the veto channel of the same triggers.

Throughputs count the bytes of the channel read (35 kB per record of int8). The real-time factor is
the kernel throughput over the 60 Hz raw data rate of both channels (70 kB x 60 Hz = 4.2 MB/s).

    .venv/bin/python benchmarks/bench_features.py --records 600 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np
from timing import best_time  # noqa: E402 - benchmarks/ is on the path

from daq import config
from daq.kernels import features, features_reference, veto_hits
from daq.stages.params import feature_params

RATE_HZ = 60.0


def simulated_records(cfg, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(csi, veto, trigger ids, trigger times) from the simulated detector."""
    from daq.hardware.protocols import RunParameters
    from simulators.beam import SNSBeamTimeline
    from simulators.detector import DetectorSimulator

    params = RunParameters(run_number=1, seed=seed, rate_boost=1.0, speed=1.0, start_time_ns=10**18)
    pulses = SNSBeamTimeline(cfg, params).pulses(1000, n)
    batch = DetectorSimulator(cfg, params).records(pulses, first_trigger_id=1)
    t = batch.triggers
    return batch.waveforms["csi"], batch.waveforms["veto"], t["trigger_id"].copy(), t["time"].copy()


def synthetic_records(cfg, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian noise on a baseline of 100, 60 kHz of gaussian SPEs, a few-PE pulse in half the ROIs."""
    rng = np.random.default_rng(seed)
    ns = cfg.digitizer.n_samples
    dt = cfg.digitizer.sample_ns
    k = np.arange(-8, 9)
    spe = 30.0 * np.exp(-0.5 * (k / 1.25) ** 2) / (1.25 * np.sqrt(2 * np.pi))
    csi = np.empty((n, ns), np.int8)
    for r in range(n):
        s = np.zeros(ns + 16)
        t = list(rng.uniform(0, ns, rng.poisson(60e3 * ns * dt * 1e-9)))
        for roi in (cfg.windows.ac_roi, cfg.windows.c_roi):
            if rng.random() < 0.5:
                t += list(roi[0] / dt + rng.uniform(0, 6000) + rng.exponential(300.0, rng.integers(3, 40)))
        for i in np.asarray(t, int):
            if i < ns:
                s[i : i + 17] += spe * rng.gamma(8.0, 1 / 8.0)
        csi[r] = np.clip(np.round(100 - s[8 : 8 + ns] + rng.normal(0, 0.8, ns)), -128, 127)
    veto = np.clip(np.round(100 + rng.normal(0, 1.0, (n, ns))), -128, 127).astype(np.int8)
    return csi, veto, np.arange(1, n + 1), 10**18 + np.arange(n) * 16_666_667


STRAX_SAMPLES = 110  # samples per strax record (strax.DEFAULT_RECORD_LENGTH)
STRAX_MIN_AMPLITUDE = 4  # [ADC] find_hits threshold: 4.5 rms of the 0.8 ADC noise, as the kernel's


def strax_records(strax, csi: np.ndarray, times: np.ndarray, sample_ns: float) -> np.ndarray:
    """The CsI records as strax records (one pulse per trigger, fragments of ``STRAX_SAMPLES``, int16)."""
    n_rec, n = csi.shape
    per = -(-n // STRAX_SAMPLES)
    padded = np.zeros((n_rec, per * STRAX_SAMPLES), np.int16)
    padded[:, :n] = csi
    recs = np.zeros(n_rec * per, strax.record_dtype(STRAX_SAMPLES))
    frag = np.tile(np.arange(per), n_rec)
    recs["data"] = padded.reshape(-1, STRAX_SAMPLES)
    recs["record_i"], recs["pulse_length"], recs["dt"] = frag, n, int(sample_ns)
    recs["length"] = np.minimum(STRAX_SAMPLES, n - frag * STRAX_SAMPLES)
    recs["time"] = np.repeat(times, per) + (frag * STRAX_SAMPLES * sample_ns).astype(np.int64)
    return recs


def strax_runner(csi: np.ndarray, times: np.ndarray, sample_ns: float) -> Callable[[], None] | None:
    """strax's baseline + find_hits on the records, each call on a fresh copy (baseline works in place); None,
    with a note, when strax is not installed."""
    try:
        import strax
    except ImportError:
        print("note: strax is not installed (pip install strax): no strax column")
        return None
    recs = strax_records(strax, csi, times, sample_ns)

    def run() -> None:
        r = recs.copy()
        strax.baseline(r, baseline_samples=40, flip=True)
        strax.find_hits(r, min_amplitude=STRAX_MIN_AMPLITUDE)

    run()  # JIT warm-up
    run.copy = recs.copy  # type: ignore[attr-defined] - the copy's own time, subtracted
    return run


def interleaved_times(funcs: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Wall time [s] of each function in each of ``rounds`` rounds, the functions taking turns within a round,
    so that a slow spell of the machine (seconds long on a shared host) falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(rounds):
        for name, func in funcs.items():
            t0 = time.perf_counter()
            func()
            times[name].append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=600)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--reference-repeats", type=int, default=2)
    ap.add_argument("--source", choices=("simulated", "synthetic"), default="simulated")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    cfg = config.load()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as in the DAQ
    t0 = time.perf_counter()
    make = simulated_records if args.source == "simulated" else synthetic_records
    csi, veto, ids, times = make(cfg, args.records, args.seed)
    print(f"{args.records} {args.source} records in {time.perf_counter() - t0:.1f} s")
    fp = feature_params(cfg)
    v, d = cfg.veto, cfg.digitizer
    veto_args = (d.polarity, v.threshold_adc, max(1, round(v.deadtime_ns / d.sample_ns)), v.baseline_samples,
                 d.sample_ns)
    gain = cfg.features.spe_gain_initial

    features.extract_features(csi[:2], ids[:2], times[:2], fp, gain)  # JIT warm-up (or cache load)
    veto_hits.find_veto_hits(veto[:2], ids[:2], *veto_args)
    dst = np.empty_like(csi)

    nbytes = csi.nbytes
    funcs: dict[str, Callable[[], object]] = {"numba": lambda: features.extract_features(csi, ids, times, fp, gain)}
    strax_run = strax_runner(csi, times, fp.sample_ns)
    if strax_run is not None:
        funcs["strax baseline+hits"] = strax_run
        funcs["strax copy"] = strax_run.copy  # type: ignore[attr-defined]
    funcs["memcpy"] = lambda: np.copyto(dst, csi)
    funcs["veto hits (numba)"] = lambda: veto_hits.find_veto_hits(veto, ids, *veto_args)
    rounds = interleaved_times(funcs, args.repeats)
    if strax_run is not None:  # the copy each strax call makes, round by round
        copies = rounds.pop("strax copy")
        rounds["strax baseline+hits"] = [t - c for t, c in zip(rounds["strax baseline+hits"], copies, strict=True)]
    timings = {name: min(ts) for name, ts in rounds.items()}
    timings["numpy/scipy"] = best_time(
        lambda: features_reference.extract_features_reference(csi, ids, times, fp, gain), args.reference_repeats)
    feats, peaks = features.extract_features(csi, ids, times, fp, gain)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, pinned to one; "
          f"numpy {np.__version__}; load average {os.getloadavg()[0]:.2f}")
    print(f"windows with an onset: {np.mean(feats['onset_ns'] >= 0):.2f}, peaks per record: "
          f"{peaks.size / args.records:.1f}")
    print(f"| {'kernel':<19} | {'GB/s':>7} | {'triggers/s':>11} | {'x real time':>11} |")
    print(f"|{'-' * 21}|{'-' * 9}|{'-' * 13}|{'-' * 13}|")
    realtime = 2 * csi.shape[1] * RATE_HZ  # bytes/s of both channels at 60 Hz
    for name, t in timings.items():
        rate = nbytes / t
        print(f"| {name:<19} | {rate / 1e9:7.3f} | {args.records / t:11.0f} | {rate / realtime:11.0f} |")
    print(f"numba / numpy-scipy: {timings['numpy/scipy'] / timings['numba']:.1f}x faster")
    if strax_run is not None:
        per_round = sorted(st / nt for st, nt in zip(rounds["strax baseline+hits"], rounds["numba"], strict=True))
        print(f"numba / strax baseline + find_hits: {timings['strax baseline+hits'] / timings['numba']:.1f}x faster "
              f"(best of each); round by round {per_round[0]:.1f}-{per_round[-1]:.1f}x, "
              f"median {per_round[len(per_round) // 2]:.1f}x")
    print(f"numba / memcpy: {timings['memcpy'] / timings['numba']:.3f} of the copy bandwidth")
    print(f"numba / 60 Hz data rate ({realtime / 1e6:.1f} MB/s): {nbytes / timings['numba'] / realtime:.0f}x")


if __name__ == "__main__":
    main()
