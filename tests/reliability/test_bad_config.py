"""Invalid configs: refused before anything starts, with one line naming the file, the key and the expectation.

tests/config/test_config.py covers the loader (types, missing and unknown keys, window overlaps,
the `sevens config` command). This adds:

- the commands that start a DAQ (`sevens daq`, `sevens daemon`) with a bad or missing config:
  exit status 2, exactly one line on stderr, no traceback, no process launched, nothing
  written to the run directory;
- values that parse and have the right type but cannot work (a digitizer without a buffer,
  a heartbeat timeout shorter than the heartbeat period, negative or non-finite rates and
  times, fractions above one, two processes binding one endpoint).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from daq import config
from daq.config import ConfigError

DEFAULT_TEXT = config.DEFAULT_CONFIG.read_text()
SEVENS = [sys.executable, "-m", "daq.cli"]


def replaced(old: str, new: str) -> str:
    assert old in DEFAULT_TEXT, f"the shipped config has no {old!r}"
    return DEFAULT_TEXT.replace(old, new, 1)


def key_line(key: str) -> str:
    """The line of the shipped config that sets ``key`` (the first one)."""
    return next(line for line in DEFAULT_TEXT.splitlines() if line.split("=")[0].strip() == key)


def with_value(key: str, value: str) -> str:
    return replaced(key_line(key), f"{key} = {value}")


def processes_using(path: Path) -> list[str]:
    """Command lines of running processes that mention ``path`` (to prove nothing was launched)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(path) in cmd and int(pid) != os.getpid():
            found.append(cmd)
    return found


CLI_CASES = {
    "wrong type": (with_value("bits", '"eight"'), r"digitizer\.bits: expected an integer"),
    "missing key": (replaced(key_line("sample_rate_hz") + "\n", ""), r"digitizer\.sample_rate_hz: missing"),
    "overlapping windows": (with_value("c_roi", "[50000, 62000]"), r"windows\.c_roi: overlaps"),
    "impossible rate": (with_value("rep_rate_hz", "20000.0"), r"beam\.rep_rate_hz"),
    "not TOML": (DEFAULT_TEXT.replace("[run]", "[run", 1), "not valid TOML"),
}


@pytest.mark.parametrize("command", ["daq", "daemon"])
@pytest.mark.parametrize("case", list(CLI_CASES))
def test_starting_with_a_bad_config_prints_one_line_exits_2_and_launches_nothing(
        tmp_path: Path, case: str, command: str) -> None:
    text, words = CLI_CASES[case]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    run_dir = tmp_path / "runs"
    extra = ["--simulate", "--duration", "5"] if command == "daq" else []
    proc = subprocess.run([*SEVENS, command, "--config", str(path), "--run-dir", str(run_dir), *extra],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"sevens: error: {path}: "), lines[0]
    assert re.search(words, lines[0]), lines[0]
    assert proc.stdout == ""
    assert not run_dir.exists(), "the run directory was created for a config that was refused"
    assert not processes_using(path), "a process was started with the refused config"


def test_a_missing_config_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    proc = subprocess.run([*SEVENS, "daq", "--simulate", "--config", str(missing), "--run-dir", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"sevens: error: {missing}: cannot read config: No such file or directory"


# values of the right type that cannot work; each must be refused naming its key
IMPOSSIBLE = {
    "digitizer.buffer_records": [("buffer_records", "0"), ("buffer_records", "-5")],
    # 0.2 s is shorter than the 0.5 s heartbeat period: every process would be declared hung
    "supervisor.heartbeat_timeout_s": [("heartbeat_timeout_s", "0.0"), ("heartbeat_timeout_s", "0.2")],
    "supervisor.startup_timeout_s": [("startup_timeout_s", "0.0")],
    "supervisor.stop_timeout_s": [("stop_timeout_s", "-1.0")],
    "run.batch_max_latency_s": [("batch_max_latency_s", "-1.0")],
    "beam.match_window_ns": [("match_window_ns", "-5"), ("match_window_ns", "9000000")],  # > half the 16.7 ms period
    "beam.power_mw": [("power_mw", "-1.4")],
    "simulation.dark_rate_hz": [("dark_rate_hz", "-1.0")],
    "simulation.muon_rate_hz": [("muon_rate_hz", "-300.0")],
    "simulation.muon_csi_fraction": [("muon_csi_fraction", "2.0")],
    "simulation.speed": [("speed", "nan"), ("speed", "inf")],
    "simulation.rate_boost": [("rate_boost", "inf")],
}


@pytest.mark.parametrize(("key", "key_name", "value"),
                         [(k, name, v) for k, cases in IMPOSSIBLE.items() for name, v in cases])
def test_values_that_cannot_work_are_refused_naming_the_key(tmp_path: Path, key: str, key_name: str,
                                                            value: str) -> None:
    path = tmp_path / "impossible.toml"
    path.write_text(with_value(key_name, value))
    with pytest.raises(ConfigError) as err:
        config.load(path)
    assert str(err.value).startswith(f"{path}: {key}: "), str(err.value)


def test_two_endpoints_bound_to_one_address_are_refused(tmp_path: Path) -> None:
    text = replaced('beam = "tcp://127.0.0.1:5561"', 'beam = "tcp://127.0.0.1:5560"')  # = records
    path = tmp_path / "clash.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"endpoints\.(beam|records).*tcp://127\.0\.0\.1:5560") as err:
        config.load(path)
    assert str(err.value).startswith(f"{path}: ")
