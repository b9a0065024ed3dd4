"""Recorder: writes the run file, and closes the trigger accounting of the run.

At the end of run it accounts for every trigger id over all the run's files (a recorder
restarted during the run continues in a sub-run file ``run_NNNNNN_subKKK.h5``): recorded,
declared lost, or found missing — attributed to the run's process restarts, or else written
to ``/losses`` as ``unaccounted`` and named in the exit status, so a miscount is never
silent (:mod:`daq.stages.accounting`).

A full disk ends the recording before it can damage the file: at the start and at every flush
the recorder checks that the run directory keeps ``recorder.min_free_mb`` free, and otherwise
closes the file (exit status ``error: ... disk full ...``) and reports the error, which stops the
run. A write that fails anyway (a quota, a file-size limit, a disk filled by someone else) also
ends the recording with an error report; the file then reads up to its last good flush.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import zmq

import daq
from daq import dtypes
from daq.config import Config
from daq.hardware.protocols import RunParameters
from daq.ops.heap import release_free_memory
from daq.processes.node import Node
from daq.runfile import (
    CALIBRATION_RECORD,
    RunFileError,
    RunFileWriter,
    check_free_space,
    open_run,
    raw_codecs,
    run_file_path,
    run_files,
)
from daq.stages import accounting
from daq.wire import transport
from daq.wire.envelope import Message

log = logging.getLogger(__name__)

TABLE_ARRAYS = {
    "beam": "beam",
    "triggers": "triggers",
    "features": "features",
    "peaks": "peaks",
    "veto_hits": "veto_hits",
    "losses": "losses",
    "selected": "selected",
    "truth_events": "truth/events",
    "truth_windows": "truth/windows",
}


class Recorder(Node):
    name = "recorder"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.selected = transport.pull(self.ctx, cfg.endpoints.selected, cfg.endpoints.lossless_hwm, "selected",
                                       cfg.endpoints.max_data_bytes)
        self.writer: RunFileWriter | None = None
        self._zero()

    @staticmethod
    def warm_kernels(cfg: Config) -> None:
        raw_codecs.warm(cfg.recorder.compression)  # the raw-chunk encoder

    def _zero(self) -> None:
        self.recorded = 0
        self.lost = 0
        self.pot_total = 0.0
        self.beam_pulses = 0
        self.ids: list[np.ndarray] = []  # trigger ids of every row written to this file
        self.pulse_ids: list[np.ndarray] = []
        self.foreign = 0  # triggers of messages from another run, refused
        self.declared: list[np.ndarray] = [np.zeros(0, dtypes.LOSS)]  # losses written to this file
        self.restarts: list[dict] = []
        self.alarm_log: list[dict] = []  # the supervisor's alarm log, written into the file at its close

    def inputs(self) -> list[zmq.Socket]:
        return [self.selected]

    def input_stream(self, sock: zmq.Socket) -> str | None:
        return "selected"

    def on_start(self, params: RunParameters, meta: dict[str, Any]) -> None:
        sub_run = int(meta.get("sub_run", 0))
        path = run_file_path(meta.get("run_dir", self.cfg.run.directory), params.run_number, sub_run)
        raw = tuple(c for c, on in (("csi", self.cfg.recorder.raw_csi), ("veto", self.cfg.recorder.raw_veto)) if on)
        self._zero()
        self.restarts = list(meta.get("restarts", []))
        self.alarm_log = list(meta.get("alarms", []))
        try:
            self.writer = RunFileWriter(
                path,
                run_number=params.run_number,
                config_text=self.cfg.text,
                config_sha256=self.cfg.sha256,
                software_version=daq.__version__,
                n_samples=self.cfg.digitizer.n_samples,
                raw_channels=raw,
                compression=self.cfg.recorder.compression,
                chunk_records=self.cfg.recorder.chunk_records,
                attrs={"seed": params.seed, "rate_boost": params.rate_boost, "speed": params.speed,
                       "config_path": self.cfg.path, "backend": self.cfg.digitizer.backend,
                       "sub_run": sub_run,
                       "lineage": json.dumps({"config_sha256": self.cfg.sha256, "code_version": daq.__version__,
                                              **meta.get("lineage", {})})},
            )
            check_free_space(path.parent, self._reserve)
        except RunFileError as exc:
            self._fail(str(exc))
            return
        self.extra["file"] = str(path)
        self.report("file_open", file=str(path))

    @property
    def _reserve(self) -> int:
        return int(self.cfg.recorder.min_free_mb * 1e6)

    def _fail(self, reason: str) -> None:
        """End the recording on a write error: close the file as far as the disk allows, tell the supervisor."""
        log.error("recorder: %s", reason)
        self.extra["error"] = reason
        if self.writer is not None:
            try:
                self.writer.close(f"error: {reason}", self._final_attrs({}))
            except RunFileError as exc:  # nothing more can be written; it reads up to its last good flush
                log.error("recorder: %s closed without its stop record: %s", self.writer.path, exc)
        self.report("error", reason=reason)
        self.writer = None
        self.state = "idle"

    def on_message(self, sock: zmq.Socket, msg: Message) -> None:
        if self.writer is None:
            if msg.kind == "data":
                self.counters["losses"] += len(msg.arrays.get("triggers", ()))
            return
        if self.params is not None and msg.run != self.params.run_number and msg.kind in ("data", "dq"):
            self._refuse_foreign(msg)
            return
        try:
            if msg.kind == "data":
                self._write(msg.arrays)
            elif msg.kind == "dq":
                self.writer.append("dq", msg.arrays["dq"])
            elif msg.kind == "eor":
                self._end_of_run(msg.meta)
        except RunFileError as exc:
            self._fail(str(exc))
        except (OSError, KeyError, ValueError) as exc:
            self._fail(f"writing {self.writer.path if self.writer else '?'}: {exc}")

    def _refuse_foreign(self, msg: Message) -> None:
        """A message of another run (a second DAQ on these sockets, a stale process): never written."""
        n = len(msg.arrays.get("triggers", ())) if msg.kind == "data" else 0
        self.foreign += max(n, 1)
        self.counters["malformed"] += 1
        log.error("recorder: %s message of run %d from %s refused during run %d", msg.kind, msg.run, msg.source,
                  self.params.run_number if self.params else -1)
        assert self.writer is not None
        reason = f"foreign: run {msg.run} {msg.kind} refused"
        self.writer.append("losses", np.array([accounting.loss_row(-1, max(n, 1), "recorder", reason)], dtypes.LOSS))

    def _write(self, arrays: dict[str, np.ndarray]) -> None:
        assert self.writer is not None
        n = len(arrays["triggers"])
        for key, name in TABLE_ARRAYS.items():
            self.writer.append(name, arrays[key])
        for channel in self.writer.raw_channels:
            if len(arrays[channel]) != n:  # a stage upstream runs with another recorder config
                raise RunFileError(f"{channel} waveforms of {len(arrays[channel])} of {n} triggers reached the "
                                   f"recorder: a process upstream runs with recorder.raw_{channel} off")
            self.writer.append_raw(channel, arrays[channel])
        losses = arrays["losses"]
        if len(losses):
            self.declared.append(np.array(losses))
        self.lost += int(losses["count"][losses["trigger_id"] >= 0].sum())
        self.recorded += n
        self.ids.append(np.array(arrays["triggers"]["trigger_id"]))
        self.pulse_ids.append(np.array(arrays["beam"]["pulse_id"]))
        self.beam_pulses += len(arrays["beam"])
        self.pot_total += float(arrays["beam"]["pot"].sum())
        self.counters["triggers_in"] += n
        self.counters["losses"] = self.lost
        self.extra["recorded"] = self.recorded

    def on_tick(self) -> None:
        w = self.writer
        if w is not None and w.flush_due(self.cfg.run.flush_interval_s):  # on a raw chunk boundary if it can
            try:
                w.flush()
                release_free_memory()  # freed chunk buffers would otherwise stay resident (fragmentation)
                check_free_space(w.path.parent, self._reserve)
            except (OSError, RunFileError) as exc:
                self._fail(str(exc))

    def _final_attrs(self, meta: dict[str, Any]) -> dict[str, Any]:
        return {**accounting.final_attrs(self.recorded, self.lost, self.beam_pulses, self.pot_total,
                                         self.cfg.beam.proton_energy_gev, meta, self.foreign, self.restarts),
                "alarms": json.dumps(self.alarm_log)}

    def on_note(self, meta: dict[str, Any]) -> None:
        if "restarts" in meta:
            self.restarts = list(meta["restarts"])
        if isinstance(meta.get("alarms"), list):
            self.alarm_log = list(meta["alarms"])

    def _earlier_files(self) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], float]:
        """Trigger ids, losses, beam pulse ids and POT of this run's earlier sub-run files."""
        assert self.writer is not None
        ids, losses, pulse_ids, pot = [], [], [], 0.0
        for path in run_files(self.writer.path):
            if path == self.writer.path:
                continue
            try:
                with open_run(path) as f:
                    ids.append(f["triggers"]["trigger_id"][:])
                    losses.append(f["losses"][:].astype(dtypes.LOSS))
                    pulse_ids.append(f["beam"]["pulse_id"][:])
                    pot += float(f["beam"]["pot"].sum())
            except (RunFileError, OSError, KeyError) as exc:
                log.error("recorder: earlier sub-run file %s unreadable (%s); its triggers count as lost", path, exc)
        return ids, losses, pulse_ids, pot

    def _account(self, generated: int, meta: dict[str, Any]) -> list[str]:
        """Close the accounting of triggers and beam pulses over every file of the run; write the
        losses found; return what makes the run not ``ok``."""
        assert self.writer is not None
        ids, earlier_losses, pulse_ids, pot = self._earlier_files()
        acc = accounting.close(generated, [*ids, *self.ids], np.concatenate([*earlier_losses, *self.declared]),
                               self.restarts)
        beam = accounting.close_beam([*pulse_ids, *self.pulse_ids])
        for rows in (acc.missing_rows, beam.missing_rows):
            if len(rows):
                self.writer.append("losses", rows)
        self.recorded, self.lost = acc.recorded, acc.lost
        self.pot_total += pot
        self.beam_pulses = beam.pulses
        meta["beam_pulses_missing"] = beam.missing
        problems = acc.problems()
        if beam.duplicated:
            problems.append(f"{beam.duplicated} beam pulses recorded more than once")
        if self.foreign:
            problems.append(f"{self.foreign} triggers of another run refused")
        return problems

    def _end_of_run(self, meta: dict[str, Any]) -> None:
        assert self.writer is not None
        generated = int(meta.get("generated", -1))
        meta = dict(meta)
        status = "ok"
        if generated >= 0:
            problems = self._account(generated, meta)
            if problems:
                status = f"inconsistent: {'; '.join(problems)}"
                log.error("recorder: %s", status)
        else:
            status = "inconsistent: the end of run did not say how many triggers were generated"
        path = self.writer.path
        self.writer.close(status, self._final_attrs(meta))  # a RunFileError here goes to _fail
        self.writer = None
        self._record_calibration(path, meta.get("spe_calibration"))
        summary = {"file": str(path), "generated": generated, "recorded": self.recorded, "lost": self.lost,
                   "exit_status": status, "restarts": len(self.restarts)}
        self.extra["last_run"] = summary
        self.report("run_done", **summary)
        self.state = "idle"

    def _record_calibration(self, path: Path, calibration: dict[str, Any] | None) -> None:
        """The run's end SPE calibration as the run directory's calibration record, where the next run's
        builder starts from it (daq.processes.builder); replaced atomically, never half written."""
        if not calibration or not calibration.get("end"):
            return
        record = path.parent / CALIBRATION_RECORD
        tmp = record.with_name(record.name + ".tmp")
        try:
            record.parent.mkdir(exist_ok=True)
            tmp.write_text(json.dumps({"run_number": self.params.run_number if self.params else -1,
                                       "file": path.name, "calibration": calibration["end"]}))
            tmp.replace(record)
        except OSError as exc:
            log.error("recorder: calibration record %s not written: %s", record, exc)

    def on_finish(self, meta: dict[str, Any]) -> None:
        if self.writer is not None:
            log.warning("recorder: finishing run %s from the supervisor's copy of the end of run",
                        self.params.run_number if self.params else "?")
            try:
                self._end_of_run(meta)
            except RunFileError as exc:
                self._fail(str(exc))

    def on_abort(self, reason: str) -> None:
        """Close the file of a run that cannot end normally. How many triggers were generated is
        not known here; the ids up to the last one recorded that are neither recorded nor declared
        lost are counted as lost (a lower bound), so the file says what it misses."""
        if self.writer is not None:
            path = self.writer.path
            meta: dict[str, Any] = {}
            try:
                seen = [int(ids.max()) for ids in self.ids if len(ids)]
                self._account(max(seen) + 1 if seen else 0, meta)
            except (RunFileError, OSError, ValueError) as exc:
                log.error("recorder: accounting of the aborted run failed: %s", exc)
            status = f"aborted: {reason}; {self.recorded} recorded, at least {self.lost} lost"
            try:
                self.writer.close(status, self._final_attrs(meta))
            except RunFileError as exc:
                log.error("recorder: %s closed without its stop record: %s", path, exc)
            self.writer = None
            self.report("run_done", file=str(path), generated=-1, recorded=self.recorded, lost=self.lost,
                        exit_status=status)

    def on_exit(self) -> None:
        if self.writer is not None:
            self.on_abort("recorder exited during the run")
