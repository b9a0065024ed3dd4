"""The SLURM and HTCondor examples of docs/reprocessing.md make the dask-jobqueue jobs whose scripts
say what the examples ask for (rendered, never submitted: no batch system here)."""

from __future__ import annotations

import re
from pathlib import Path

import dask
import dask_jobqueue  # noqa: F401 - its config defaults, before dask.config.set records what to restore
import pytest
import yaml

from daq.cluster.client import jobqueue_class

DOC = Path(__file__).resolve().parents[2] / "docs" / "reprocessing.md"


def examples() -> dict[str, dict]:
    """Per kind, the example's keys as dotted Dask config keys (merged over the defaults, as a
    YAML file in ~/.config/dask is; dask.config.set of the nested dict would replace them)."""
    out = {}
    for block in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S):
        doc = yaml.safe_load(block)
        (kind,) = doc["jobqueue"]
        out[kind] = {f"jobqueue.{kind}.{k}": v for k, v in doc["jobqueue"][kind].items()}
    return out


@pytest.mark.parametrize("kind, expected", [
    ("slurm", ["#SBATCH -J sevens-reprocess", "#SBATCH -p analysis", "#SBATCH -A coherent", "#SBATCH -t 04:00:00",
               "#SBATCH --constraint=skylake", "export OMP_NUM_THREADS=1", "/opt/sevens/.venv/bin/python",
               "--nworkers 4", "--nthreads 1"]),
    ("htcondor", ["+JobFlavour = \"workday\"", "should_transfer_files = NO", "RequestCpus = MY.DaskWorkerCores",
                  "/opt/sevens/.venv/bin/python", "--nthreads 1"]),
])
def test_the_documented_jobqueue_examples_render_job_scripts(kind: str, expected: list[str]) -> None:
    with dask.config.set(examples()[kind]):
        # the job the cluster class submits, rendered for a scheduler address (none is started here)
        script = jobqueue_class(kind).job_cls(scheduler="tcp://10.0.0.1:8786", name="sevens-test").job_script()
    assert "tcp://10.0.0.1:8786" in script
    for text in expected:
        assert text in script, f"{text!r} not in the {kind} job script:\n{script}"
