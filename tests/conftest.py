"""Shared fixtures: real image files, a real configuration file, a real catalogue.

Nothing here is faked: images are drawn with Pillow, the catalogue is SQLite in
a temp folder, and configuration goes through the real loader.
"""

from __future__ import annotations

import http.server
import importlib.util
import os
import random
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from pximse.config import Config, load_config
from pximse.store.sqlite.catalog import SqliteCatalog

MakeImage = Callable[..., Path]

# No test reaches a real model hub: a download that a test does not point at a
# server of its own fails at once (nothing listens on port 9), here and in the
# processes the tests start.
os.environ.setdefault("HF_ENDPOINT", "http://127.0.0.1:9")


@contextmanager
def http_server(handler: Callable[..., http.server.BaseHTTPRequestHandler]
                ) -> Iterator[http.server.ThreadingHTTPServer]:
    """A real HTTP server on a free port of 127.0.0.1, for as long as the block
    runs; ``server.requests`` collects what handlers append to it."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def draw_picture(seed: int, size: tuple[int, int] = (64, 48)) -> Image.Image:
    """A picture that differs from other seeds (so perceptual hashes differ)."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        x1, y1 = x0 + rng.randrange(8, size[0]), y0 + rng.randrange(8, size[1])
        draw.rectangle((x0, y0, x1, y1), fill=tuple(rng.randrange(256) for _ in range(3)))
    return image


@pytest.fixture
def make_image() -> MakeImage:
    def make(
        path: Path,
        seed: int = 0,
        size: tuple[int, int] = (64, 48),
        fmt: str | None = None,
        **save: object,
    ) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        draw_picture(seed, size).save(path, format=fmt, **save)
        return path

    return make


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    root.mkdir()
    return root


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Config]:
    def make(roots: dict[str, Path] | None = None, extra: str = "") -> Config:
        lines = []
        for name, path in (roots or {}).items():
            lines += ["[[library.roots]]", f'name = "{name}"', f'path = "{path}"', ""]
        config_file = tmp_path / "config.toml"
        config_file.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
        return load_config(config_file, tmp_path / "data", env={})

    return make


@pytest.fixture
def catalog(tmp_path: Path) -> SqliteCatalog:
    cat = SqliteCatalog(tmp_path / "data" / "catalog.sqlite3")
    yield cat
    cat.close()


def copy_source(destination: Path) -> Path:
    """The distribution's sources in a folder of their own, so that builds running
    in parallel tests do not share setuptools' build/ folder in the work tree."""
    import shutil

    root = Path(__file__).resolve().parents[1]
    destination.mkdir(parents=True, exist_ok=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, destination / name)
    for folder in ("daemon", "tray", "integrations"):
        shutil.copytree(root / folder, destination / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return destination


SYSTEM_HINT = "Debian/Ubuntu: apt-get install {package}; `make test` installs it when it can"


def require_programs(*names: str, package: str) -> None:
    """Skip the test, saying why, when a program the system provides is missing:
    a missing system package is never a failure (``make test`` installs them
    where it can: as root, or with sudo, on Debian or Ubuntu)."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed ({SYSTEM_HINT.format(package=package)})")


def require_tk() -> None:
    """Skip when Python has no Tk (the tray's status window)."""
    hint = SYSTEM_HINT.format(package="python3-tk")
    if importlib.util.find_spec("tkinter") is None:
        pytest.skip(f"Python's tkinter is not available ({hint})")
    try:
        import tkinter  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"Python's tkinter cannot be loaded: {exc} ({hint})")


CJK_FONT = "NotoSansCJK-Regular.ttc"


@pytest.fixture(scope="session")
def cjk_font() -> Path:
    """Debian's Noto CJK collection (faces: 0 Japanese, 2 Simplified Chinese), which
    the OCR tests draw their text with; `make system-deps` installs it."""
    for folder in (Path("/usr/share/fonts"), Path("/usr/local/share/fonts")):
        if folder.is_dir():
            found = sorted(folder.rglob(CJK_FONT))
            if found:
                return found[0]
    pytest.skip(
        f"the OCR tests draw their text with {CJK_FONT}, which is not installed "
        f"({SYSTEM_HINT.format(package='fonts-noto-cjk')})"
    )


@pytest.fixture(scope="session")
def milvus_server_uri(request: pytest.FixtureRequest,
                      tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real Milvus server for the run: ``PXIMSE_TEST_MILVUS_URI`` when set (any
    version), else the ``milvus`` package's 2.3 server, started once for every
    worker of the run (tests/helpers/milvus_server.py) and stopped when the run ends."""
    import os
    import sys

    from helpers.milvus_server import shared_server

    given = os.environ.get("PXIMSE_TEST_MILVUS_URI", "")
    if given:
        return given
    if not sys.platform.startswith("linux"):
        pytest.skip("the milvus package's server runs on Linux here; set "
                    "PXIMSE_TEST_MILVUS_URI to a Milvus server")
    worker = hasattr(request.config, "workerinput")
    shared = tmp_path_factory.getbasetemp().parent if worker else tmp_path_factory.getbasetemp()
    return shared_server(shared / "milvus-server", os.getppid() if worker else os.getpid())


# -- mounting (a drive that comes and goes, a disk that fills up) ---------------------


@cache
def mount_refused() -> str | None:
    """Why this machine does not let the tests mount a tmpfs (None when it does)."""
    if not os.path.exists("/proc/self/mounts") or shutil.which("mount") is None:
        return "no Linux mount command here"
    with tempfile.TemporaryDirectory() as where:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", where],
                              capture_output=True, text=True)
        if done.returncode != 0:
            return f"mounting a tmpfs is not allowed here: {done.stderr.strip()}"
        subprocess.run(["umount", where], check=True)
    return None


class Mounts:
    def __init__(self) -> None:
        self.points: list[Path] = []

    def tmpfs(self, where: Path, size: str = "16m") -> Path:
        where.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                       check=True)
        self.points.append(where)
        return where

    def bind(self, source: Path, where: Path) -> None:
        subprocess.run(["mount", "--bind", str(source), str(where)], check=True)
        self.points.append(where)

    def unmount(self, where: Path) -> None:
        subprocess.run(["umount", str(where)], check=True)
        self.points.remove(where)

    def close(self) -> None:
        for where in reversed(self.points):
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture
def mounts() -> Iterator[Mounts]:
    why = mount_refused()
    if why:
        pytest.skip(why)
    made = Mounts()
    yield made
    made.close()
