"""The run catalogue on SQLite and on a real PostgreSQL server (every test runs on both): runs, files,
tags, DQ flags, the shift log, lineage, selections and good-run lists, import and verify, history,
the DAQ's background writer with the database down, and two processes writing at once."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest

from daq.catalogue import Catalogue, CatalogueError
from daq.catalogue.history import history
from daq.catalogue.importer import import_dir, verify
from daq.catalogue.selection import Selection, goodrun_list, parse_time, select
from daq.catalogue.writer import SPOOL, CatalogueWriter
from tests.catalogue.conftest import database_down, make_run

T0 = 1_780_000_000 * 10**9  # 2026-05-28 UTC


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    d = tmp_path / "runs"
    d.mkdir()
    for n in (1, 2, 3):
        make_run(d, n, T0 + n * 3600 * 10**9, baseline=99.0 + n, pot=n * 1e17)
    return d


@pytest.fixture
def cat(db_url: str, run_dir: Path) -> Catalogue:
    c = Catalogue(db_url)
    report = import_dir(c, run_dir)
    assert report.runs == 3 and report.files == 3 and not report.skipped, report.lines
    yield c
    c.close()


def test_import_gives_runs_with_their_figures_and_files(cat: Catalogue, run_dir: Path) -> None:
    runs = cat.runs()
    assert [r["number"] for r in runs] == [1, 2, 3]
    r2 = cat.run(2)
    assert r2["run_type"] == "physics" and r2["exit_status"] == "ok"
    assert r2["pot"] == pytest.approx(2e17) and r2["triggers_recorded"] == 720 and r2["livetime_s"] == 60.0
    assert r2["baseline_adc"] == pytest.approx(101.0, abs=0.1) and r2["spe_gain"] == pytest.approx(30.0)
    assert r2["cut_fractions"] == {"veto": 0.02, "afterglow": 0.08}
    (f,) = r2["files"]
    assert f["path"] == str((run_dir / "run_000002.h5").resolve()) and f["status"] == "written"
    assert len(f["sha256"]) == 64 and f["size"] == (run_dir / "run_000002.h5").stat().st_size
    assert import_dir(cat, run_dir).runs == 3 and len(cat.files()) == 3  # importing again changes nothing


def test_tags_are_appended_and_one_verdict_holds(cat: Catalogue) -> None:
    cat.tag(1, "good", "alice", "stable")
    cat.tag(2, "good", "alice", "stable")
    cat.tag(2, "calibrated", "bob", "gain map applied")
    cat.tag(2, "bad", "bob", "HV trip at 03:10")  # a later verdict replaces the earlier one
    cat.tag(3, "messy", "bob", "noisy baseline")
    cat.tag(3, "messy", "carol", "fixed offline", clear=True)
    assert cat.current_tags() == {1: ["good"], 2: ["calibrated", "bad"], 3: []}
    history_ = cat.run(2)["tag_history"]
    assert [(t["action"], t["tag"], t["who"]) for t in history_] == [
        ("set", "good", "alice"), ("set", "calibrated", "bob"), ("set", "bad", "bob")]
    assert all(t["why"] and t["at_ns"] for t in history_)
    with pytest.raises(CatalogueError, match="no run 9"):
        cat.tag(9, "good", "alice", "x")
    with pytest.raises(CatalogueError, match="reason"):
        cat.tag(1, "good", "alice", " ")


def test_dq_flags_and_the_shift_log(cat: Catalogue) -> None:
    cat.flag(1, "baseline_adc", "alice", "drift of 3 ADC", "bad", T0, T0 + 10**9)
    n = cat.log("beam back at 1.4 MW", "alice", run=1)
    cat.log("coffee machine fixed", "bob")
    run = cat.run(1)
    assert [(f["flag"], f["severity"], f["start_ns"]) for f in run["dq_flags"]] == [("baseline_adc", "bad", T0)]
    assert [e["text"] for e in run["shift_log"]] == ["beam back at 1.4 MW"]
    assert [e["text"] for e in cat.shift_log()] == ["beam back at 1.4 MW", "coffee machine fixed"]
    assert n >= 1


def test_selection_and_the_good_run_list(cat: Catalogue) -> None:
    for n in (1, 2, 3):
        cat.tag(n, "good", "alice", "ok")
    cat.tag(3, "bad", "bob", "afterglow")
    sel = Selection(tags=("good",), exclude_tags=("bad", "messy"), ok_only=True)
    assert [r["number"] for r in select(cat, sel)] == [1, 2]
    since = Selection(since_ns=T0 + int(1.5 * 3600e9))
    assert [r["number"] for r in select(cat, since)] == [2, 3]
    doc = goodrun_list(cat, sel)
    assert doc["format"] == "sevens-goodruns" and [r["run"] for r in doc["runs"]] == [1, 2]
    assert doc["totals"]["pot"] == pytest.approx(3e17) and doc["runs"][0]["files"][0]["sha256"]
    assert "password" not in json.dumps(doc)


def test_parse_time_forms() -> None:
    now = T0
    assert parse_time("30d", now) == now - 30 * 86400 * 10**9
    assert parse_time("12h", now) == now - 12 * 3600 * 10**9
    assert parse_time("2026-05-28", now) == 1_779_926_400 * 10**9
    with pytest.raises(CatalogueError, match="expected 30d"):
        parse_time("last week", now)


def test_verify_finds_missing_and_changed_files_and_import_finds_moved_ones(cat: Catalogue, run_dir: Path,
                                                                            tmp_path: Path) -> None:
    assert {c.status for c in verify(cat)} == {"ok"}
    moved = tmp_path / "archive"
    moved.mkdir()
    (run_dir / "run_000001.h5").rename(moved / "run_000001.h5")
    with open(run_dir / "run_000002.h5", "r+b") as f:  # one byte changed, same size
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 1]))
    status = {c.run: c.status for c in verify(cat)}
    assert status == {1: "missing", 2: "sha256", 3: "ok"}
    assert cat.files([1])[0]["status"] == "missing"
    import_dir(cat, moved)
    (f1,) = cat.files([1])
    assert f1["path"] == str((moved / "run_000001.h5").resolve()) and f1["status"] == "moved"


def test_derived_files_keep_their_lineage(cat: Catalogue, run_dir: Path) -> None:
    src = str((run_dir / "run_000002.h5").resolve())
    cat.put_derived({"path": "/replays/run_000001.h5", "kind": "replay", "run_number": 1,
                     "lineage": {"inputs": [src], "input_run_number": 2}}, [(src, 2)])
    (d,) = cat.run(2)["derived"]
    assert d["path"] == "/replays/run_000001.h5" and json.loads(d["lineage"])["inputs"] == [src]
    assert cat.files([2])[0]["status"] == "replayed"


def test_history_reads_the_dq_tables_of_the_selected_runs(cat: Catalogue) -> None:
    rows, problems = history(cat, Selection(), ["baseline", "spe_gain", "afterglow_fraction"])
    assert not problems and len(rows) == 36 and {r["run"] for r in rows} == {1, 2, 3}
    assert rows == sorted(rows, key=lambda r: r["time_ns"])
    assert rows[0]["baseline"] == pytest.approx(100.0) and rows[0]["spe_gain"] == pytest.approx(30.0)
    hourly, _ = history(cat, Selection(), ["baseline"], every_s=3600)
    assert [r["run"] for r in hourly] == [1, 2, 3]
    with pytest.raises(CatalogueError, match="DQ quantity 'gain'"):
        history(cat, Selection(), ["gain"])


# -- the DAQ's writer -------------------------------------------------------------------------------
def _start(number: int) -> dict:
    return {"op": "run", "run": {"number": number, "run_type": "test", "start_ns": T0, "exit_status": "running"}}


def test_writer_queues_while_the_database_is_down_and_writes_later(db_url: str, tmp_path: Path) -> None:
    Catalogue(db_url).close()  # the tables exist; now the database stops answering writes
    w = CatalogueWriter(db_url, tmp_path, timeout_s=0.3, retry_s=0.2)
    try:
        with database_down(db_url):
            t = time.monotonic()
            for n in range(1, 6):
                w.submit(_start(n))
            assert time.monotonic() - t < 0.05  # the DAQ never waits
            time.sleep(1.0)
            state = w.status()
            assert state["queued"] == 5 and state["error"] and state["written"] == 0, state
            assert len((tmp_path / SPOOL).read_text().splitlines()) == 5
        assert w.flush(10.0), w.status()
        assert w.status() == {"url": w.shown, "queued": 0, "written": 5, "error": None}
        assert not (tmp_path / SPOOL).exists()
    finally:
        w.close()
    with Catalogue(db_url) as c:
        assert [r["number"] for r in c.runs()] == [1, 2, 3, 4, 5]


def test_the_spool_survives_a_restart_with_the_database_unreachable(db_url: str, tmp_path: Path) -> None:
    dead = ("postgresql+psycopg://nobody@127.0.0.1:9/none" if db_url.startswith("postgresql")
            else f"sqlite:///{tmp_path}/no/such/dir/catalogue.sqlite")
    w = CatalogueWriter(dead, tmp_path, timeout_s=0.3, retry_s=0.2)
    w.submit(_start(7))
    time.sleep(0.5)
    assert w.status()["queued"] == 1 and w.status()["error"]
    w.close(2.0)  # the daemon stops: the entry stays in the spool
    assert (tmp_path / SPOOL).is_file()
    w2 = CatalogueWriter(db_url, tmp_path, timeout_s=1.0, retry_s=0.2)  # the next supervisor, database back
    try:
        assert w2.flush(10.0), w2.status()
    finally:
        w2.close()
    with Catalogue(db_url) as c:
        assert [r["number"] for r in c.runs()] == [7]


def test_writer_registers_a_closed_run_file_with_its_checksum(db_url: str, run_dir: Path) -> None:
    w = CatalogueWriter(db_url, run_dir, timeout_s=1.0, retry_s=0.2)
    try:
        w.submit(_start(2))
        w.run_done({"file": str(run_dir / "run_000002.h5"), "exit_status": "ok"})
        assert w.flush(10.0), w.status()
    finally:
        w.close()
    with Catalogue(db_url) as c:
        run = c.run(2)
    assert run["run_type"] == "test" and run["exit_status"] == "ok" and run["pot"] == pytest.approx(2e17)
    assert run["files"][0]["sha256"] and run["files"][0]["closed_ns"]


def _hammer(url: str, who: str, n: int) -> None:
    with Catalogue(url, timeout_s=20.0) as c:
        for i in range(n):
            c.put_run({"number": 100 + i % 5, "run_type": "test", "start_ns": T0, "exit_status": "running"})
            c.log(f"{who} entry {i}", who, run=100 + i % 5)
            c.tag(100 + i % 5, f"seen-by-{who}", who, "hammer")


def test_two_processes_write_at_once(db_url: str) -> None:
    Catalogue(db_url).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(db_url, who, 40)) for who in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(90)
    assert [p.exitcode for p in procs] == [0, 0]
    with Catalogue(db_url) as c:
        assert [r["number"] for r in c.runs()] == [100, 101, 102, 103, 104]
        assert len(c.shift_log()) == 80
        assert all(sorted(t) == ["seen-by-a", "seen-by-b"] for t in c.current_tags().values())
