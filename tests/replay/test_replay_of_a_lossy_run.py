"""A run that lost most of its triggers (a tiny digitizer buffer, far too fast a trigger) replays bit for bit.

Two faults showed only with losses: the DQ rows counted a loss in the interval of the message
that declared it (the live digitizer declares it with the records before it, the replay with
those after it), and a stop handled inside a blocked send let the beam receiver's last pulses
overtake a waiting message (the builder then matched records without their pulses and the file
got those pulses at its end).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from daq import config
from tests.replay.replay_helpers import TABLES, last_json, sevens


def test_a_run_with_heavy_losses_replays_every_table_bit_for_bit(tmp_path: Path) -> None:
    cfg = config.with_ipc_endpoints(config.load(), tmp_path / "ipc", digitizer={"buffer_records": 20},
                                    supervisor={"heartbeat_timeout_s": 10.0})
    proc = sevens("daq", "--simulate", "--config", cfg.path, "--run-dir", str(tmp_path / "live"), "--duration",
                  "6", "--speed", "200", "--rate-boost", "20000", "--seed", "11", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    live = last_json(proc)
    assert live["exit_status"] == "ok" and live["triggers"]["lost"] > live["triggers"]["recorded"] > 0
    proc = sevens("replay", live["file"], "--out", str(tmp_path / "replay"), "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    replay = last_json(proc)
    assert replay["exit_status"] == "ok"
    with h5py.File(live["file"], "r") as a, h5py.File(replay["file"], "r") as b:
        for name in [*TABLES, "raw/csi", "raw/veto"]:
            x, y = a[name][:], b[name][:]
            if name == "losses":  # the same losses, declared again (when: the replay's wall time)
                x, y = (np.stack([r[f] for f in ("trigger_id", "count")]) for r in (x, y))
                assert np.array_equal(a[name]["reason"], b[name]["reason"])
            assert len(x) > 0, name
            assert x.tobytes() == y.tobytes(), f"/{name} differs"
        assert int(a["dq"]["losses"].sum()) == int(a.attrs["triggers_lost"]) == live["triggers"]["lost"]
        assert np.all(np.diff(a["beam"]["pulse_id"]) > 0)  # the live run's pulses in order (its stop came under
        assert np.all(np.diff(b["beam"]["pulse_id"]) == 1)  # backpressure); the replay's: every pulse, in order
        assert b.attrs["triggers_lost"] == a.attrs["triggers_lost"]
