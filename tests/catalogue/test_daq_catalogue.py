"""A simulated DAQ run lands in the catalogue (the supervisor's writer, SQLite in the run directory);
the CLI lists, shows, tags, logs, writes a good-run list and draws history; a dataset that selects by
tag fits with the catalogue's exposure; the database locked during a run leaves the run untouched and
its entries arrive later."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from daq.catalogue import default_url
from daq.catalogue.writer import SPOOL
from daq.cli.main import main
from tests.catalogue.conftest import REPO, make_run
from tests.conftest import private_config

pytestmark = pytest.mark.timeout(240)


def sevens(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    """One catalogue command, run by the CLI's ``main`` in this process (a new interpreter per command
    costs a second of imports each; the DAQ run below, and tests/cli, run ``sevens`` as its own process)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's own usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    proc = subprocess.CompletedProcess(["sevens", *args], code, out.getvalue(), err.getvalue())
    if ok:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def daq_run(run_dir: Path, cfg_path: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "daq.cli", "daq", "--simulate", "--duration", "3", "--speed", "5",
                           "--config", cfg_path, "--run-dir", str(run_dir), "--json"], capture_output=True, text=True,
                          timeout=180, cwd=REPO)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def test_a_simulated_run_in_the_catalogue_the_cli_and_the_fit(tmp_path: Path, ipc_dir: Path) -> None:
    run_dir = tmp_path / "runs"
    cfg = private_config(ipc_dir)
    summary = json.loads(daq_run(run_dir, cfg.path).stdout.splitlines()[-1])
    where = ["--config", cfg.path, "--run-dir", str(run_dir)]

    (run,) = json.loads(sevens("runs", "--json", *where).stdout)
    assert run["number"] == summary["run_number"] == 1 and run["exit_status"] == "ok"
    assert run["triggers_recorded"] == summary["triggers"]["recorded"] > 0
    assert run["pot"] == pytest.approx(summary["pot"]) and run["baseline_adc"] == pytest.approx(
        summary["dq"]["baseline_adc"], abs=1e-3)
    table = sevens("runs", *where).stdout
    assert table.splitlines()[0].split()[:2] == ["run", "type"] and " physics " in table.splitlines()[1]

    out = sevens("tag", "1", "good", "--why", "stable", "--who", "alice", *where).stdout
    assert "tags now: good" in out
    sevens("log", "beam", "at", "1.4", "MW", "--run", "1", "--who", "alice", *where)
    shown = sevens("runs", "show", "1", *where).stdout
    assert "alice: beam at 1.4 MW" in shown and "alice: set good: stable" in shown
    assert "sha256" in shown and str(run_dir / "run_000001.h5") in shown

    # two more runs (built with h5py) for the cross-run views; run 3 bad
    make_run(run_dir, 2, run["start_ns"] + 60 * 10**9, baseline=101.0)
    make_run(run_dir, 3, run["start_ns"] + 120 * 10**9, baseline=97.0)
    sevens("catalogue", "import", str(run_dir), *where)
    sevens("tag", "2", "good", "--why", "ok", *where)
    sevens("tag", "3", "bad", "--why", "HV trip", *where)
    assert [r["number"] for r in json.loads(sevens("runs", "--tag", "good", "--json", *where).stdout)] == [1, 2]

    good = tmp_path / "goodruns.json"
    sevens("goodruns", "--out", str(good), "--tag", "good", *where)
    doc = json.loads(good.read_text())
    assert [r["run"] for r in doc["runs"]] == [1, 2] and doc["runs"][0]["files"][0]["sha256"]
    again = sevens("goodruns", "--out", str(good), *where, ok=False)
    assert again.returncode == 2 and again.stderr.startswith("sevens: error: --out") and "--force" in again.stderr
    assert sevens("catalogue", "verify", *where).stdout.splitlines()[-1] == "3 files: 3 ok, 0 not"

    png, csv = tmp_path / "history.png", tmp_path / "history.csv"
    out = sevens("history", "baseline", "spe_gain", "afterglow_fraction", "--since", "30d", "--png", str(png),
                 "--csv", str(csv), *where).stdout
    assert "of 3 runs (1, 2, 3)" in out and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = csv.read_text().splitlines()
    assert lines[0] == "time_utc,time_ns,run,interval_s,baseline,spe_gain,afterglow_fraction"
    assert {line.split(",")[2] for line in lines[1:]} == {"1", "2", "3"}

    # the fit selects run 1 by its tag (run 2 has no `selected` table: keep it out by number range)
    ds = (REPO / "analysis" / "datasets" / "sevens-sim.toml").read_text().replace(
        'files = ["run_*.h5"]', '[data.select]\ntags = ["good"]\ntype = "physics"\nruns = [1]')
    (tmp_path / "by-tag.toml").write_text(ds)
    from analysis.datafiles import load_observed
    from analysis.dataset import read_dataset

    spec = read_dataset(tmp_path / "by-tag.toml", run_dir)
    assert spec.data.run_files == ((run_dir / "run_000001.h5").resolve(),)
    assert load_observed(spec).pot == pytest.approx(run["pot"])
    fit = sevens("fit", str(tmp_path / "by-tag.toml"), "--data-dir", str(run_dir), "--no-nsi")
    assert "sevens-simulated-run" in fit.stdout


def test_the_database_locked_during_a_run_delays_only_the_catalogue(tmp_path: Path, ipc_dir: Path) -> None:
    run_dir = tmp_path / "runs"
    run_dir.mkdir()
    cfg = private_config(ipc_dir, catalogue={"timeout_s": 0.3, "retry_s": 0.3})
    where = ["--config", cfg.path, "--run-dir", str(run_dir)]
    sevens("log", "before the run", *where)  # creates the catalogue
    lock = sqlite3.connect(run_dir / "catalogue.sqlite", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        proc = daq_run(run_dir, cfg.path)
        assert json.loads(proc.stdout.splitlines()[-1])["exit_status"] == "ok"
        assert "entries not written" in proc.stderr and "database is locked" in proc.stderr
        assert (run_dir / SPOOL).is_file()
        busy = sevens("runs", "--timeout", "0.3", *where, ok=False)
        assert busy.returncode == 2 and busy.stderr.startswith("sevens: error: catalogue sqlite:///")
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    out = sevens("catalogue", "sync", *where).stdout
    assert "entries written" in out and not (run_dir / SPOOL).exists()
    (run,) = json.loads(sevens("runs", "--json", *where).stdout)
    assert run["number"] == 1 and run["exit_status"] == "ok" and run["triggers_recorded"] > 0
    files = json.loads(sevens("runs", "show", "1", "--json", *where).stdout)["files"]
    assert len(files) == 1 and len(files[0]["sha256"]) == 64
    assert default_url(run_dir).endswith("catalogue.sqlite")
