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
    # issue 12: these crashed the children (seed), waited 60 s (inproc) or bound another port (99999)
    "negative seed": (with_value("seed", "-1"), r"simulation\.seed: expected an integer from 0"),
    "inproc endpoint": (replaced('records = "tcp://127.0.0.1:5560"', 'records = "inproc://records"'),
                        r"endpoints\.records: inproc:// endpoints reach only threads"),
    "port out of range": (replaced('records = "tcp://127.0.0.1:5560"', 'records = "tcp://127.0.0.1:99999"'),
                          r"endpoints\.records: expected a tcp port from 1 to 65535"),
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
    "supervisor.warmup_timeout_s": [("warmup_timeout_s", "-1.0")],
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


def in_section(key: str, value: str, text: str = DEFAULT_TEXT) -> str:
    """The shipped config with ``section.name = value``: the line in that section replaced, or added to it."""
    section, name = key.rsplit(".", 1)
    lines, current, done = text.splitlines(), None, False
    for i, line in enumerate(lines):
        header = re.match(r"\s*\[([^\]]+)\]", line)
        if header:
            if current == section and not done:  # the key is not in the file: add it at the section's end
                lines.insert(i, f"{name} = {value}")
                done = True
                break
            current = header.group(1).strip()
        elif current == section and line.split("=")[0].strip() == name:
            lines[i] = f"{name} = {value}"
            done = True
            break
    if not done:
        assert current == section, f"no section [{section}] in the shipped config"
        lines.append(f"{name} = {value}")
    return "\n".join(lines) + "\n"


LONG_IPC = "ipc:///tmp/" + "d" * 100 + "/records"
# Issue 12, item 8: values of the right type that the old validator accepted, that broke a run, crashed
# its children (the traceback only in their logs) or silently turned a cut off: (key, value, message).
ACCEPTED_BEFORE = [
    # windows and ranges: in order, with a positive width
    ("cuts.veto_window_ns", "[2000, -10000]", r"expected \[a, b\] with a < b .*turns the veto cut off"),
    ("cuts.veto_window_ns", "[0, 0]", r"expected \[a, b\] with a < b"),
    ("cuts.rise_10_50_ns", "[1000, 1000]", r"expected \[low, high\] with low < high"),
    ("cuts.rise_0_10_ns", "[-100, 0]", r"reaching above 0"),
    ("cuts.analysis_pe", "[6.0, 6.0]", r"expected \[low, high\] with low < high"),
    ("cuts.analysis_time_ns", "[0, 20000]", r"inside the 12000 ns ROI"),
    ("cuts.analysis_time_ns", "[-3000, 6000]", r"inside the 12000 ns ROI"),
    ("dq.baseline_adc", "[110.0, 90.0]", r"alarm limits \[low, high\] with low <= high"),
    ("dq.trigger_rate_hz", "[65.0, 55.0]", r"alarm limits"),
    ("windows.ac_pretrace", "[0, 1]", r"holds no sample at 5e\+08 Hz"),
    # widths, durations and counts
    ("features.integration_ns", "0", r"expected a positive number, got 0"),
    ("features.peak_halfwidth_ns", "-8", r"expected a positive number"),
    ("features.peak_min_separation_ns", "0", r"expected a positive number"),
    ("veto.deadtime_ns", "-200", r"expected a number >= 0"),
    ("cuts.linear_gate_ns", "-1", r"expected a number >= 0"),
    ("cuts.cherenkov_min_peaks", "-3", r"expected a number >= 0"),
    ("beam.pulse_fwhm_ns", "0", r"expected a positive number"),
    ("beam.proton_energy_gev", "0.0", r"expected a positive number"),
    ("simulation.spe_sigma_ns", "0.0", r"expected a positive number"),
    ("simulation.afterglow_tau_ns", "-1.0", r"expected a positive number"),
    ("simulation.baseline_drift_period_s", "0.0", r"expected a positive number"),
    ("simulation.gamma_slope_kevee", "-60.0", r"expected a positive number"),
    ("simulation.scint_rise_ns", "-20.0", r"expected a number >= 0"),
    ("simulation.start_time_ns", "-5", r"expected a number >= 0"),
    ("supervisor.log_backups", "0", r"expected at least 1 .*never rotates"),
    ("supervisor.log_max_bytes", "0", r"expected a positive number"),
    ("supervisor.max_restarts", "-1", r"expected a number >= 0"),
    # levels inside the ADC range
    ("features.spe_threshold_adc", "0.0", r"0 < value <= 255"),
    ("features.saturation_adc", "300.0", r"reachable by the 8-bit ADC, 0 < value <= 255"),
    ("features.saturation_adc", "3.0", r"expected more than features\.spe_threshold_adc"),
    ("veto.threshold_adc", "256.0", r"0 < value <= 255"),
    ("veto.baseline_samples", "0", r"expected 1 to the record's 35000 samples"),
    ("veto.baseline_samples", "35001", r"expected 1 to the record's 35000 samples"),
    ("digitizer.bits", "12", r"the simulated digitizer feeds int8 records .* expected 1 to 8"),
    # ports, transports
    ("endpoints.records", '"tcp://127.0.0.1:99999"', r"expected a tcp port from 1 to 65535"),
    ("endpoints.records", '"tcp://127.0.0.1:0"', r"expected a tcp port from 1 to 65535"),
    ("endpoints.records", '"tcp://127.0.0.1:*"', r"expected a tcp port from 1 to 65535"),
    ("endpoints.records", '"tcp://127.0.0.1"', r"expected tcp://host:port"),
    ("endpoints.control", '"inproc://control"', r"inproc:// endpoints reach only threads of one process"),
    ("endpoints.records", '"ipc://"', r"expected ipc://path with a fixed path"),
    ("endpoints.records", f'"{LONG_IPC}"', r"a Unix socket path holds at most"),
    # seeds and sizes
    ("simulation.seed", "-1", r"expected an integer from 0 to 2\*\*63 - 1"),
    ("simulation.seed", "18446744073709551616", r"expected a 64-bit integer"),
    ("endpoints.lossless_hwm", "2147483648", r"at most 2147483647 \(a ZeroMQ high-water mark is a C int\)"),
    ("endpoints.monitor_hwm", "1000000000000", r"at most 2147483647"),
    ("digitizer.sample_rate_hz", "1e15", r"70000000000 samples per record.*more than this host's"),
    ("digitizer.sample_rate_hz", "1e3", r"gives no sample in a record of 70000 ns"),
    ("run.batch_max_triggers", "1000000000", r"1000000000 records of .* more than this host's"),
    ("recorder.chunk_records", "9223372036854775808", r"expected a 64-bit integer"),
    ("recorder.chunk_records", "1000000000", r"raw chunks \(csi, veto\) that the recorder fills in memory, more than"),
    ("endpoints.max_data_frame_mib", "1.0", r"2.14 MiB frame per channel, more than the 1 MiB"),
    ("endpoints.max_data_frame_mib", "0.0", r"expected a positive size"),
]


@pytest.mark.parametrize(("key", "value", "words"), ACCEPTED_BEFORE,
                         ids=[f"{k}={v[:24]}" for k, v, _ in ACCEPTED_BEFORE])
def test_values_that_broke_the_run_are_refused_naming_file_and_key(tmp_path: Path, key: str, value: str,
                                                                   words: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(in_section(key, value))
    with pytest.raises(ConfigError) as err:
        config.load(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {key}: "), message
    assert re.search(words, message), message


@pytest.mark.parametrize("endpoint", ["tcp://127.0.0.1:5560", "tcp://*:5560", "tcp://[::1]:5560", "tcp://localhost:1",
                                      "tcp://127.0.0.1:65535", "ipc:///tmp/sevens/records", "ipc://@sevens-records"])
def test_endpoints_the_processes_can_use_are_accepted(tmp_path: Path, endpoint: str) -> None:
    path = tmp_path / "good.toml"
    path.write_text(in_section("endpoints.records", f'"{endpoint}"'))
    assert config.load(path).endpoints.records == endpoint
