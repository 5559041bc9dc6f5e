"""What the watching benchmarks share: distinct small images, a daemon process
to talk to, and waiting on a condition."""

from __future__ import annotations

import io
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import REPO_DIR
from PIL import Image, ImageDraw


def picture_bytes(seed: int, size: tuple[int, int] = (48, 36), fmt: str = "PNG",
                  color: tuple[int, int, int] | None = None) -> bytes:
    """A small image unlike the other seeds' (so every file is new content)."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, color or tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        draw.rectangle((x, y, x + 6, y + 6), fill=tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def write_tree(folder: Path, count: int, *, per_folder: int = 500, first_seed: int = 0
               ) -> list[Path]:
    paths = []
    for i in range(count):
        sub = folder / f"set{i // per_folder:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"{i // 100}_{100000 + first_seed + i}_p0.png"
        path.write_bytes(picture_bytes(first_seed + i))
        paths.append(path)
    return paths


def wait_for(condition: Callable[[], Any], timeout: float, poll_s: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    raise TimeoutError("condition not met in time")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_daemon(workdir: Path, roots: dict[str, Path], *args: str, extra: str = "",
                 ) -> tuple[subprocess.Popen[bytes], int]:
    """``pximse serve`` on its own data folder and port, once it answers."""
    import httpx

    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.toml"
    lines = [f'[[library.roots]]\nname = "{name}"\npath = "{path}"\n'
             for name, path in roots.items()]
    config.write_text("".join(lines) + f"[server]\nport = {port}\n" + extra)
    process = subprocess.Popen(
        [sys.executable, "-m", "pximse", "serve", "--config", str(config),
         "--data-dir", str(workdir / "data"), *args],
        cwd=REPO_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PXIMSE_LOG_DIR": str(workdir / "logs")},
    )

    def answers() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(answers, 120, 0.2)
    return process, port
