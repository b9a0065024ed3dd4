"""`sevens gui` without a usable Qt platform (issue 16): one line naming what is missing and the
system packages to install, exit 2 — not Qt's abort (exit 134)."""

from __future__ import annotations

import os
import subprocess
import sys

from monitor.qtplatform import GUI_PACKAGES, XCB_PACKAGES, describe, platform_problem


def gui(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "daq.cli", "gui", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_no_display_is_one_line_and_exit_2_not_an_abort() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    proc = gui(env, "--exit-after", "1")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sevens: error: no usable Qt platform")
    assert "no display" in lines[0] or "sudo apt-get install lib" in lines[0]


def test_an_unknown_platform_is_named() -> None:
    problem = platform_problem({**os.environ, "QT_QPA_PLATFORM": "nosuchplatform"})  # the child aborts, not us
    assert problem is not None and "'nosuchplatform'" in problem and "\n" not in problem


def test_missing_xcb_libraries_name_their_packages() -> None:
    text = describe("", "qt.qpa.plugin: Could not load the Qt platform plugin \"xcb\"",
                    ["libxcb-xinerama.so.0", "libxkbcommon-x11.so.0"], display=True)
    assert "sudo apt-get install libxcb-xinerama0 libxkbcommon-x11-0" in text and "\n" not in text
    assert set(XCB_PACKAGES.values()) >= set(GUI_PACKAGES)


def test_offscreen_needs_nothing() -> None:
    assert platform_problem({"QT_QPA_PLATFORM": "offscreen"}) is None


def test_the_readme_and_the_guide_list_the_packages() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for doc in ("README.md", "docs/shift-crew.md"):
        text = (root / doc).read_text()
        assert all(p in text for p in GUI_PACKAGES), doc
