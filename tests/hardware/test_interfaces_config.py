"""Config tables of the hardware interfaces, the sim-ioc schedule, and the sim-ioc command line."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import pytest
import tomli_w

from daq import config
from daq.config import ConfigError
from simulators.sim_ioc import published_fields, pulses_due
from tests.hardware.helpers import EPICS_CONFIG, REPO


def without_tables(text: str, *tables: str) -> str:
    """``text`` with the named dotted tables removed."""
    table = tomllib.loads(text)
    for dotted in tables:
        section, name = dotted.split(".")
        del table[section][name]
    return tomli_w.dumps(table)


def test_configs_without_the_new_tables_get_the_defaults() -> None:
    text = without_tables(config.load().text, "beam.epics", "digitizer.niscope", "digitizer.caen")
    assert "epics" not in text and "caen" not in text
    cfg = config.parse(text)
    assert cfg.beam.epics.prefix == "SNS:BEAM:" and cfg.beam.epics.assembly_timeout_s == 0.5
    assert cfg.digitizer.niscope.channels == ["0", "1"] and cfg.digitizer.caen.trigger_source == "TrgIn"


def test_the_epics_config_points_the_daq_at_the_simulated_ioc() -> None:
    cfg = config.load(EPICS_CONFIG)
    assert cfg.beam.backend == "epics" and cfg.digitizer.backend == "simulated"
    assert cfg.simulation.start_time_ns > 0  # shared time of pulse 0: required for the simulated pair
    default = config.load()
    assert cfg.beam.epics.prefix != default.beam.epics.prefix  # never the real machine's PV names


@pytest.mark.parametrize(("table", "line", "message"), [
    ("beam.epics", "assembly_timeout_s = 0.5", "beam.epics.assembly_timeout_s: expected a positive number"),
    ("beam.epics", 'pot_pv = "POT"', "beam.epics.pot_pv: expected a PV name"),
    ("digitizer.niscope", 'coupling = "DC"', "digitizer.niscope.coupling: expected one of"),
    ("digitizer.caen", "channels = [0, 1]", "digitizer.caen.channels: expected 2 distinct channels"),
])
def test_bad_values_name_the_key(table: str, line: str, message: str) -> None:
    bad = {"assembly_timeout_s = 0.5": "assembly_timeout_s = 0", 'pot_pv = "POT"': 'pot_pv = ""',
           'coupling = "DC"': 'coupling = "GND"', "channels = [0, 1]": "channels = [1, 1]"}[line]
    text = config.load().text
    assert line in text, f"{line!r} not in the default config any more"
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.parse(text.replace(line, bad, 1))


def test_the_ioc_schedule_and_its_fault_injection() -> None:
    assert [pulses_due(t, 60.0) for t in (0.0, 1 / 60 - 1e-6, 1 / 60, 1.0)] == [1, 1, 2, 61]
    assert published_fields(0, 2, 3)[-1] == "pulse_id"  # the id is written last
    assert published_fields(1, 2, 0) == ()  # every 2nd pulse dropped
    assert "pot" not in published_fields(2, 0, 3) and len(published_fields(2, 0, 3)) == 4
    assert published_fields(5, 2, 3) == ()  # dropped wins over partial
    assert all(published_fields(0, n, n) for n in (2, 3, 7))  # pulse 0 is never touched


def test_sim_ioc_without_caproto_is_a_one_line_error() -> None:
    code = ("import sys; sys.modules['caproto'] = None; from daq.cli.main import main; "
            "sys.exit(main(['sim-ioc']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "sevens: error: sevens sim-ioc needs the caproto package: pip install 'sevens[epics]'"


def test_sim_ioc_rejects_bad_options() -> None:
    proc = subprocess.run([sys.executable, "-m", "daq.cli", "sim-ioc", "--drop-every", "1"], capture_output=True,
                          text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 2 and "--drop-every" in proc.stderr
