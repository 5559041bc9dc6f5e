"""Running the `pximse` command in its own process, on a library of drawn pictures."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from conftest import draw_picture


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pximse(*args: str) -> list[str]:
    return [sys.executable, "-m", "pximse", *args]


def write_library(root: Path, count: int, size: tuple[int, int] = (64, 48)) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        draw_picture(i, size).save(root / f"{i // 100}_{1000 + i}_p0.png")
