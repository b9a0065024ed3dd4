"""No traceback reaches a user (issue 12, item 10): every command, every kind of bad input, one line.

Each case runs ``sevens`` as a subprocess and asserts: the documented exit status (2 for a user
error, 1 for a fit that ran but is not valid, 141 when stdout's reader went away), stderr exactly
one non-empty line starting with ``sevens: error:`` (empty for the closed pipe), and no
``Traceback`` anywhere. The bad inputs are made here: configs that are not UTF-8 TOML, foreign,
truncated and random-byte HDF5 files, a run file whose config attribute has a flipped byte, a run
too short for the fit's HESSE, bad argument values. A run file recorded once (tests/replay) is the
base of the damaged copies. The last test checks where the traceback of an unforeseen error goes.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from daq import config, dtypes
from daq.cli import main as cli_main
from daq.cli import tools
from tests.replay.conftest import ipc_root, recorded_run  # noqa: F401 - session fixtures: one recorded run

REPO = Path(__file__).resolve().parents[2]
SEVENS = [sys.executable, "-m", "daq.cli"]
SIM_DATASET = REPO / "analysis" / "datasets" / "sevens-sim.toml"


def sevens(*args: str, cwd: Path | None = None, log_dir: Path | None = None, stdout: int = subprocess.PIPE,
           timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SEVENS_LOG_DIR": str(log_dir or Path.cwd() / "cli-log"),
           "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}  # this tree
    return subprocess.run([*SEVENS, *args], stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=timeout,
                          cwd=cwd, env=env)


def assert_one_error_line(proc: subprocess.CompletedProcess, status: int = 2) -> str:
    out = proc.stdout or ""
    assert "Traceback" not in proc.stderr and "Traceback" not in out, proc.stderr[-3000:]
    assert proc.returncode == status, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sevens: error: ") and lines[0].strip() != "sevens: error:", \
        proc.stderr
    return lines[0]


# --- configs that are not UTF-8 TOML -------------------------------------------------------------------------

BAD_CONFIGS = {
    "random bytes": random.Random(7).randbytes(3000),
    "latin-1": config.DEFAULT_CONFIG.read_text().replace('directory = "runs"', 'directory = "données"')
    .encode("latin-1"),
    "nested 100000 deep": ("a = " + "[" * 100_000 + "]" * 100_000 + "\n").encode(),
}
CONFIG_WORDS = {"random bytes": "not UTF-8 text", "latin-1": "not UTF-8 text",
                "nested 100000 deep": "nested too deeply"}
CONFIG_COMMANDS = {
    "config": ["config"],
    "daq": ["daq", "--simulate", "--duration", "5"],
    "daemon": ["daemon"],
    "status": ["status"],
    "process": ["process", "recorder"],
    "gui": ["gui"],
    "sim-ioc": ["sim-ioc"],
}


@pytest.mark.parametrize("command", list(CONFIG_COMMANDS))
@pytest.mark.parametrize("kind", list(BAD_CONFIGS))
def test_a_config_that_is_not_utf8_toml_is_one_line(tmp_path: Path, kind: str, command: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(BAD_CONFIGS[kind])
    args = [*CONFIG_COMMANDS[command], "--config", str(path)]
    if command in ("daq", "daemon"):
        args += ["--run-dir", str(tmp_path / "runs")]
    line = assert_one_error_line(sevens(*args, log_dir=tmp_path / "log"))
    assert line.startswith(f"sevens: error: {path}: ") and CONFIG_WORDS[kind] in line, line
    assert not (tmp_path / "runs").exists()


# --- damaged and foreign HDF5 files --------------------------------------------------------------------------

def foreign_hdf5(path: Path) -> Path:
    """An HDF5 file that is not a run file (another program's)."""
    with h5py.File(path, "w") as f:
        f["spectrum"] = np.arange(100.0)
        f.create_group("calibration").attrs["gain"] = 2.5
        f.attrs["run_number"] = "not a number"
    return path


def truncated(src: Path, path: Path) -> Path:
    data = src.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def random_bytes(path: Path) -> Path:
    path.write_bytes(random.Random(3).randbytes(200_000))
    return path


def flipped_config_byte(src: Path, path: Path) -> Path:
    """``src`` with one byte of its config attribute turned into one that is not UTF-8."""
    data = bytearray(src.read_bytes())
    at = data.find(b'directory = "')
    assert at > 0 and data.count(b'directory = "') == 1
    data[at + len('directory = "')] = 0xFF
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def damaged(recorded_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:  # noqa: F811
    d = tmp_path_factory.mktemp("damaged")
    return {
        "foreign": foreign_hdf5(d / "foreign.h5"),
        "truncated": truncated(recorded_run, d / "run_000001.h5"),
        "random bytes": random_bytes(d / "noise.h5"),
        "flipped config byte": flipped_config_byte(recorded_run, d / "flipped.h5"),
    }


def dataset_for(run_file: Path, directory: Path) -> Path:
    """analysis/datasets/sevens-sim.toml pointed at ``run_file``."""
    text = SIM_DATASET.read_text().replace('files = ["run_*.h5"]', f'files = ["{run_file}"]')
    assert str(run_file) in text
    path = directory / "dataset.toml"
    path.write_text(text)
    return path


FILE_COMMANDS = ("report", "gui --file", "export", "replay", "fit")


# the GUI and the fit do not read a run's config: a flipped byte there is no bad input to them
FILE_CASES = [(kind, command) for kind in ("foreign", "truncated", "random bytes", "flipped config byte")
              for command in FILE_COMMANDS if not (kind == "flipped config byte" and command in ("gui --file", "fit"))]


@pytest.mark.parametrize(("kind", "command"), FILE_CASES)
def test_a_damaged_or_foreign_run_file_is_one_line_naming_it(damaged: dict[str, Path], tmp_path: Path, kind: str,
                                                            command: str) -> None:
    path = damaged[kind]
    before = path.read_bytes()
    args = {
        "report": ["report", str(path), "--out", str(tmp_path / "report")],
        "gui --file": ["gui", "--file", str(path), "--exit-after", "1"],
        "export": ["export", str(path), "--out", str(tmp_path / "selected.h5")],
        "replay": ["replay", str(path), "--out", str(tmp_path / "replay")],
        "fit": ["fit", str(dataset_for(path, tmp_path)), "--no-nsi"],
    }[command]
    line = assert_one_error_line(sevens(*args, log_dir=tmp_path / "log"))
    assert str(path) in line, line  # the line names the file
    assert path.read_bytes() == before, "a command that only reads changed its input"


def test_the_fit_names_the_table_and_field_of_a_foreign_layout(tmp_path: Path) -> None:
    rows = np.zeros(3, [("trigger_id", "<i8"), ("window", "i1"), ("pe", "S8"), ("time_ns", "<i8"), ("beam_on", "?")])
    path = tmp_path / "run_000001.h5"
    with h5py.File(path, "w") as f:
        f["selected"] = rows
        f.attrs["pot_total"], f.attrs["gwhr_total"] = 1e17, 0.01
    line = assert_one_error_line(sevens("fit", str(dataset_for(path, tmp_path)), log_dir=tmp_path / "log"))
    assert line == f"sevens: error: {path}: table 'selected', field 'pe': expected a float, got |S8", line


# --- a fit whose HESSE fails ---------------------------------------------------------------------------------

def short_run(path: Path) -> Path:
    """The fit's input of a default 20 s simulated run (`sevens daq --simulate --duration 20`): one
    selected C event, no AC event, 1.7e17 POT. Too few events for the fit: HESSE fails."""
    sel = np.zeros(1, dtypes.plain(dtypes.SELECTED))
    sel[0] = (856, dtypes.WINDOW_C, 16.38, 2940, True)  # the one event of such a run (seed 1)
    with h5py.File(path, "w") as f:
        f["selected"] = sel
        f.attrs["pot_total"], f.attrs["gwhr_total"] = 1.726e17, 7.68e-6
    return path


def test_a_fit_whose_hesse_fails_reports_what_it_can_and_exits_1(tmp_path: Path) -> None:
    dataset = dataset_for(short_run(tmp_path / "run_000001.h5"), tmp_path)
    out = tmp_path / "fit.json"
    proc = sevens("fit", str(dataset), "--json", str(out), "--plots", str(tmp_path / "plots"),
                  log_dir=tmp_path / "log")
    line = assert_one_error_line(proc, status=1)
    assert line.startswith(f"sevens: error: {dataset}: the fit is not valid: ") and "HESSE" in line, line
    assert "1 C and 0 AC beam-on events" in line and line.endswith("the values above are not a measurement")
    assert "CEvNS (fit)" in proc.stdout and "+- n/a" in proc.stdout  # the values it has, errors marked
    import json

    result = json.loads(out.read_text())
    assert result["fit_valid"] is False and "HESSE" in result["fit_note"]
    assert result["n_cevns_err"] is None and result["mu_err_hi"] is None and np.isfinite(result["n_cevns"])


# --- stdout closed, bad arguments ----------------------------------------------------------------------------

def test_a_closed_stdout_ends_quietly(tmp_path: Path) -> None:
    """`sevens config --reference | head`: the reader is gone before the output is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = sevens("config", "--reference", stdout=write_end, log_dir=tmp_path / "log")
    finally:
        os.close(write_end)
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr  # 128 + SIGPIPE, as the shell reports


BAD_ARGUMENTS = {
    "no command": ([], r"^sevens: error: the following arguments are required: COMMAND"),
    "unknown command": (["frobnicate"], r"^sevens: error: argument COMMAND: invalid choice: 'frobnicate'"),
    "gui --size": (["gui", "--size", "big"], r"^sevens: error: --size: expected WIDTHxHEIGHT, got 'big'$"),
    "gui --tab": (["gui", "--tab", "nope"], r"^sevens: error: gui: argument --tab: invalid choice"),
    "sim-ioc --speed": (["sim-ioc", "--speed", "-1"], r"^sevens: error: sim-ioc: argument --speed: expected a "
                                                       r"finite number above 0, got '-1'"),
    "sim-ioc --seed": (["sim-ioc", "--seed", "-1"], r"^sevens: error: sim-ioc: argument --seed: expected an integer "
                                                     r"from 0 to 2\*\*63 - 1, got '-1'"),
    "gui --exit-after": (["gui", "--exit-after", "nan"], r"^sevens: error: gui: argument --exit-after: expected a "
                                                         r"number of seconds >= 0, got nan"),
    "fit: no dataset": (["fit", "no/such.toml"], r"^sevens: error: no/such\.toml: no such dataset file$"),
    "fit: a directory": (["fit", "."], r"^sevens: error: \.: cannot read dataset file: Is a directory$"),
    "fit --scheduler": (["fit", str(REPO / "analysis" / "datasets" / "coherent-2018.toml"), "--scheduler", "nope"],
                        r"^sevens: error: --scheduler: expected local, slurm, htcondor or a scheduler address"),
    "config: a directory": (["config", "--config", "."], r"^sevens: error: \.: cannot read config: Is a directory$"),
    "report: no file": (["report", "nope.h5"], r"^sevens: error: .*nope\.h5"),
    "keys below a file": (["keys", "generate", "a-file/keys"], r"^sevens: error: a-file/keys: cannot write CURVE keys: "
                                                                r"Not a directory$"),
}


@pytest.mark.parametrize("case", list(BAD_ARGUMENTS))
def test_bad_arguments_are_one_line(tmp_path: Path, case: str) -> None:
    args, words = BAD_ARGUMENTS[case]
    (tmp_path / "a-file").write_text("")
    line = assert_one_error_line(sevens(*args, cwd=tmp_path, log_dir=tmp_path / "log"))
    assert re.search(words, line), line


# --- the last resort -----------------------------------------------------------------------------------------

def test_an_unforeseen_error_is_one_line_and_its_traceback_goes_to_the_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(args: object) -> int:
        raise KeyError("Unable to open object (object 'triggers' doesn't exist)")

    monkeypatch.setattr(tools, "cmd_config", broken)
    monkeypatch.setenv("SEVENS_LOG_DIR", str(tmp_path / "log"))
    path = tmp_path / "x.toml"
    assert cli_main.main(["config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    log = tmp_path / "log" / "cli.log"
    assert err == (f"sevens: error: config {path}: KeyError: Unable to open object (object 'triggers' doesn't exist)"
                   f"; the traceback is in {log}\n")
    text = log.read_text()
    assert "Traceback" in text and "in broken" in text and "sevens config" in text
    assert cli_main.main(["-v", "config", "--config", str(path)]) == 2  # -v: the traceback on stderr too
    assert "Traceback" in capsys.readouterr().err
