"""Bad input on every socket of a running DAQ: malformed envelopes are counted and dropped, never fatal.

One real `sevens daq --simulate` run (private ipc endpoints, 3x real time). While it runs, the
test connects to every bound endpoint and sends hypothesis-generated messages that
``envelope.unpack`` must refuse: random bytes in one to five frames, JSON headers with a bad or
missing field, frame-count mismatches, protocol version 99, buffers whose size disagrees with the
declared shape, huge declared shapes, bad dtypes, pathological headers (deep nesting, giant
integers, > 64 KiB), and 8 MiB messages. Then it checks, from `sevens status --json` and the run
summary, that nothing crashed, that each receiver counted every message it got (a multi-frame
message counts once), and that the run's trigger accounting still closes with nothing lost.

The seed is printed on failure; ``SEVENS_FUZZ_SEED=N`` repeats a run's messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.reliability.daqrun import PROCESS_NAMES, by_name, private_ipc_dir, reliability_config, remove
from tests.reliability.fuzzing import DATA_ENDPOINTS, Fuzzer, FuzzOutcome, fuzz_live_run
from tests.reliability.malformed import malformed_frames, oversized_message

PER_ENDPOINT = 40  # hypothesis examples per data endpoint (and for status and control)
OVERSIZED = 2  # 8 MiB messages per data endpoint


def fuzz(f: Fuzzer) -> None:
    for salt, endpoint in enumerate((*DATA_ENDPOINTS, "status", "control")):
        f.examples(endpoint, malformed_frames(), PER_ENDPOINT, salt)
        if endpoint != "control":
            for _ in range(OVERSIZED):
                f.push(endpoint, oversized_message(), "8 MiB buffer behind a 16-byte array")
                if endpoint == "status":  # above endpoints.max_control_frame_kib: refused by the socket
                    f.out.sent[endpoint] -= 1  # itself (the sender is disconnected), so never counted
                    f.out.sent[f"{endpoint} (over the frame limit)"] += 1


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzOutcome]:
    ipc = private_ipc_dir()
    try:
        cfg = reliability_config(ipc)
        yield fuzz_live_run(cfg, tmp_path_factory.mktemp("fuzz-runs"), fuzz, FuzzOutcome.expected_malformed)
    finally:
        remove(ipc)


def test_messages_were_sent_to_every_endpoint(fuzzed: FuzzOutcome) -> None:
    for endpoint in (*DATA_ENDPOINTS, "status", "control"):
        assert fuzzed.sent[endpoint] >= PER_ENDPOINT // 2, fuzzed.context()
    assert not fuzzed.send_failures, fuzzed.context()


def test_no_process_crashed_or_was_restarted(fuzzed: FuzzOutcome) -> None:
    assert fuzzed.after is not None, "the supervisor stopped answering\n" + fuzzed.context()
    assert fuzzed.after["state"] == "running" and fuzzed.after["error"] is None, fuzzed.context()
    before, after = by_name(fuzzed.before), by_name(fuzzed.after)
    assert set(after) == set(PROCESS_NAMES)
    for name in PROCESS_NAMES:
        assert after[name]["alive"], f"{name} is dead\n{fuzzed.context()}"
        assert after[name]["pid"] == before[name]["pid"], f"{name} was restarted\n{fuzzed.context()}"
    assert not fuzzed.tracebacks, fuzzed.context()
    assert fuzzed.returncode == 0, fuzzed.context()


def test_every_malformed_message_is_counted_by_its_receiver(fuzzed: FuzzOutcome) -> None:
    assert fuzzed.cli is not None, "`sevens status --json` got no answer\n" + fuzzed.context()
    procs = by_name(fuzzed.cli)  # what an operator sees
    for name, n in fuzzed.expected_malformed().items():
        assert procs[name]["malformed"] >= n, f"{name} counted {procs[name]['malformed']} of {n}\n{fuzzed.context()}"
    for name in set(PROCESS_NAMES) - set(fuzzed.expected_malformed()):
        assert procs[name]["malformed"] == 0, name  # nothing was sent to the sources


def test_supervisor_answers_and_counts_malformed_control_and_status_messages(fuzzed: FuzzOutcome) -> None:
    assert len(fuzzed.replies) == fuzzed.sent["control"]
    for reply in fuzzed.replies:
        assert reply is not None and reply["ok"] is False and "malformed request" in reply["error"], (
            f"{reply}\n{fuzzed.context()}")
    st: dict[str, Any] | None = fuzzed.cli
    assert st is not None
    # the supervisor's own counters, beside the processes' ones
    assert st.get("malformed", {}).get("control", 0) >= fuzzed.sent["control"], (
        f"status has no supervisor count of malformed control requests: {st.get('malformed')}")
    assert st.get("malformed", {}).get("status", 0) >= fuzzed.sent["status"], (
        f"status has no supervisor count of malformed status messages: {st.get('malformed')}")


def test_trigger_accounting_closes_and_nothing_is_lost(fuzzed: FuzzOutcome) -> None:
    s = fuzzed.summary
    assert s is not None, "no run summary\n" + fuzzed.context()
    t = s["triggers"]
    assert t["generated"] > 0
    assert t["generated"] == t["recorded"] + t["lost"], t
    assert t["lost"] == 0, (t, s["loss_reasons"])
    assert s["exit_status"] == "ok", s["exit_status"]
