"""`make test` on a machine without the system packages the tests use.

Such a machine is imitated by a ``PATH`` that holds every program of this one
but those ``make system-deps`` installs (exiftool, exiv2, Xvfb, trayer,
xfce4-panel, dbus, desktop-file-validate, fc-list, chromium) and apt-get, so
that nothing can be installed either. ``make system-deps`` then says what is
missing and succeeds, and the tests that drive those programs are skipped,
each saying which package it needs: a missing system package is never a
failure or an error.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every test here takes seconds

REPO = Path(__file__).resolve().parents[1]
SYSTEM_PROGRAMS = ("exiftool", "exiv2", "Xvfb", "trayer", "xfce4-panel", "dbus-run-session",
                   "dbus-daemon", "desktop-file-validate", "fc-list", "chromium",
                   "chromedriver", "apt-get", "sudo")
# Test files that drive those programs (each through its own skip, not a shared one).
DRIVING = ("test_exiftool_session.py", "test_xmp_sidecars.py", "test_tray_process.py",
           "test_tray_display.py", "test_tray_real_panel.py")


@pytest.fixture(scope="module")
def bare_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A folder of links to every program on ``PATH`` but the system packages'."""
    folder = tmp_path_factory.mktemp("bin")
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            link = folder / entry.name
            if entry.name not in SYSTEM_PROGRAMS and not link.exists():
                link.symlink_to(entry.path)
    assert all(shutil.which(name, path=str(folder)) is None for name in SYSTEM_PROGRAMS)
    return str(folder)


def test_system_deps_names_what_is_missing_and_succeeds(bare_path: str) -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    done = subprocess.run([make, "--no-print-directory", "system-deps",
                           f"BIN={Path(sys.executable).parent}"], cwd=REPO,
                          env={**os.environ, "PATH": bare_path}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    said = done.stdout
    for package in ("fonts-noto-cjk", "libimage-exiftool-perl", "exiv2", "xvfb", "trayer",
                    "dbus", "xfce4-panel"):
        assert re.search(rf"missing:.*\b{re.escape(package)}\b", said), said
    assert "the tests that need them are skipped" in said
    assert "installing" not in said


@pytest.mark.slow
def test_the_tests_that_drive_a_missing_program_are_skipped_with_the_reason(
        bare_path: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider", "-q", "-rs",
         "--basetemp", str(tmp_path / "run"), *(f"tests/{name}" for name in DRIVING)],
        cwd=REPO, env={**os.environ, "PATH": bare_path}, capture_output=True, text=True,
        timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    summary = output.strip().splitlines()[-1]
    assert "failed" not in summary and "error" not in summary, summary
    skipped = int(re.search(r"(\d+) skipped", summary).group(1))  # type: ignore[union-attr]
    assert skipped >= 10, summary
    reasons = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    for program in ("exiftool", "Xvfb", "xfce4-panel"):
        assert any(program in line for line in reasons), reasons
