"""What the tray tests run against: a real X server (Xvfb), a real system tray
(trayer), and a real daemon (`pximse serve` in a process of its own).

Debian packages `xvfb` and `trayer` (`make system-deps`).
"""

from __future__ import annotations

import atexit
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from conftest import draw_picture, require_programs


def wait_until(predicate: Callable[[], object], timeout: float = 60.0,
               interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float = 30) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    """An X server on a display number it picks itself (-displayfd), so tests
    running side by side never collide."""
    require_programs("Xvfb", package="xvfb")
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "800x600x24", "-nolisten", "tcp",
         "-noreset"],  # no reset when the last client leaves: the next would be refused
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    atexit.register(stop, process)  # even if a test run ends without its teardown
    number = b""
    deadline = time.monotonic() + 30
    while not number.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([read_end], [], [], 1.0)
        if ready:
            chunk = os.read(read_end, 16)
            if not chunk:
                break
            number += chunk
    os.close(read_end)
    if not number.strip():
        stop(process)
        raise RuntimeError("Xvfb did not report its display number")
    return process, f":{number.strip().decode()}"


def tray_owner(display: str) -> int:
    """The window that owns the display's system-tray selection (0: none)."""
    import Xlib.display

    connection = Xlib.display.Display(display)
    try:
        atom = connection.intern_atom(f"_NET_SYSTEM_TRAY_S{connection.get_default_screen()}")
        owner = connection.get_selection_owner(atom)
        return int(owner.id) if owner else 0
    finally:
        connection.close()


def start_trayer(display: str) -> subprocess.Popen[bytes]:
    require_programs("trayer", package="trayer")
    process = subprocess.Popen(
        ["trayer", "--widthtype", "request", "--heighttype", "pixel", "--height", "32"],
        env={**os.environ, "DISPLAY": display},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    atexit.register(stop, process)
    if not wait_until(lambda: tray_owner(display), timeout=30):
        stop(process)
        raise RuntimeError("trayer did not take the system-tray selection")
    return process


def docked_icon(display: str, title_start: str = "PxIMSE") -> str | None:
    """The title of an icon window docked in the system tray (a window whose
    ancestors include the tray owner's top-level window), or None."""
    import Xlib.display
    import Xlib.error

    connection = Xlib.display.Display(display)
    try:
        root = connection.screen().root

        def walk(window, inside: bool) -> str | None:  # type: ignore[no-untyped-def]
            try:
                name = window.get_wm_name()
                children = window.query_tree().children
                wm_class = window.get_wm_class() or ()
            except Xlib.error.XError:
                return None
            inside = inside or "trayer" in wm_class or "Trayer" in wm_class
            if inside and isinstance(name, str) and name.startswith(title_start):
                return name
            for child in children:
                found = walk(child, inside)
                if found:
                    return found
            return None

        return walk(root, False)
    finally:
        connection.close()


def window_titled(display: str, title: str) -> bool:
    import Xlib.display
    import Xlib.error

    connection = Xlib.display.Display(display)
    try:
        pending = [connection.screen().root]
        while pending:
            window = pending.pop()
            try:
                if window.get_wm_name() == title:
                    return True
                pending.extend(window.query_tree().children)
            except Xlib.error.XError:
                continue
        return False
    finally:
        connection.close()


@dataclass
class Daemon:
    """A `pximse serve` process and what it was started with."""

    process: subprocess.Popen[bytes]
    port: int
    config: Path
    data_dir: Path
    library: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def status(self) -> dict:  # type: ignore[type-arg]
        return httpx.get(f"{self.url}/api/status", timeout=10).json()  # type: ignore[no-any-return]


def write_daemon_config(folder: Path, port: int, images: int = 3, extra: str = "") -> Path:
    library = folder / "library"
    library.mkdir(parents=True, exist_ok=True)
    for number in range(images):
        draw_picture(number).save(library / f"picture_{number}.png")
    config = folder / "config.toml"
    config.write_text(
        f'[[library.roots]]\nname = "lib"\npath = "{library}"\n\n[server]\nport = {port}\n'
        + extra, encoding="utf-8")
    return config


def start_daemon(folder: Path, *args: str, env: dict[str, str] | None = None) -> Daemon:
    port = free_port()
    config = write_daemon_config(folder, port)
    data_dir = folder / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "pximse", "--config", str(config), "--data-dir", str(data_dir),
         "serve", *args],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    daemon = Daemon(process, port, config, data_dir, folder / "library")

    def answers() -> bool:
        try:
            daemon.status()
            return True
        except httpx.HTTPError:
            return process.poll() is not None

    wait_until(answers, timeout=120, interval=0.1)
    if process.poll() is not None:
        raise RuntimeError(f"the daemon exited with status {process.returncode}")
    return daemon


def answers(url: str) -> bool:
    """Whether something answers ``GET /api/status`` at ``url``."""
    try:
        httpx.get(f"{url}/api/status", timeout=5)
        return True
    except httpx.HTTPError:
        return False


@contextmanager
def running_daemon(folder: Path, *args: str) -> Iterator[Daemon]:
    """A `pximse serve` in ``folder`` for as long as the block runs."""
    daemon = start_daemon(folder, *args)
    try:
        yield daemon
    finally:
        stop(daemon.process)


@contextmanager
def desktop_with_tray() -> Iterator[str]:
    """An X display with a system tray on it, for as long as the block runs."""
    xvfb, display = start_xvfb()
    try:
        trayer = start_trayer(display)
        try:
            yield display
        finally:
            stop(trayer)
    finally:
        stop(xvfb)


def tray_env(display: str | None, home: Path, **extra: str) -> dict[str, str]:
    """The environment of a `pximse tray` process: its own HOME and log folder,
    pystray's X backend, and the display (or none); no session bus but one
    ``extra`` names."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("DISPLAY", "WAYLAND_DISPLAY", "PXIMSE_CONFIG", "PXIMSE_DATA_DIR",
                          "DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_STATE_HOME=str(home / ".state"), PXIMSE_LOG_DIR=str(home / "logs"),
               PYSTRAY_BACKEND="xorg", **extra)
    if display is not None:
        env["DISPLAY"] = display
    return env
