"""Valid envelopes with the wrong content, on every data stream of a running DAQ.

The envelope of these messages decodes; what is wrong is their content for the stream they
arrive on: a required array missing, a table of the wrong dtype or of two dimensions, waveform
rows that disagree with the triggers, records of the wrong length or sample type, feature rows
that are not two per trigger, a kind that never travels on a data stream (heartbeat, command,
reply, status), or another stream's name. Each must be rejected and counted as ``malformed`` by
its receiver before any processing code sees it: no crash, no handler error stopping the run, no
foreign trigger reaching the file, and the run's accounting closing with nothing lost.

Also sent, once per stream: a *correct* data message with no triggers at all (what a reader
sends when a fetch returns only losses). It is accepted (not counted as malformed) and must
not disturb the run either.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from daq.runfile import open_run, run_files
from tests.reliability.daqrun import PROCESS_NAMES, by_name, private_ipc_dir, reliability_config, remove
from tests.reliability.fuzzing import DATA_ENDPOINTS, Fuzzer, FuzzOutcome, fuzz_live_run
from tests.reliability.malformed import bad_payload, empty_batch

PER_ENDPOINT = 30


def fuzz(f: Fuzzer) -> None:
    for salt, endpoint in enumerate(DATA_ENDPOINTS):
        f.examples(endpoint, bad_payload(endpoint), PER_ENDPOINT, 100 + salt)


def empty_batches(f: Fuzzer) -> None:
    """After the counts are in: one correct, empty data message per stream (accepted, not malformed)."""
    for endpoint in DATA_ENDPOINTS:
        f.push(endpoint, empty_batch(endpoint))
        f.out.sent[endpoint] -= 1
        f.out.sent[f"{endpoint} (empty batch)"] += 1


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzOutcome]:
    ipc = private_ipc_dir()
    try:
        cfg = reliability_config(ipc)
        yield fuzz_live_run(cfg, tmp_path_factory.mktemp("payload-runs"), fuzz, FuzzOutcome.expected_malformed,
                            epilogue=empty_batches)
    finally:
        remove(ipc)


def test_bad_payloads_were_sent_to_every_data_stream(fuzzed: FuzzOutcome) -> None:
    for endpoint in DATA_ENDPOINTS:
        assert fuzzed.sent[endpoint] >= PER_ENDPOINT // 2, fuzzed.context()
        assert len(fuzzed.what[endpoint]) >= 4, fuzzed.context()  # several kinds of wrong
    assert not fuzzed.send_failures, fuzzed.context()


def assert_undisturbed(st: dict | None, before: dict, fuzzed: FuzzOutcome) -> None:
    assert st is not None, "the supervisor stopped answering\n" + fuzzed.context()
    assert st["state"] == "running", fuzzed.context()
    assert st["error"] is None, f"{st['error']}\n{fuzzed.context()}"
    assert not st.get("restarts"), f"{st['restarts']}\n{fuzzed.context()}"
    procs = by_name(st)
    for name in PROCESS_NAMES:
        assert procs[name]["alive"] and procs[name]["pid"] == by_name(before)[name]["pid"], (
            f"{name} died or was restarted\n{fuzzed.context()}")
        assert procs[name].get("errors", 0) == 0, f"{name} reported handler errors\n{fuzzed.context()}"


def test_no_process_crashed_errored_or_was_restarted(fuzzed: FuzzOutcome) -> None:
    assert_undisturbed(fuzzed.after, fuzzed.before, fuzzed)


def test_an_empty_batch_on_any_stream_is_harmless(fuzzed: FuzzOutcome) -> None:
    assert_undisturbed(fuzzed.final, fuzzed.before, fuzzed)
    assert not fuzzed.tracebacks, fuzzed.context()
    assert fuzzed.returncode == 0, fuzzed.context()


def test_every_bad_payload_is_counted_as_malformed_by_its_receiver(fuzzed: FuzzOutcome) -> None:
    assert fuzzed.cli is not None, "`sevens status --json` got no answer\n" + fuzzed.context()
    procs = by_name(fuzzed.cli)
    short = [f"{name} counted {procs[name]['malformed']} of {n}" for name, n in fuzzed.expected_malformed().items()
             if procs[name]["malformed"] < n]
    assert not short, "; ".join(short) + "\n" + fuzzed.context()


def test_no_foreign_trigger_reaches_the_file_and_accounting_closes(fuzzed: FuzzOutcome) -> None:
    s = fuzzed.summary
    assert s is not None, "no run summary\n" + fuzzed.context()
    t = s["triggers"]
    assert t["generated"] > 0 and t["generated"] == t["recorded"] + t["lost"], t
    assert t["lost"] == 0, (t, s["loss_reasons"])
    assert s["exit_status"] == "ok", s["exit_status"]
    for path in run_files(s["file"]):
        with open_run(path) as f:
            ids = f["triggers"]["trigger_id"][:]
            pulses = f["beam"]["pulse_id"][:]
        assert np.all(ids < 10**12), "an injected trigger was recorded"
        assert np.all(pulses < 10**12), "an injected beam pulse was recorded"
