"""One run reprocessed inside one task: the replay devices feed :class:`~daq.cluster.chain.StageChain`.

A task is a whole run (the run file and its sub-run files), because the SPE calibration of gain
block b is measured on the blocks before it: a run split into tasks would need the calibration
sequence handed from task to task, and any other split would change the features. The records
and pulses come from the very devices ``sevens replay`` gives the reader and the beam receiver
(:class:`~daq.replay.sources.ReplayDigitizer`, :class:`~daq.replay.sources.ReplayBeam`): the same
losses declared again, the same damaged-chunk skips, the same beam gate.

Everything a task touches is opened inside it (h5py handles do not pickle): a :class:`RunJob` holds
paths, the config as text and plain numbers. The output is recorded in a private working directory
inside ``out_dir`` and published under its final name (never over a file) once complete, with its raw
waveforms linked to the input's (or left out); a task that fails leaves nothing but removes its work.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daq import config as config_mod
from daq.cluster import numba_cache
from daq.cluster.chain import StageChain
from daq.hardware.protocols import RunParameters
from daq.ops import heap
from daq.replay.inputs import mark_damaged_input, mark_input_status, stop_report_path
from daq.replay.sources import MAX_SPEED, ReplayBeam, ReplayDigitizer, recorded_start_calibration
from daq.runfile import open_run, run_file_path
from daq.runfile.outputs import publish
from daq.runfile.raw_links import link_raw
from daq.stages.calibration import SpeCalibration

BATCH = 256  # records per reader batch (replay at --speed max sends at least as many; features do not depend on it)


@dataclass(frozen=True)
class RunJob:
    """What a task needs to reprocess one run; plain data, so it pickles to any worker."""

    name: str  # the input's first file, as the user named it (for reports)
    files: tuple[str, ...]  # the run file and its sub-run files, in order (absolute)
    config_text: str  # the reprocessing config with the replay settings (daq.cli.replay.replay_config), but
    # for ``[replay] files``: the task sets them to ``files`` (one config text serves every run of a job)
    config_name: str
    out_dir: str
    run_number: int  # the output's number, reserved by the client in the output directory's counter
    lineage: dict[str, Any] = field(default_factory=dict)
    raw: str = "link"  # link | none
    attrs: dict[str, Any] = field(default_factory=dict)


def start_calibration(path: str | Path) -> SpeCalibration | None:
    """The SPE calibration the recorded run started from: a reprocessing starts there, as its replay does."""
    recorded = recorded_start_calibration(Path(path))
    return None if recorded is None else SpeCalibration.from_dict(recorded)


def reprocess_run(job: RunJob) -> dict[str, Any]:
    """Reprocess ``job``'s run; returns a summary (file, triggers, seconds, exit status, input problems)."""
    t0, cpu0 = time.monotonic(), time.thread_time()
    out_dir = Path(job.out_dir)
    done = finished(job)
    if done is not None:  # a retry after the worker died between publishing and reporting
        return {**done, "seconds": round(time.monotonic() - t0, 3)}
    cfg = config_mod.with_overrides(config_mod.parse(job.config_text, job.config_name),
                                    {"replay": {"files": list(job.files)}})
    numba_cache.warm_once(cfg)
    heap.serve_blocks_from_heap()  # a Dask worker's malloc settings mmap every block afresh
    work = Path(tempfile.mkdtemp(prefix=f".reprocess-{job.run_number:06d}-", dir=out_dir))
    try:
        devices_cfg = config_mod.with_overrides(cfg, {"run": {"directory": str(work)}})
        recorded = run_file_path(work, job.run_number)
        chain = StageChain(cfg, recorded, job.run_number, {
            "seed": 0, "rate_boost": 1.0, "speed": MAX_SPEED, "config_path": job.config_name,
            "backend": cfg.digitizer.backend, "sub_run": 0, **job.attrs}, job.lineage,
            start_calibration=start_calibration(job.files[0]))
        try:
            status, generated, n = _feed(devices_cfg, job, chain)
        except BaseException as exc:
            chain.abort(f"{type(exc).__name__}: {exc}")
            raise
        report = stop_report_path(work, job.run_number)
        problems = json.loads(report.read_text()) if report.exists() else []
        if problems:
            mark_damaged_input(recorded, problems)
        mark_input_status(recorded, Path(job.files[-1]))
        inputs = [Path(p) for p in job.files]
        linked = link_raw(recorded, [p for p in inputs if _readable(p)], final_dir=out_dir) \
            if job.raw == "link" else {}
        final = out_dir / recorded.name
        publish(recorded, final)
        with open_run(final) as f:
            status = str(f.attrs["exit_status"])
        return {"input": job.name, "file": str(final.resolve()), "run_number": job.run_number, "triggers": n,
                "generated": generated, "exit_status": status, "stopped_at": problems, "raw_linked_segments": linked,
                "worker": _worker_name(), "seconds": round(time.monotonic() - t0, 3),
                "cpu_s": round(time.thread_time() - cpu0, 3)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
        heap.release_free_memory()  # a worker lives on between tasks


def _worker_name() -> str | None:
    w = numba_cache.current_worker()
    return str(w.name) if w is not None else None


def finished(job: RunJob) -> dict[str, Any] | None:
    """The summary of ``job``'s output if a previous attempt published it already (same inputs and
    lineage kind, closed), else None."""
    final = run_file_path(job.out_dir, job.run_number)
    if not final.exists():
        return None
    try:
        with open_run(final) as f:
            lineage = json.loads(str(f.attrs["lineage"]))
            status = str(f.attrs["exit_status"])
            n = int(f["triggers"].shape[0])
            generated = int(f.attrs["triggers_generated"])
    except Exception:  # noqa: BLE001 - not ours, or damaged: the publish below refuses it by name
        return None
    if lineage.get("inputs") != job.lineage.get("inputs") or lineage.get("kind") != job.lineage.get("kind") \
            or status == "running":
        return None
    damage = lineage.get("input_damage", [])
    return {"input": job.name, "file": str(final.resolve()), "run_number": job.run_number, "triggers": n,
            "generated": generated, "exit_status": status, "stopped_at": [{"reason": d} for d in damage],
            "raw_linked_segments": {}, "worker": _worker_name(), "retried_after_publish": True, "cpu_s": 0.0}


def remove_leftovers(out_dir: str | Path, numbers: list[int]) -> None:
    """Working directories of attempts whose worker died (``.reprocess-NNNNNN-*`` of these numbers)."""
    for number in numbers:
        for p in Path(out_dir).glob(f".reprocess-{number:06d}-*"):
            shutil.rmtree(p, ignore_errors=True)


def _readable(path: Path) -> bool:
    try:
        with open_run(path) as f:
            return "triggers" in f
    except Exception:  # noqa: BLE001 - an unreadable input has no rows to link
        return False


def _feed(cfg: config_mod.Config, job: RunJob, chain: StageChain) -> tuple[str, int, int]:
    """Records and pulses from the replay devices through the chain, as the reader and beam receiver send them."""
    params = RunParameters(run_number=job.run_number, seed=0, rate_boost=1.0, speed=MAX_SPEED, start_time_ns=0)
    digitizer, beam = ReplayDigitizer(), ReplayBeam()
    digitizer.configure(cfg, params)
    try:
        beam.configure(cfg, params)  # after the digitizer: it creates the gate the beam reads
        try:
            digitizer.start()
            beam.start()
            n = 0
            while not digitizer.exhausted:
                batch = digitizer.fetch(BATCH, 0.0)
                _drain(beam, chain)  # every pulse the gate allows: up to just past the next pulse after the batch
                chain.records(batch)
                n += len(batch)
            generated = digitizer.stop()
            beam.stop()
            _drain(beam, chain)
        finally:
            beam.close()
    finally:
        digitizer.close()
    return chain.close(generated), generated, n


def _drain(beam: ReplayBeam, chain: StageChain) -> None:
    while True:
        pulses, missed = beam.fetch(BATCH, 0.0)
        chain.beam(pulses, missed)
        if len(pulses) == 0:
            return
