"""Replay of recorded runs: a digitizer and a beam backend that read run files.

:class:`ReplayDigitizer` and :class:`ReplayBeam` implement the protocols of
:mod:`daq.hardware.protocols`, so a recorded run goes through the very same reader, beam receiver,
builder, veto, cuts and recorder as a live one (``sevens replay`` drives them). They read
``[replay] files`` (a run file and its sub-run files, in order) chunk by chunk, through
:mod:`daq.replay.inputs`: records from ``triggers``, ``raw/csi``, ``raw/veto`` (and ``truth/*``
if present), pulses from ``beam``. Trigger ids and times are the recorded ones.

Pacing: a record is due ``(t - t_first) / speed`` of wall time after ``start()``, where
``t_first`` is the first recorded trigger time (pulses use the same reference), so speed 1
replays at the recorded rate; ``speed >= MAX_SPEED`` does not pace at all and the lossless
links' backpressure sets the rate. The device never drops a record.

Accounting: losses recorded in the input (``losses`` rows with a trigger id) are declared
again as the replay passes them, so ``generated = recorded + lost`` still holds. A file
that ends early (unreadable chunk, inconsistent rows, datasets of different lengths: see
:class:`~daq.replay.inputs.RecordSource`) has its remaining trigger ids declared lost as
``replay: input unreadable``; the replay goes on with the next sub-run file. A raw chunk that
fails its checksum is skipped: its records are declared lost with the reason ``bad checksum:
raw/csi rows A-B`` and the file goes on. Every stop and skip is written to
:func:`~daq.replay.inputs.stop_report_path` for ``sevens replay``.

Beam gate: the beam may deliver pulses of file k only up to ``gate[k]``, a recorded time the
digitizer raises as it reads (to just past the next pulse after the records it has read),
sets to "all" when file k ended cleanly, and to just past its last good record when it did
not. So the beam never runs far ahead of the records (the builder holds few pulses, also at
``--speed max``) and a damaged file's exposure stops where its records stop.
"""

from __future__ import annotations

import bisect
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from daq import dtypes
from daq.hardware.protocols import LossRecord, RecordBatch, RunParameters
from daq.replay.inputs import (
    ALL,
    NONE,
    Block,
    Gate,
    RecordSource,
    first_trigger_time,
    gate_path,
    ids_spanned,
    input_losses,
    not_replayed,
    read_rows,
    scan_inputs,
    stop_report_path,
)
from daq.runfile import RunFileError, open_run
from daq.runfile.tables import by_name

log = logging.getLogger(__name__)

MAX_SPEED = 1e9  # speed at or above this: no pacing ("--speed max")
BEAM_BLOCK = 4096  # beam rows read at once


class _Pace:
    """Recorded time due now: ``t_first + (wall time since start) * speed``."""

    def __init__(self, speed: float, t_first: int, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.speed, self.t_first, self.clock, self.sleep = speed, t_first, clock, sleep
        self.t0: float | None = None

    def due(self) -> int:
        if self.t0 is None:
            return NONE
        if self.speed >= MAX_SPEED:
            return ALL
        return self.t_first + int((self.clock() - self.t0) * self.speed * 1e9)

    def wait_for(self, t_ns: int, deadline: float) -> None:
        """Sleep until ``t_ns`` is due or ``deadline`` (clock time) passes."""
        while self.t0 is not None and self.due() < t_ns and self.clock() < deadline:
            wait = (t_ns - self.due()) / 1e9 / self.speed
            self.sleep(max(1e-5, min(wait, deadline - self.clock(), 0.05)))


def _files(cfg: object) -> list[Path]:
    files = [Path(p) for p in cfg.replay.files]  # type: ignore[attr-defined]
    if not files:
        raise RunFileError("digitizer.backend / beam.backend = 'replay' needs [replay] files (use `sevens replay`)")
    return files


def recorded_start_calibration(path: Path) -> dict | None:
    """The SPE calibration the recorded run started from (run-file attribute ``spe_calibration``), None
    if it started from the config's initial values (or was recorded before the attribute existed)."""
    with open_run(path) as f:
        text = f.attrs.get("spe_calibration")
    if text is None:
        return None
    try:
        return json.loads(text).get("start")
    except (ValueError, AttributeError) as exc:
        raise RunFileError(f"{path}: attribute spe_calibration is not the JSON the recorder writes: {exc}") from None


class ReplayDigitizer:
    """Records of recorded run files, delivered like a digitizer delivers them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 ) -> None:
        self._clock, self._sleep = clock, sleep
        self._source: RecordSource | None = None
        self._running = False
        self._done = True

    @property
    def exhausted(self) -> bool:
        """True once the last record (and the last input loss) has been delivered."""
        return self._done

    def configure(self, cfg: object, params: RunParameters) -> None:
        """Open the inputs (checking that they hold raw records) and the beam gate."""
        files = _files(cfg)
        infos = scan_inputs(files)
        if infos[0].error:
            raise RunFileError(infos[0].error)
        self._n_samples = n_samples = cfg.digitizer.n_samples  # type: ignore[attr-defined]
        for info in infos:
            if info.error is None and info.n_samples != n_samples:
                raise RunFileError(f"{info.path}: raw records of {info.n_samples} samples, the config says "
                                   f"{n_samples} (digitizer.record_length_ns, sample_rate_hz)")
        losses, _, self._generated_input = input_losses(infos)
        self.run_meta = {"spe_calibration": recorded_start_calibration(files[0])}
        self._all_losses = losses
        self._losses: deque[LossRecord] = deque(losses)
        self._pace = _Pace(params.speed, first_trigger_time(files[0]), self._clock, self._sleep)
        run_dir = cfg.run.directory  # type: ignore[attr-defined]
        self._report = stop_report_path(run_dir, params.run_number)
        self._margin = int(1.5e9 / cfg.beam.rep_rate_hz)  # type: ignore[attr-defined]  # just past the next pulse
        self._gate = Gate(gate_path(run_dir, params.run_number), len(files), create=True)
        self._gate_value = np.full(len(files), NONE, np.int64)
        self._file_last = np.full(len(files), NONE, np.int64)
        block = cfg.run.batch_max_triggers  # type: ignore[attr-defined]
        self._source = RecordSource(files, on_file_end=self._file_end, block_rows=block, on_skip=self._skipped)
        self._skip_end = 0  # trigger ids below this include every skipped record
        self._block: Block | None = None
        self._pos = 0
        self._end = 0  # trigger ids 0 .. _end-1 are delivered (as records or losses)
        self._last_time = NONE  # recorded time of the last record delivered
        self._gap_from: int | None = 0  # first id not yet replayed after a gap (a file that ended early)
        self._running, self._done = False, False

    def _set_gate(self, k: int, value: int) -> None:
        self._gate_value[k] = value
        self._gate.set(k, value)

    def _file_end(self, k: int, clean: bool) -> None:
        assert self._source is not None
        self._set_gate(k, ALL if clean else (self._file_last[k] + self._margin if self._file_last[k] != NONE
                                             else NONE))
        if not clean:
            gap = max(self._source.last_id + 1, self._end)
            self._gap_from = gap if self._gap_from is None else min(self._gap_from, gap)
            self._report.write_text(json.dumps(self._source.problems))

    def _skipped(self, k: int, losses: list[LossRecord]) -> None:
        """Records of a damaged raw chunk: declared lost (in trigger-id order) as the replay passes them."""
        assert self._source is not None
        for loss in losses:
            bisect.insort(self._losses, loss, key=lambda r: r.first_trigger_id)
            self._skip_end = max(self._skip_end, loss.first_trigger_id + loss.count)
        self._all_losses = [*self._all_losses, *losses]
        self._report.write_text(json.dumps(self._source.problems))

    def start(self) -> None:
        """Arm: the first record is due now."""
        if self._source is None:
            raise RuntimeError("ReplayDigitizer.start: configure() first")
        self._pace.t0 = self._clock()
        self._running = True

    def _next_block(self) -> bool:
        assert self._source is not None
        while self._block is None or self._pos >= len(self._block.triggers):
            block = self._source.next_block()
            if block is None:
                self._block = None
                return False
            self._block, self._pos = block, 0
            self._file_last[block.file] = block.triggers["time"][-1]
            self._set_gate(block.file, int(block.triggers["time"][-1]) + self._margin)
        return True

    def _declare(self, upto: int, gap_upto: int | None = None) -> list[LossRecord]:
        """Input losses with ids below ``upto``, and the ids of a damaged file's unread rows below
        ``gap_upto`` (default ``upto``)."""
        out = []
        gap_upto = upto if gap_upto is None else gap_upto
        if self._gap_from is not None and gap_upto >= self._gap_from:
            out += not_replayed(self._gap_from, gap_upto, self._all_losses)
            self._gap_from = None
        while self._losses and self._losses[0].first_trigger_id < upto:
            out.append(self._losses.popleft())
        for loss in out:
            self._end = max(self._end, loss.first_trigger_id + loss.count)
        return out

    def fetch(self, max_records: int, timeout_s: float) -> RecordBatch:
        """Up to ``max_records`` due records; waits at most ``timeout_s`` for the first."""
        if self._source is None:
            raise RuntimeError("ReplayDigitizer.fetch: configure() first")
        parts: list[RecordBatch] = []
        deadline = self._clock() + max(timeout_s, 0.0)
        while self._running and not self._done and max_records > 0:
            if not self._next_block():
                parts.append(self._finish())
                break
            assert self._block is not None
            times = self._block.triggers["time"][self._pos:self._pos + max_records]
            n = int(np.searchsorted(times, self._pace.due(), side="right"))
            if n == 0 and not parts:
                self._pace.wait_for(int(times[0]), deadline)
                n = int(np.searchsorted(times, self._pace.due(), side="right"))
            if n == 0:
                break
            parts.append(self._batch(n))
            max_records -= n
        if parts and not self._done and not self._next_block():  # the last records carry the last losses
            parts.append(self._finish())
        return parts[0] if len(parts) == 1 else self._join(parts)

    def _finish(self) -> RecordBatch:
        """The last batch: the input's remaining losses (and a damaged file's unread ids)."""
        assert self._source is not None
        end = max(self._generated_input, self._end, self._skip_end)
        stops = [p for p in self._source.problems if not p.get("skipped")]
        if self._gap_from is not None and stops:  # the input does not say how far it went
            stop = stops[-1]
            end = max(end, ids_spanned(self._gap_from, stop["rows_not_replayed"] or 0, self._all_losses),
                      stop.get("ids_end") or 0)
        batch = self._join([])
        batch.losses = self._declare(end)
        batch.losses += self._declare(ALL)  # input losses past the last record (a run cut short lost them too)
        self._done = True
        return batch

    def _join(self, parts: list[RecordBatch]) -> RecordBatch:
        if not parts:
            return RecordBatch(triggers=np.zeros(0, dtypes.TRIGGER),
                               waveforms={ch: np.zeros((0, self._n_samples), np.int8) for ch in ("csi", "veto")})
        return RecordBatch(
            triggers=np.concatenate([p.triggers for p in parts]),
            waveforms={ch: np.concatenate([p.waveforms[ch] for p in parts]) for ch in ("csi", "veto")},
            truth_events=np.concatenate([p.truth_events for p in parts]),
            truth_windows=np.concatenate([p.truth_windows for p in parts]),
            losses=[loss for p in parts for loss in p.losses])

    def _batch(self, n: int) -> RecordBatch:
        b, lo = self._block, self._pos
        assert b is not None
        self._pos += n
        trig = b.triggers[lo:lo + n]
        first, last = int(trig["trigger_id"][0]), int(trig["trigger_id"][-1])
        # the input's losses among and before these records travel with them, so a loss reaches the
        # DQ no later than the record after it (daq.stages.dq counts it by trigger id); a damaged
        # file's unread ids lie before these records
        losses = self._declare(last + 1, gap_upto=first)
        self._end = max(self._end, last + 1)
        self._last_time = int(trig["time"][-1])
        ev = b.truth_events[(b.truth_events["trigger_id"] >= first) & (b.truth_events["trigger_id"] <= last)]
        win = b.truth_windows[(b.truth_windows["trigger_id"] >= first) & (b.truth_windows["trigger_id"] <= last)]
        return RecordBatch(triggers=trig, waveforms={"csi": b.csi[lo:lo + n], "veto": b.veto[lo:lo + n]},
                           truth_events=ev, truth_windows=win, losses=losses)

    def stop(self) -> int:
        """Disarm: no more records. Returns the trigger ids the replay covered (records + losses)."""
        if self._running and not self._done and self._block is not None and self._source is not None:
            k = self._block.file  # a stop before the end: the beam of this file stops here too
            self._set_gate(k, min(int(self._gate_value[k]), self._last_time + self._margin))
        self._running = False
        return self._end

    def close(self) -> None:
        """Close the input files."""
        self._running = False
        if self._source is not None:
            self._source.close()
            self._gate.close()
            self._source = None


class ReplayBeam:
    """Beam pulses of recorded run files, delivered no further than the replay digitizer allows."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 ) -> None:
        self._clock, self._sleep = clock, sleep
        self._files: list[Path] = []

    def configure(self, cfg: object, params: RunParameters) -> None:
        """Open the inputs' beam tables and the gate the replay digitizer writes."""
        self._files = _files(cfg)
        infos = scan_inputs(self._files)
        self._missed = [input_losses([info])[1] for info in infos]
        self._unusable = [info.error is not None for info in infos]  # the digitizer reports them
        self._pace = _Pace(params.speed, first_trigger_time(self._files[0]), self._clock, self._sleep)
        self._gate = Gate(gate_path(cfg.run.directory, params.run_number), len(self._files))  # type: ignore[attr-defined]
        self._k = -1
        self._f = None
        self._running = False
        self._open(0)

    def _open(self, k: int) -> None:
        if self._f is not None:
            self._f.close()
        self._k, self._row, self._buf, self._f = k, 0, np.zeros(0, dtypes.BEAM_PULSE), None
        try:
            self._f = open_run(self._files[k]) if k < len(self._files) and not self._unusable[k] else None
        except RunFileError as exc:  # the digitizer reports it; this file adds no pulses
            log.warning("replay: %s", exc)
        self._rows = self._f["beam"].shape[0] if self._f is not None and "beam" in self._f else 0

    def start(self) -> None:
        """Start delivering pulses: the first recorded trigger time is due now."""
        self._pace.t0 = self._clock()
        self._running = True

    def _fill(self) -> None:
        if len(self._buf) == 0 and self._row < self._rows and self._f is not None:
            rows, err = read_rows(self._f["beam"], self._row, min(self._rows, self._row + BEAM_BLOCK))
            self._buf = by_name(rows, dtypes.BEAM_PULSE)  # by field name: a file's own field order is its own
            self._row += len(rows)
            if err:
                log.warning("replay: %s: %s; no more pulses from this file", self._files[self._k], err)
                self._rows = self._row

    def _take(self, max_pulses: int) -> tuple[np.ndarray, int]:
        gate = self._gate.get()
        missed = 0
        while self._k < len(self._files):
            if self._row == 0 and len(self._buf) == 0:
                missed, self._missed[self._k] = missed + self._missed[self._k], 0
            self._fill()
            limit = min(int(gate[self._k]), self._pace.due() if self._running else ALL)
            allowed = self._buf["time"][:max_pulses] <= limit
            n = len(allowed) if allowed.all() else int(np.argmin(allowed))  # leading pulses within the limit
            if n:
                out, self._buf = self._buf[:n], self._buf[n:]
                return out, missed
            file_done = len(self._buf) == 0 and self._row >= self._rows
            digitizer_moved_on = self._k + 1 < len(self._files) and gate[self._k + 1] != NONE
            if digitizer_moved_on and (file_done or self._buf["time"][0] > gate[self._k]):
                self._open(self._k + 1)  # pulses of file k past its gate belong to records never replayed
                continue
            break
        return np.zeros(0, dtypes.BEAM_PULSE), missed

    def fetch(self, max_pulses: int, timeout_s: float) -> tuple[np.ndarray, int]:
        """(pulses due and allowed by the gate, up to ``max_pulses``; pulses the input missed)."""
        deadline = self._clock() + max(timeout_s, 0.0)
        missed = 0
        while True:
            pulses, m = self._take(max_pulses)
            missed += m
            if len(pulses) or self._clock() >= deadline:
                return pulses, missed
            self._sleep(min(0.002, max(deadline - self._clock(), 0.0)))

    def stop(self) -> None:
        """Stop pacing: what the gate allows can still be fetched (the receiver drains it)."""
        self._running = False

    def close(self) -> None:
        """Close the input files and remove the gate (the beam stops after the digitizer)."""
        if self._f is not None:
            self._f.close()
            self._f = None
        if self._files:
            self._gate.close(unlink=True)
