"""``sevens reprocess`` and fit toys on Dask: the same numbers as ``sevens replay`` and the serial loop.

Three small runs (200 triggers each, made once with the simulator) are replayed with a new cut
config by ``sevens replay`` (three processes at once, started first so they overlap the cluster
work) and reprocessed with the same config on a LocalCluster of two workers, and through the CLI
on a real ``dask scheduler`` with two ``dask worker`` processes on loopback, one of which is killed
while it runs a task. Every output's triggers, features, peaks, veto hits, cut bits, selected
events, DQ rows, beam and truth tables are byte-identical to the replay's.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import h5py
import numpy as np
import pytest

from daq import config
from daq.cluster.client import open_client
from daq.cluster.fanout import ProgressBar, fan_out
from daq.kernels import cuts
from daq.stages.params import cut_params
from tests.cluster.cluster_helpers import differences, free_port, simulated_run, start, stop, wait_for_workers
from tests.replay.replay_helpers import SEVENS, last_json

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the flaky task below runs on the workers

N_TRIGGERS = 200  # a few SPE gain blocks (64 trigger ids each)
NEW_CUTS = {"afterglow_max_pretrace_peaks": 1, "cherenkov_min_peaks": 4}  # defaults 3 and 3 (hwconfig)
REPO = Path(__file__).resolve().parents[2]
# ../shared beside the repo (as tests/analysis), or beside the directory of worktrees holding it
DATA_DIR = next((d / "shared" / "data" / "coherent-2018-csi" for d in (REPO.parent, REPO.parent.parent)
                 if (d / "shared" / "data" / "coherent-2018-csi").is_dir()),
                REPO.parent / "shared" / "data" / "coherent-2018-csi")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cluster")


@pytest.fixture(scope="module")
def runs(work: Path) -> list[Path]:
    cfg = config.load()
    (work / "runs").mkdir()
    return [simulated_run(work / "runs" / f"run_{k:06d}.h5", cfg, k, 40 + k, N_TRIGGERS) for k in (1, 2, 3)]


@pytest.fixture(scope="module")
def new_config(work: Path) -> Path:
    path = work / "new_cuts.toml"
    path.write_text(config.with_overrides(config.load(), {"cuts": NEW_CUTS}).text)
    return path


class Replays:
    """``sevens replay --config NEW`` of each run, all started at once; ``outputs()`` waits for them."""

    def __init__(self, runs: list[Path], cfg: Path, work: Path) -> None:
        self.procs = [subprocess.Popen([*SEVENS, "replay", str(r), "--config", str(cfg), "--out",
                                        str(work / f"replay{k}"), "--json"], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True) for k, r in enumerate(runs)]
        self.files: list[Path] | None = None

    def outputs(self) -> list[Path]:
        if self.files is None:
            self.files = []
            for p in self.procs:
                out, err = p.communicate(timeout=240)
                proc = subprocess.CompletedProcess(p.args, p.returncode, out, err)
                assert p.returncode == 0, err[-3000:]
                self.files.append(Path(last_json(proc)["file"]))
        return self.files


@pytest.fixture(scope="module")
def replays(runs: list[Path], new_config: Path, work: Path) -> Replays:
    r = Replays(runs, new_config, work)
    yield r
    for p in r.procs:
        if p.poll() is None:
            p.kill()
            p.communicate()


@pytest.fixture(scope="module")
def local_client(replays: Replays):  # noqa: ANN201 - a distributed.Client; after the replays have started
    with open_client("local", 2) as client:
        yield client


def test_local_cluster_reprocessing_is_bit_identical_to_replay(runs, new_config, replays, local_client, work):
    from daq.catalogue import Catalogue
    from daq.cli.reprocess import run_reprocess

    assert len(local_client.scheduler_info()["workers"]) == 2
    result = run_reprocess([str(r) for r in runs], str(new_config), str(work / "local"), client=local_client)
    assert result["failed"] == {}
    assert [r["exit_status"] for r in result["runs"]] == ["ok"] * 3
    assert result["triggers"] == 3 * N_TRIGGERS
    outputs = [Path(r["file"]) for r in result["runs"]]
    assert [p.name for p in outputs] == ["run_000001.h5", "run_000002.h5", "run_000003.h5"]  # input order
    for replayed, out in zip(replays.outputs(), outputs, strict=True):
        assert differences(replayed, out) == []
    # the new cuts are in force: the input's own cut values flag the same features differently
    old = cut_params(config.load())
    changed = 0
    for out, run in zip(outputs, runs, strict=True):
        with h5py.File(out) as f:
            feats, hits = f["features"][:], f["veto_hits"][:]
            lineage = json.loads(f.attrs["lineage"])
            assert "afterglow_max_pretrace_peaks = 1" in f.attrs["config"]
        assert lineage["kind"] == "reprocess" and lineage["inputs"] == [str(run.resolve())]
        again = feats.copy()
        cuts.apply_cuts(again, hits, old)
        changed += int(np.count_nonzero(again["cut_mask"] != feats["cut_mask"]))
    assert changed > 0
    with Catalogue(result["catalogue"], create=False) as cat:
        derived = {d["path"]: d for d in cat.derived()}
    assert set(derived) == {str(p.resolve()) for p in outputs}
    assert {d["kind"] for d in derived.values()} == {"reprocess"}


def flaky(item: tuple[str, str]) -> str:
    """Fails always for ``bad``, the first time only for ``flaky`` (attempts counted in files)."""
    name, directory = item
    marker = Path(directory) / f"{name}.{time.time_ns()}"
    marker.touch()
    if name == "bad" or (name == "flaky" and len(list(Path(directory).glob("flaky.*"))) == 1):
        raise RuntimeError(f"{name} refused")
    return name.upper()


def test_a_task_failing_twice_is_reported_by_name_and_the_others_finish(local_client, tmp_path):
    names = ["a", "flaky", "bad", "b"]
    bar = ProgressBar(len(names), "flaky", stream=io.StringIO(), force=True)  # as on a terminal
    out = fan_out(local_client, flaky, [(n, str(tmp_path)) for n in names], names, "flaky", progress=bar)
    assert out.results == ["A", "FLAKY", None, "B"]
    assert out.failures == {"bad": "RuntimeError: bad refused"}
    assert len(list(tmp_path.glob("bad.*"))) == 2  # tried, retried once, reported
    assert len(list(tmp_path.glob("flaky.*"))) == 2
    drawn = bar.stream.getvalue()
    assert drawn.startswith("\rflaky [") and "] 4/4, 1 failed" in drawn and drawn.endswith("\n")


@pytest.fixture(scope="module")
def coarse_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 2018 dataset with 4-PE x 1-us bins (as tests/analysis/test_analysis_toys.py: same code, faster)."""
    from analysis.datasets import builtin

    text = builtin("coherent-2018").read_text()
    text = text.replace("pe_bin_width = 2.0", "pe_bin_width = 4.0").replace("time_bin_width_us = 0.5",
                                                                            "time_bin_width_us = 1.0")
    path = tmp_path_factory.mktemp("toys") / "coarse.toml"
    path.write_text(text)
    return path


def test_toys_on_the_cluster_equal_the_serial_toys(local_client, coarse_dataset):
    from daq.cli.toys import run_toys

    serial = run_toys(str(coarse_dataset), str(DATA_DIR), 4, seed=11, scheduler="serial")
    cluster = run_toys(str(coarse_dataset), str(DATA_DIR), 4, seed=11, client=local_client)
    assert cluster["failed"] == {}
    assert cluster["results"] == serial["results"]  # every number, in toy order
    assert len({r["n_cevns"] for r in serial["results"]}) == 4  # four different toys, not one four times


def test_scan_and_nsi_points_on_the_cluster_equal_the_serial_ones(local_client, coarse_dataset):
    """`sevens fit --scheduler`: every profile-scan and NSI point is a task; the numbers are the serial ones."""
    from analysis.datafiles import load_observed
    from analysis.dataset import read_dataset
    from analysis.results import analyse
    from daq.cluster.scans import ClusterPoints

    spec = read_dataset(coarse_dataset, DATA_DIR)
    observed = load_observed(spec)
    serial = analyse(spec, observed, profile_points=6, with_impacts=False)
    points = ClusterPoints(local_client, spec, observed)
    cluster = analyse(spec, observed, profile_points=6, with_impacts=False, points=points)
    assert points.failures == {} and points.tasks == 6 + 33  # 6 mu points, the 33 nu_e-strength points of the NSI
    assert np.array_equal(cluster.profile_mu[1], serial.profile_mu[1])
    assert np.all(np.isfinite(serial.profile_mu[1])) and serial.profile_mu[1][0] > 9.0  # mu = 0: > 3 sigma
    assert np.array_equal(cluster.nsi.dchi2_fit, serial.nsi.dchi2_fit)
    assert cluster.summary["profile_mu"] == serial.summary["profile_mu"]


def cache_dirs() -> tuple[str, str]:
    from numba.core import config as numba_config

    return os.environ["NUMBA_CACHE_DIR"], numba_config.CACHE_DIR


def test_each_worker_can_get_a_numba_cache_dir_of_its_own(local_client, tmp_path):
    """The last user of the LocalCluster: its workers compile nothing after this."""
    from daq.cluster.numba_cache import PerWorkerCache

    local_client.register_plugin(PerWorkerCache(str(tmp_path / "numba")))
    dirs = local_client.run(cache_dirs)
    assert len({env for env, _ in dirs.values()}) == 2  # one per worker
    for env, seen_by_numba in dirs.values():
        assert Path(env).is_dir() and Path(env).parent == tmp_path / "numba" and seen_by_numba == env


def test_real_scheduler_and_workers_survive_a_killed_worker(runs, new_config, replays, work):
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "dask"]
    procs = [start([*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                   work / "scheduler.log")]
    workers = {}
    try:
        for name in ("w0", "w1"):
            workers[name] = start([*dask, "worker", address, "--name", name, "--nthreads", "1", "--no-nanny",
                                   "--no-dashboard", "--local-directory", str(work / name)], work / f"{name}.log")
        procs += workers.values()
        wait_for_workers(address, 2)
        out_dir = work / "remote"
        cli = subprocess.Popen([*SEVENS, "reprocess", *map(str, runs), "--config", str(new_config), "--out",
                                str(out_dir), "--scheduler", address, "--json"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        killed = kill_a_busy_worker(address, workers)
        assert killed is not None, "no worker was seen running a task"
        assert workers[killed].wait(timeout=10) == -signal.SIGKILL
        stdout, stderr = cli.communicate(timeout=240)
        assert cli.returncode == 0, stderr[-3000:]
        result = json.loads(stdout.strip().splitlines()[-1])
        assert result["failed"] == {} and len(result["runs"]) == 3
        assert {r["worker"] for r in result["runs"]} <= {"w0", "w1"}
        for replayed, r in zip(replays.outputs(), result["runs"], strict=True):
            assert differences(replayed, Path(r["file"])) == []
        assert not list(out_dir.glob(".reprocess-*"))  # the killed attempt's work is cleaned up
    finally:
        stop(procs)


def kill_a_busy_worker(address: str, workers: dict[str, subprocess.Popen]) -> str | None:
    """SIGKILL the first worker seen processing a reprocessing task; its name."""
    from distributed import Client

    with Client(address, timeout=30) as c:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for addr, keys in c.processing().items():
                if any(str(k).startswith("reprocess-") for k in keys):
                    info = c.scheduler_info()["workers"].get(addr)  # read after processing(): never older
                    if info is None:
                        continue  # a worker the scheduler's view does not hold yet: look again
                    name = str(info["name"])
                    os.kill(workers[name].pid, signal.SIGKILL)
                    return name
            time.sleep(0.02)
    return None
