"""Can Qt open a window here? Asked before the GUI creates its QApplication.

Qt aborts the process (SIGABRT, exit 134) when its platform plugin cannot be loaded, with a
message that does not say what to install. :func:`platform_problem` asks a child process to
create a QApplication first; if that fails it names what is missing in one line: the system
libraries the ``xcb`` plugin needs (from ``ldd`` of the plugin, mapped to the Debian/Ubuntu
packages, ``XCB_PACKAGES``), or the display. Only QtCore is imported here (no display needed).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

# the libraries of Qt 5's xcb platform plugin (libqxcb.so and libQt5XcbQpa) and their packages
XCB_PACKAGES = {
    "libxcb-icccm.so.4": "libxcb-icccm4", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0", "libxcb-shm.so.0": "libxcb-shm0", "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1", "libxcb-util.so.1": "libxcb-util1", "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-xinput.so.0": "libxcb-xinput0", "libxcb.so.1": "libxcb1", "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libxkbcommon.so.0": "libxkbcommon0",
    "libfontconfig.so.1": "libfontconfig1", "libfreetype.so.6": "libfreetype6", "libdbus-1.so.3": "libdbus-1-3",
    "libGL.so.1": "libgl1", "libEGL.so.1": "libegl1", "libglib-2.0.so.0": "libglib2.0-0",
}
# what `make venv` users on Debian/Ubuntu install for the GUI (README, docs/shift-crew.md)
GUI_PACKAGES = ("libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1", "libxcb-randr0", "libxcb-render-util0",
                "libxcb-shape0", "libxcb-xfixes0", "libxcb-xinerama0", "libxcb-xkb1", "libxkbcommon-x11-0",
                "libxcb-cursor0", "libfontconfig1", "libdbus-1-3", "libgl1", "libegl1")
HEADLESS = "QT_QPA_PLATFORM=offscreen sevens gui ... --screenshot PNG works without a display"
PROBE = "import sys\nfrom PyQt5.QtWidgets import QApplication\nQApplication(sys.argv[:1])\n"
PROBE_TIMEOUT_S = 60.0


def xcb_plugin() -> Path | None:
    from PyQt5.QtCore import QLibraryInfo

    path = Path(QLibraryInfo.location(QLibraryInfo.PluginsPath)) / "platforms" / "libqxcb.so"
    return path if path.is_file() else None


def missing_libraries(plugin: Path) -> list[str]:
    """The shared libraries ``plugin`` needs that the dynamic linker cannot find (``ldd``)."""
    try:
        out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted(set(re.findall(r"^\s*(\S+) => not found", out, re.MULTILINE)))


def describe(platform: str, stderr: str, missing: list[str], display: bool) -> str:
    """One line: what stops Qt, and what to install or set."""
    if platform in ("", "xcb") and missing:
        packages = sorted({XCB_PACKAGES.get(lib, lib) for lib in missing})
        return (f"no usable Qt platform: the xcb plugin cannot load, missing {', '.join(missing)}; install the "
                f"system packages: sudo apt-get install {' '.join(packages)} ({HEADLESS})")
    if platform in ("", "xcb") and not display:
        return f"no usable Qt platform: no display (DISPLAY is not set; log in graphically or use ssh -X; {HEADLESS})"
    said = [line.strip() for line in stderr.splitlines() if line.strip() and "Reinstalling" not in line]
    why = said[0] if said else "QApplication could not be created"
    return f"no usable Qt platform {platform or 'xcb'!r}: {why} ({HEADLESS})"


def platform_problem(env: dict[str, str] | None = None) -> str | None:
    """None if a child process can create a QApplication with this environment, else what stops it."""
    env = dict(os.environ if env is None else env)
    platform = env.get("QT_QPA_PLATFORM", "").split(":")[0]
    if platform in ("offscreen", "minimal"):
        return None  # need no display and no system libraries beyond Qt's own
    try:
        proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env,
                              timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"no usable Qt platform: creating a QApplication did not finish within {PROBE_TIMEOUT_S:.0f} s"
    if proc.returncode == 0:
        return None
    plugin = xcb_plugin() if platform in ("", "xcb") else None
    missing = missing_libraries(plugin) if plugin is not None else []
    return describe(platform, proc.stderr, missing, bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")))
