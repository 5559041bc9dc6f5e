"""What the browser tests share: a real daemon process (`pximse serve`) on a
temporary library, and Debian's Chromium driven by Playwright.

A test module imports the fixtures it uses (``from helpers.web_fixtures import browser``)
so that each module starts one daemon and one browser.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import SYSTEM_HINT

CHROMIUM = os.environ.get("PXIMSE_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}

XSS = '<img src=x onerror="window.__pwned=1">'
"""Text that would run script if the page ever put library text in as HTML."""


@dataclass
class Daemon:
    url: str
    folder: Path
    library: Path
    opened_log: Path
    process: subprocess.Popen[bytes]
    ids: dict[str, str] = field(default_factory=dict)  # file name -> SHA-256
    extra: dict[str, Any] = field(default_factory=dict)

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.loads(response.read())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(folder: Path, library: Path, extra: str = "") -> Path:
    path = folder / "config.toml"
    path.write_text(f'[[library.roots]]\nname = "main"\npath = "{library}"\n\n{extra}',
                    encoding="utf-8")
    return path


def fake_opener(folder: Path) -> tuple[Path, Path]:
    """A folder holding an ``xdg-open`` that writes down what it was asked to open
    (put first on the daemon's PATH: the test machine has no desktop)."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    log = folder / "opened.txt"
    script = bin_dir / "xdg-open"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{log}"\n', encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return bin_dir, log


def start_daemon(folder: Path, library: Path, config: Path, *, timeout: float = 90) -> Daemon:
    """``pximse serve`` on a free port, without scanning (the test built the
    catalogue) or running models; waits until /api/status answers."""
    bin_dir, opened = fake_opener(folder)
    port = free_port()
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PXIMSE_CONFIG", None)
    env.pop("PXIMSE_DATA_DIR", None)
    log = open(folder / "daemon.log", "wb")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(
        [sys.executable, "-m", "pximse", "serve", "--no-scan", "--no-models",
         "--port", str(port), "--config", str(config), "--data-dir", str(folder / "data")],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the daemon exited with {process.returncode}: "
                               f"{(folder / 'daemon.log').read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url + "/api/status", timeout=5):
                break
        except urllib.error.HTTPError:
            break  # it answers (401 when it has a token)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("the daemon did not answer in time") from None
            time.sleep(0.1)
    return Daemon(url=url, folder=folder, library=library, opened_log=opened, process=process)


def start_scanned_daemon(folder: Path, pictures: dict[str, Any], extra: str = "") -> Daemon:
    """A daemon on a library of ``pictures`` (file name -> PIL image) that was scanned
    before it starts; ``extra`` goes into the configuration file."""
    from pximse.config import load_config
    from pximse.library.scan import scan_roots
    from pximse.store.sqlite.catalog import SqliteCatalog

    library = folder / "library"
    library.mkdir()
    for name, picture in pictures.items():
        picture.save(library / name)
    config_path = write_config(folder, library, extra)
    config = load_config(config_path, folder / "data", env={})
    catalog = SqliteCatalog(config.catalog_path)
    scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir, config=config.scan)
    catalog.close()
    return start_daemon(folder, library, config_path)


def stop_daemon(daemon: Daemon) -> None:
    daemon.process.terminate()
    try:
        daemon.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        daemon.process.kill()
        daemon.process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium (``make system-deps`` installs it), headless, via Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser tests need Playwright's Python package: "
                    "pip install -e '.[test]'")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        found = shutil.which("chromium")
        if found:  # there, but not where it was looked for: say how to point at it
            pytest.fail(f"the browser tests drive Chromium at {CHROMIUM}; it is at {found}: "
                        "set PXIMSE_TEST_CHROMIUM")
        pytest.skip(f"the browser tests drive Debian's Chromium at {CHROMIUM}, which is not "
                    f"installed ({SYSTEM_HINT.format(package='chromium chromium-driver')})")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        yield launched
        launched.close()


def screenshot(page: Any, name: str) -> Path:
    """Saved under tests/artifacts/ for a reviewer to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def watch_page(page: Any) -> list[str]:
    """Collect the page's uncaught script errors (a test asserts there are none)."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems
