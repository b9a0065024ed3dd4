"""`sevens gui`: the subcommand's options, the screenshot mode, and clear errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from daq.cli.gui import TAB_KEYS, add_commands


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sevens")
    add_commands(p.add_subparsers(dest="cmd", required=True))
    return p


def test_the_tab_choices_are_the_main_windows_tabs() -> None:
    from monitor.mainwindow import TABS

    assert TAB_KEYS == tuple(TABS)


def test_defaults_connect_to_the_daq_as_a_viewer() -> None:
    args = parser().parse_args(["gui"])
    assert not args.control and args.file is None and args.screenshot is None and args.func.__name__ == "cmd_gui"


def test_a_missing_run_file_is_a_clear_error(tmp_path: Path) -> None:
    from daq.runfile import RunFileError

    args = parser().parse_args(["gui", "--file", str(tmp_path / "run_000042.h5")])
    with pytest.raises(RunFileError, match="no such run file"):
        args.func(args)


def test_control_needs_a_live_daq(tmp_path: Path) -> None:
    from daq.cli.common import UsageError

    args = parser().parse_args(["gui", "--file", "x.h5", "--control"])
    with pytest.raises(UsageError, match="--control needs a live DAQ"):
        args.func(args)

