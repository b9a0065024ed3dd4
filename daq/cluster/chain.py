"""The live pipeline's stages in one process: builder, veto trigger, cut pipeline and recorder, batch by batch.

What the processes of :mod:`daq.processes` do around their stage objects, without the sockets in
between: :func:`~daq.stages.building.build_batch` with a :class:`~daq.stages.building.FeatureExtraction`
(the running SPE calibration), :class:`~daq.stages.veto.VetoHits`,
:class:`~daq.stages.selection.Selection` (cut bits, selected events, DQ) and a
:class:`~daq.runfile.RunFileWriter` with the recorder's tables and stop record
(:func:`daq.stages.accounting.final_attrs`). The stage objects are the implementation; this module
only passes their arrays on in the order the sockets would, so a run reprocessed here gives the
features, peaks, veto hits, cut bits, selected events and DQ rows of ``sevens replay`` bit for bit
(features do not depend on batching: the SPE gain changes between fixed blocks of trigger ids).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

import daq
from daq import dtypes
from daq.config import Config
from daq.hardware.protocols import RecordBatch
from daq.processes.reader import concat
from daq.processes.recorder import TABLE_ARRAYS
from daq.runfile import RunFileWriter
from daq.stages import accounting
from daq.stages.building import FeatureExtraction, build_batch, hold_pulses, prune_pulses
from daq.stages.calibration import SpeCalibration
from daq.stages.selection import Selection
from daq.stages.veto import VetoHits


def empty(name: str) -> np.ndarray:
    return np.zeros(0, dtypes.LOSS if name == "losses" else {
        "beam": dtypes.BEAM_PULSE, "triggers": dtypes.TRIGGER, "features": dtypes.FEATURES, "peaks": dtypes.PEAK,
        "veto_hits": dtypes.VETO_HIT, "selected": dtypes.SELECTED, "truth_events": dtypes.TRUTH_EVENT,
        "truth_windows": dtypes.TRUTH_WINDOW}[name])


class StageChain:
    """One run through the builder, veto and cut stages into a run file (the recorder's tables).

    :meth:`records` takes the reader's batches (records and the losses they declare) and
    :meth:`beam` the beam receiver's pulses; :meth:`close` ends the run like the end-of-run
    messages do (the last DQ interval, the trigger accounting, the stop record)."""

    def __init__(self, cfg: Config, path: Path, run_number: int, attrs: dict[str, Any],
                 lineage: dict[str, Any], raw_channels: tuple[str, ...] = (),
                 start_calibration: SpeCalibration | None = None) -> None:
        self.cfg = cfg
        self.window_ns = cfg.beam.match_window_ns
        self.start_calibration = start_calibration  # the run's recorded start, as the live builder's
        self.extraction = FeatureExtraction(cfg, start_calibration)
        self.veto = VetoHits(cfg)
        self.selection = Selection(cfg)
        self.pulses = np.zeros(0, dtypes.BEAM_PULSE)  # what the builder still holds for matching
        self.beam_out: list[np.ndarray] = []  # pulses that travel with the next event message
        self.loss_out: list[np.ndarray] = []
        self.stats = {"unmatched_triggers": 0, "beam_pulses": 0, "matched_pulses": 0, "beam_missed": 0}
        self.recorded, self.lost, self.pot_total, self.beam_pulses = 0, 0, 0.0, 0
        self.ids: list[np.ndarray] = []
        self.pulse_ids: list[np.ndarray] = []
        self.declared: list[np.ndarray] = [np.zeros(0, dtypes.LOSS)]
        self.writer = RunFileWriter(
            path, run_number=run_number, config_text=cfg.text, config_sha256=cfg.sha256,
            software_version=daq.__version__, n_samples=cfg.digitizer.n_samples, raw_channels=raw_channels,
            compression=cfg.recorder.compression, chunk_records=cfg.recorder.chunk_records,
            attrs={**attrs, "lineage": json.dumps({"config_sha256": cfg.sha256, "code_version": daq.__version__,
                                                   **lineage})})

    def warm(self) -> None:
        """Compile (or load from the numba cache) the stage kernels now."""
        self.extraction.warm()
        self.veto.warm()

    def beam(self, pulses: np.ndarray, missed: int) -> None:
        """Pulses from the beam receiver (sorted by time), and how many the input missed."""
        if missed:
            self.loss_out.append(np.array([(-1, missed, 0, b"beam", b"beam pulse missed")], dtypes.LOSS))
            self.stats["beam_missed"] += missed
        if len(pulses):
            self.stats["beam_pulses"] += len(pulses)
            self.beam_out.append(pulses)
            self.pulses = hold_pulses(self.pulses, pulses)

    def records(self, batch: RecordBatch) -> None:
        """One reader batch, built once the beam up to its last record is in (the caller's order)."""
        a = concat([batch])
        if len(a["triggers"]) == 0:  # only losses: they travel with the next event message
            if len(a["losses"]):
                self.loss_out.append(a["losses"])
            return
        triggers = np.array(a["triggers"])
        feats, peaks = build_batch(triggers, a["csi"], self.pulses, self.window_ns, self.extraction)
        self.stats["unmatched_triggers"] += int(np.count_nonzero(triggers["pulse_id"] < 0))
        self.stats["matched_pulses"] += int(np.count_nonzero(triggers["pulse_id"] >= 0))
        hits = self.veto(a["veto"], triggers)
        self._select({"triggers": triggers, "features": feats, "peaks": peaks, "veto_hits": hits,
                      "truth_events": a["truth_events"], "truth_windows": a["truth_windows"],
                      "losses": np.concatenate([a["losses"], *self.loss_out])},
                     {"csi": a["csi"], "veto": a["veto"]})
        self.pulses = prune_pulses(self.pulses, triggers["time"][-1], self.window_ns)

    def _select(self, arrays: dict[str, np.ndarray], raw: dict[str, np.ndarray]) -> None:
        arrays["beam"] = np.concatenate(self.beam_out) if self.beam_out else empty("beam")
        self.beam_out, self.loss_out = [], []
        arrays = {name: arrays.get(name, empty(name)) for name in TABLE_ARRAYS}
        selected, rows = self.selection(arrays["triggers"], arrays["features"], arrays["veto_hits"],
                                        arrays["peaks"], arrays["beam"], arrays["losses"])
        arrays["selected"] = selected
        self._write(arrays, raw)
        self.writer.append("dq", rows)

    def _write(self, arrays: dict[str, np.ndarray], raw: dict[str, np.ndarray]) -> None:
        for key, name in TABLE_ARRAYS.items():
            self.writer.append(name, arrays[key])
        for channel in self.writer.raw_channels:
            self.writer.append_raw(channel, raw[channel])
        losses = arrays["losses"]
        if len(losses):
            self.declared.append(np.array(losses))
        self.lost += int(losses["count"][losses["trigger_id"] >= 0].sum())
        self.recorded += len(arrays["triggers"])
        self.ids.append(np.array(arrays["triggers"]["trigger_id"]))
        self.pulse_ids.append(np.array(arrays["beam"]["pulse_id"]))
        self.beam_pulses += len(arrays["beam"])
        self.pot_total += float(arrays["beam"]["pot"].sum())

    def close(self, generated: int) -> str:
        """End of run: pulses after the last record, the last DQ interval, the accounting and the
        stop record. Returns the exit status."""
        if self.beam_out or self.loss_out:
            self._select({"losses": np.concatenate(self.loss_out) if self.loss_out else empty("losses")}, {})
        self.writer.append("dq", self.selection.finish())
        meta = {"generated": generated, "unmatched_triggers": self.stats["unmatched_triggers"],
                "beam_missed": self.stats["beam_missed"], "cut_fractions": self.selection.cut_fractions(),
                "spe_calibration": {"start": None if self.start_calibration is None else
                                    self.start_calibration.to_dict(), "end": self.extraction.calibration.to_dict()}}
        acc = accounting.close(generated, self.ids, np.concatenate(self.declared), [])
        beam = accounting.close_beam(self.pulse_ids)
        for rows in (acc.missing_rows, beam.missing_rows):
            self.writer.append("losses", rows)
        self.recorded, self.lost, self.beam_pulses = acc.recorded, acc.lost, beam.pulses
        meta["beam_pulses_missing"] = beam.missing
        problems = acc.problems()
        if beam.duplicated:
            problems.append(f"{beam.duplicated} beam pulses recorded more than once")
        status = f"inconsistent: {'; '.join(problems)}" if problems else "ok"
        self.writer.close(status, accounting.final_attrs(self.recorded, self.lost, self.beam_pulses, self.pot_total,
                                                          self.cfg.beam.proton_energy_gev, meta))
        return status

    def abort(self, reason: str) -> None:
        """Close the file of a run that failed (it is never published)."""
        if not self.writer.closed:
            try:
                self.writer.close(f"aborted: {reason}", {})
            except Exception:  # noqa: BLE001 - the file is deleted by the caller anyway
                pass
