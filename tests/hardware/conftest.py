"""Fixtures for the hardware-interface tests: private loopback Channel Access and a simulated IOC.

Every address is 127.0.0.1. Each test gets its own CA search port (EPICS_CA_SERVER_PORT),
repeater port and beacon port; a UDP socket bound to the beacon port absorbs the IOC's
beacons (otherwise each beacon to a closed loopback port is logged as an error).
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

from tests.hardware.helpers import EPICS_CONFIG, REPO, free_port

IOC_READY_S = 30.0


@pytest.fixture
def ca_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """EPICS variables for a private loopback CA 'network', set in this process; returns the full
    environment for subprocesses (IOC and DAQ)."""
    beacons = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    beacons.bind(("127.0.0.1", 0))
    settings = {
        "EPICS_CA_SERVER_PORT": str(free_port()),
        "EPICS_CA_ADDR_LIST": "127.0.0.1",
        "EPICS_CA_AUTO_ADDR_LIST": "NO",
        "EPICS_CA_REPEATER_PORT": str(free_port()),
        "EPICS_CAS_INTF_ADDR_LIST": "127.0.0.1",
        "EPICS_CAS_BEACON_ADDR_LIST": "127.0.0.1",
        "EPICS_CAS_AUTO_BEACON_ADDR_LIST": "NO",
        "EPICS_CAS_BEACON_PORT": str(beacons.getsockname()[1]),
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    yield dict(os.environ)
    beacons.close()


@pytest.fixture
def start_ioc(ca_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """``start_ioc(*args, config=path)``: `sevens sim-ioc` on loopback, returned once it serves."""
    procs: list[tuple[subprocess.Popen, IO[str]]] = []

    def start(*args: str, config: Path | str = EPICS_CONFIG) -> subprocess.Popen:
        log_path = tmp_path / f"ioc{len(procs)}.log"
        log = open(log_path, "w")  # noqa: SIM115 - closed at teardown
        proc = subprocess.Popen([sys.executable, "-m", "daq.cli", "sim-ioc", "--config", str(config), *args],
                                env=ca_env, stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO)
        procs.append((proc, log))
        ready, _, _ = select.select([proc.stdout], [], [], IOC_READY_S)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("sim-ioc: serving"):
            proc.kill()
            raise AssertionError(f"sim-ioc did not start: {line!r}; log:\n{log_path.read_text()}")
        return proc

    yield start
    for proc, log in procs:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
