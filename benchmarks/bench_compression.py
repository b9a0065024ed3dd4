"""Lossless compression of raw int8 waveforms in HDF5: ratio, write and read speed per core, file size per trigger.

A script, not a test (issue #18). Three parts, in one invocation:

1. **Codecs** on the same records: N records of the simulated detector (``simulators/``, the shipped
   config: channels ``csi`` and ``veto``, (N, 35000) int8). For each candidate it writes a real HDF5
   file in a temporary directory and times, best of ``--repeats``:

   * ``write``: the records into a new chunked dataset, file closed (MB/s of samples; creating the
     file and dataset, once per run in the DAQ, is not timed);
   * ``read``: open and read the whole dataset back (MB/s of samples); every candidate is checked
     bit for bit.

   Candidates: the codecs ``recorder.compression`` offers, written as the recorder writes them
   (Fletcher-32 after the compression; ``huffman-*`` coded by ``daq.runfile.raw_codecs`` and written
   with ``write_direct_chunk``), then other stock filters of h5py and ``hdf5plugin`` and the C zlib's
   own Huffman-only deflate, for comparison. Beside them, per channel: the order-0 entropy (the bound
   of any coder of independent samples, ``8 / H0``), the best byte-wise Huffman code (the bound of
   any Huffman coder of bytes), and memcpy.
2. **Noise sweep**: the CsI channel simulated at 0.5, 0.8, 1.2, 1.5 ADC rms of electronic noise
   (``simulation.noise_rms_adc``, the knob the simulator presets ``SPE/NOISE`` set), the same codecs.
3. **Run file** (``--daq-seconds``, default 20): a ``sevens daq --simulate`` run per ``--run-codecs``
   entry, on private ipc endpoints; per file of the run (sub-runs included) its size per trigger,
   each dataset's storage, the dead space (1 - sum of the datasets' storage / file size), and the
   TB per year at 60 Hz (1.89e9 triggers).

Everything but the DAQ run is pinned to one core with ``BLOSC_NTHREADS=1``: the figures are per core.

    .venv/bin/python benchmarks/bench_compression.py                               # all three, ~3 min
    .venv/bin/python benchmarks/bench_compression.py --quick --daq-seconds 0       # the codecs, ~20 s
    .venv/bin/python benchmarks/bench_compression.py --run-codecs huffman-zstd,blosc-lz4:64
"""

from __future__ import annotations

import os

os.environ.setdefault("BLOSC_NTHREADS", "1")  # before hdf5plugin loads Blosc/Blosc2: one thread, figures per core

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from collections.abc import Callable, Mapping  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import h5py  # noqa: E402
import hdf5plugin  # noqa: E402
import numpy as np  # noqa: E402
from timing import best_time  # noqa: E402 - benchmarks/ is on the path

from daq import config  # noqa: E402
from daq.hardware.protocols import RunParameters  # noqa: E402
from daq.kernels.huffman import code_lengths  # noqa: E402
from daq.runfile import run_files  # noqa: E402
from daq.runfile.raw_codecs import DIRECT, DirectRawAppender, compression_options, warm  # noqa: E402

N_SAMPLES = 35_000
NOISES_ADC = (0.5, 0.8, 1.2, 1.5)
TRIGGERS_PER_YEAR = 60 * 365.25 * 86400  # 1.89e9
Encoder = Callable[[np.ndarray], bytes]


# ---------------------------------------------------------------------------------------------------------------
# records


def simulated_records(n: int, seed: int, noise_adc: float | None = None) -> dict[str, np.ndarray]:
    """{"csi", "veto"}: ``n`` records of the simulated detector (the shipped config; with ``noise_adc``
    the CsI electronic noise of that rms, as the simulator presets set it)."""
    from simulators.beam import SNSBeamTimeline
    from simulators.detector import DetectorSimulator

    cfg = config.load()
    if noise_adc is not None:
        cfg = config.with_overrides(cfg, {"simulation": {"noise_rms_adc": float(noise_adc)}})
    params = RunParameters(run_number=1, seed=seed, rate_boost=1.0, speed=1.0, start_time_ns=10**18)
    pulses = SNSBeamTimeline(cfg, params).pulses(1000, n)
    batch = DetectorSimulator(cfg, params).records(pulses, first_trigger_id=1)
    return {ch: np.ascontiguousarray(batch.waveforms[ch], dtype=np.int8) for ch in ("csi", "veto")}


def entropy_bits(x: np.ndarray) -> float:
    """Order-0 entropy of the bytes of x (bits per sample)."""
    p = np.bincount(x.view(np.uint8).ravel(), minlength=256) / x.size
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def huffman_bits(x: np.ndarray) -> float:
    """Mean length (bits per sample) of the best byte Huffman code (15-bit limit) of all of x."""
    counts = np.bincount(x.view(np.uint8).ravel(), minlength=256).astype(np.int64)
    return float((counts * code_lengths(counts, 15)).sum() / x.size)


# ---------------------------------------------------------------------------------------------------------------
# candidates and measurement


@dataclass(frozen=True)
class Candidate:
    codec: str
    setting: str
    rows: int = 8  # records per chunk; chunks are (rows, n_samples)
    kwargs: Mapping[str, Any] = field(default_factory=dict)  # create_dataset filter kwargs
    direct: str | None = None  # a recorder.compression coded by the recorder (write_direct_chunk)
    encode: Encoder | None = None  # another coder, written with write_direct_chunk


@dataclass
class Result:
    ratio: float = float("nan")
    write: float = float("nan")  # MB/s of samples
    read: float = float("nan")
    error: str = ""


def recorder_codec(name: str, rows: int = 8) -> Candidate:
    """The codec ``name`` of ``recorder.compression`` as the recorder writes it (with Fletcher-32)."""
    kwargs = {**compression_options(name), "fletcher32": True}
    return Candidate(name, "recorder.compression", rows, kwargs, direct=name if name in DIRECT else None)


def zlib_huffman_only(block: np.ndarray) -> bytes:
    """The C zlib of the standard library, strategy Z_HUFFMAN_ONLY: the same stream format as huffman-deflate."""
    c = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_HUFFMAN_ONLY)
    return c.compress(np.ascontiguousarray(block)) + c.flush()


def write_file(path: str, x: np.ndarray, cand: Candidate) -> float:
    """Write x as dataset "w" of a new file; returns the seconds from the first write to the file closed."""
    rows = min(cand.rows, x.shape[0])
    if os.path.exists(path):
        os.remove(path)
    f = h5py.File(path, "w", libver="latest")
    try:
        if cand.direct or cand.encode:
            ds = f.create_dataset("w", shape=(0, x.shape[1]), maxshape=(None, x.shape[1]), dtype=x.dtype,
                                  chunks=(rows, x.shape[1]), **cand.kwargs)
        else:
            ds = f.create_dataset("w", shape=x.shape, dtype=x.dtype, chunks=(rows, x.shape[1]), **cand.kwargs)
        appender = DirectRawAppender(ds, cand.direct) if cand.direct else None
        t0 = time.perf_counter()
        if appender is not None:  # the recorder's own path: whole chunks, the partial last one zero-padded
            appender.append(x)
            appender.flush(final=True)
        elif cand.encode is not None:
            ds.resize(x.shape[0], axis=0)
            for i in range(0, x.shape[0], rows):
                block = np.zeros((rows, x.shape[1]), x.dtype)
                block[: min(rows, x.shape[0] - i)] = x[i : i + rows]
                ds.id.write_direct_chunk((i, 0), cand.encode(block))
        else:
            ds.write_direct(x)
    finally:
        f.close()
    return time.perf_counter() - t0


def read_file(path: str) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f["w"][...]


def measure(x: np.ndarray, cand: Candidate, directory: str, repeats: int) -> Result:
    path = os.path.join(directory, "bench.h5")
    try:
        write_file(path, x, cand)  # warm-up (JIT, plugin load) and the check
        with h5py.File(path, "r") as f:
            stored = f["w"].id.get_storage_size()
        if not np.array_equal(read_file(path), x):
            return Result(error="not lossless")
        t_write = min(write_file(path, x, cand) for _ in range(repeats))
        t_read = best_time(lambda: read_file(path), repeats)
    except Exception as exc:  # a refused combination is a result too
        return Result(error=f"{type(exc).__name__}: {str(exc)[:48]}")
    finally:
        if os.path.exists(path):
            os.remove(path)
    return Result(ratio=x.nbytes / stored, write=x.nbytes / t_write / 1e6, read=x.nbytes / t_read / 1e6)


def shipped() -> list[Candidate]:
    return [recorder_codec(name) for name in config.COMPRESSIONS]


def others(quick: bool) -> list[Candidate]:
    B, B2 = hdf5plugin.Blosc, hdf5plugin.Blosc2
    f32: dict[str, Any] = {"fletcher32": True}
    c = [
        Candidate("Zstd", "clevel 1", kwargs={**hdf5plugin.Zstd(1), **f32}),
        Candidate("Zstd", "clevel 3", kwargs={**hdf5plugin.Zstd(3), **f32}),
        Candidate("LZ4", "-", kwargs={**hdf5plugin.LZ4(), **f32}),
        Candidate("Bitshuffle", "lz4", kwargs={**hdf5plugin.Bitshuffle(cname="lz4"), **f32}),
        Candidate("Bitshuffle", "zstd 1", kwargs={**hdf5plugin.Bitshuffle(cname="zstd", clevel=1), **f32}),
        Candidate("Blosc", "lz4 5 bitshuffle", kwargs={**B("lz4", 5, B.BITSHUFFLE), **f32}),
        Candidate("Blosc2", "zstd 1 bitshuffle", kwargs={**B2("zstd", 1, B2.BITSHUFFLE), **f32}),
        Candidate("zlib Z_HUFFMAN_ONLY", "stdlib zlib, direct", kwargs={"compression": "gzip"},
                  encode=zlib_huffman_only),
    ]
    if quick:
        return c
    c += [
        Candidate("Zstd", "clevel 9", kwargs={**hdf5plugin.Zstd(9), **f32}),
        Candidate("Blosc2", "lz4 5 bitshuffle", kwargs={**B2("lz4", 5, B2.BITSHUFFLE), **f32}),
        Candidate("scaleoffset + gzip", "so 0, level 1", kwargs={"scaleoffset": 0, "compression": "gzip",
                                                                 "compression_opts": 1}),
        Candidate("BZip2", "blocksize 9", kwargs={**hdf5plugin.BZip2(9), **f32}),
        Candidate("FciDecomp", "JPEG-LS", kwargs={**hdf5plugin.FciDecomp(), **f32}),
        Candidate("HTJ2K", "lossless", kwargs={**hdf5plugin.Htj2k(), **f32}),
    ]
    c += [recorder_codec(name, rows) for name in DIRECT for rows in (1, 2, 4, 16, 64)]
    return c


def fmt(r: Result) -> str:
    if r.error:
        return f"{r.error} | | "
    return f"{r.ratio:.2f} | {r.write:.0f} | {r.read:.0f}"


def codec_table(data: dict[str, np.ndarray], directory: str, repeats: int, quick: bool) -> None:
    print("| codec | level / filters | chunk | csi ratio | csi write MB/s | csi read MB/s | veto ratio | "
          "veto write MB/s | veto read MB/s |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    bounds = {ch: (entropy_bits(x), huffman_bits(x)) for ch, x in data.items()}
    print("| order-0 entropy bound | 8 / H0 | | " + " | ".join(
        f"{8 / bounds[ch][0]:.2f} ({bounds[ch][0]:.3f} b) | | " for ch in data) + " |")
    print("| byte Huffman bound | best code of single bytes | | " + " | ".join(
        f"{8 / bounds[ch][1]:.2f} ({bounds[ch][1]:.3f} b) | | " for ch in data) + " |")
    cells = []
    for x in data.values():
        dst = np.empty_like(x)
        t = best_time(lambda x=x, dst=dst: np.copyto(dst, x), 5 * repeats)
        cells.append(f"1.00 | {x.nbytes / t / 1e6:.0f} | {x.nbytes / t / 1e6:.0f}")
    print("| memcpy | np.copyto of the records | | " + " | ".join(cells) + " |")
    big = np.resize(data["csi"], 64 * 2**20)
    big_dst = np.empty_like(big)
    t = best_time(lambda: np.copyto(big_dst, big), repeats)
    print(f"| memcpy | np.copyto of 64 MiB (out of cache) | | 1.00 | {big.nbytes / t / 1e6:.0f} | "
          f"{big.nbytes / t / 1e6:.0f} | | | |")
    for cand in [*shipped(), *others(quick)]:
        res = {ch: measure(x, cand, directory, repeats) for ch, x in data.items()}
        rows = f"({cand.rows}, {N_SAMPLES})"
        print(f"| {cand.codec} | {cand.setting} | {rows} | {fmt(res['csi'])} | {fmt(res['veto'])} |", flush=True)


def noise_table(n: int, seed: int, directory: str, repeats: int) -> None:
    sweep = {rms: simulated_records(n, seed, rms)["csi"] for rms in NOISES_ADC}
    print("| codec | " + " | ".join(f"noise {rms} ADC" for rms in NOISES_ADC) + " |")
    print("|---|" + "---:|" * len(NOISES_ADC))
    print("| order-0 bound (H0) | " + " | ".join(
        f"{8 / entropy_bits(x):.2f} ({entropy_bits(x):.2f} b)" for x in sweep.values()) + " |")
    print("| byte Huffman bound | " + " | ".join(f"{8 / huffman_bits(x):.2f}" for x in sweep.values()) + " |")
    f32: dict[str, Any] = {"fletcher32": True}
    for cand in [recorder_codec("huffman-zstd"), recorder_codec("huffman-deflate"), recorder_codec("blosc-lz4"),
                 Candidate("Zstd", "clevel 1", kwargs={**hdf5plugin.Zstd(1), **f32}),
                 Candidate("Bitshuffle", "lz4", kwargs={**hdf5plugin.Bitshuffle(cname="lz4"), **f32})]:
        cells = []
        for x in sweep.values():
            r = measure(x, cand, directory, repeats)
            cells.append(r.error or f"{r.ratio:.2f} / {r.write:.0f} / {r.read:.0f}")
        print(f"| {cand.codec} ({cand.setting}) | " + " | ".join(cells) + " |", flush=True)


# ---------------------------------------------------------------------------------------------------------------
# run files


def record_run(directory: Path, seconds: float, compression: str, chunk_records: int | None) -> Path:
    """A ``sevens daq --simulate`` run at speed 1 on private ipc endpoints; returns its first file."""
    ipc = Path(tempfile.mkdtemp(prefix="svb"))
    try:
        recorder: dict[str, Any] = {"compression": compression}
        if chunk_records:
            recorder["chunk_records"] = chunk_records
        cfg = config.with_ipc_endpoints(config.load(), ipc, recorder=recorder,
                                        supervisor={"heartbeat_timeout_s": 10.0})
        cmd = [sys.executable, "-m", "daq.cli", "daq", "--simulate", "--config", cfg.path, "--run-dir",
               str(directory), "--duration", str(seconds), "--json"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 300)
    finally:
        shutil.rmtree(ipc, ignore_errors=True)
    if not proc.stdout.strip():
        raise SystemExit(f"recording failed:\n{proc.stderr[-3000:]}")
    return Path(json.loads(proc.stdout.strip().splitlines()[-1])["file"])


def storage(path: Path) -> tuple[int, int, dict[str, int]]:
    """(triggers, file size, {dataset: bytes stored}) of one run file (virtual datasets store nothing)."""
    stored: dict[str, int] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: stored.__setitem__(name, obj.id.get_storage_size())
                     if isinstance(obj, h5py.Dataset) and not obj.is_virtual else None)
        n = len(f["triggers"])
    return n, path.stat().st_size, stored


def run_file_table(seconds: float, codecs: list[str]) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-compression-"))
    try:
        print("| codec, chunk records | files | triggers | file size | kB / trigger | raw/csi | raw/veto | "
              "other datasets | dead space | TB / year at 60 Hz |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for entry in codecs:
            name, _, rows = entry.partition(":")
            first = record_run(work / entry.replace(":", "-"), seconds, name, int(rows) if rows else None)
            n = size = 0
            stored: dict[str, int] = {}
            paths = run_files(first)
            for path in paths:
                k, s, st = storage(path)
                n, size = n + k, size + s
                for key, value in st.items():
                    stored[key] = stored.get(key, 0) + value
            with h5py.File(first, "r") as f:
                chunk = f["raw/csi"].chunks[0]
            total = sum(stored.values())
            other = total - stored.get("raw/csi", 0) - stored.get("raw/veto", 0)
            kb = size / n / 1e3
            print(f"| {name}, {chunk} | {len(paths)} | {n} | {size / 1e6:.1f} MB | {kb:.2f} | "
                  f"{stored.get('raw/csi', 0) / n / 1e3:.2f} | {stored.get('raw/veto', 0) / n / 1e3:.2f} | "
                  f"{other / n / 1e3:.2f} | {100 * (1 - total / size):.1f} % | "
                  f"{kb * 1e3 * TRIGGERS_PER_YEAR / 1e12:.0f} |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--records", type=int, default=256, help="simulated records per channel (256)")
    ap.add_argument("--repeats", type=int, default=5, help="best of this many writes and reads (5)")
    ap.add_argument("--quick", action="store_true", help="fewer records, repeats and candidates; no noise sweep")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--daq-seconds", type=float, default=20.0, help="length of each DAQ run (20; 0: none)")
    ap.add_argument("--run-codecs", default="huffman-zstd",
                    help="recorder.compression[:chunk_records] of each DAQ run, comma-separated "
                         "(e.g. huffman-zstd,blosc-lz4:64 for the new and the old default)")
    args = ap.parse_args()
    if args.quick:
        args.records = min(args.records, 64)
        args.repeats = min(args.repeats, 2)

    if args.daq_seconds > 0:  # first, on both cores, before this process pins itself to one
        print(f"Run files, `sevens daq --simulate --duration {args.daq_seconds:g}`:")
        print()
        run_file_table(args.daq_seconds, args.run_codecs.split(","))
        print()
    core = sorted(os.sched_getaffinity(0))[0] if hasattr(os, "sched_getaffinity") else None
    if core is not None:
        os.sched_setaffinity(0, {core})  # one core, as in the DAQ
    for name in DIRECT:
        warm(name)
    t0 = time.perf_counter()
    data = simulated_records(args.records, args.seed)
    print(f"{args.records} simulated records per channel ({data['csi'].nbytes / 1e6:.1f} MB each) in "
          f"{time.perf_counter() - t0:.1f} s; machine: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, pinned to core {core}, load average {os.getloadavg()[0]:.2f}; python "
          f"{sys.version.split()[0]}, h5py {h5py.version.version}, HDF5 {h5py.version.hdf5_version}, hdf5plugin "
          f"{hdf5plugin.version}, numpy {np.__version__}, BLOSC_NTHREADS={os.environ['BLOSC_NTHREADS']}")
    print()
    with tempfile.TemporaryDirectory(prefix="bench_compression_") as tmp:
        codec_table(data, tmp, args.repeats, args.quick)
        if args.quick:
            return
        print()
        print("CsI channel by electronic noise (ratio / write MB/s / read MB/s), chunks of 8 records:")
        print()
        noise_table(args.records, args.seed, tmp, args.repeats)


if __name__ == "__main__":
    main()
