"""`pximse serve` in its own process with a tiny tagger, and what it wrote."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import httpx

from helpers.processes import free_port, pximse
from helpers.wd14_model import NAME, build_model, make_weights

TIMEOUT = 120.0

class Serve:
    def __init__(self, tmp_path: Path, config: Path) -> None:
        self.port = int(json.loads((tmp_path / "port.json").read_text()))
        self.data = tmp_path / "data"
        self.log = open(tmp_path / "serve.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            pximse("serve", "--config", str(config), "--data-dir", str(self.data)),
            stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "PXIMSE_LOG_DIR": str(tmp_path / "logs")},
        )

    def status(self) -> dict[str, Any] | None:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/api/status", timeout=5).json()
        except httpx.HTTPError:
            return None

    def post(self, path: str) -> Any:
        return httpx.post(f"http://127.0.0.1:{self.port}{path}", timeout=5).json()


def serve_with_tagger(tmp_path: Path, library: Path, *, batch_size: int = 2,
                      indexing: str = "") -> Serve:
    """``pximse serve`` over ``library`` with a tiny ONNX tagger (the only model);
    ``indexing`` holds ``[indexing]`` settings (TOML lines)."""
    model = build_model(tmp_path / "weights" / NAME, *make_weights(0))
    port = free_port()
    (tmp_path / "port.json").write_text(str(port))
    config = tmp_path / "config.toml"
    config.write_text(
        f'[[library.roots]]\nname = "lib"\npath = "{library}"\n[server]\nport = {port}\n'
        f'[models]\ntagger = "wd-vit-tagger-v3"\ntagger_path = "{model}"\nocr = ""\n'
        f'clip = ""\nbatch_size = {batch_size}\n[indexing]\n{indexing}\n'
    )
    return Serve(tmp_path, config)


def tagger_rows(data: Path) -> dict[int, int]:
    """content id -> updated_ns of the finished tagger results."""
    with sqlite3.connect(f"file:{data / 'catalog.sqlite3'}?mode=ro", uri=True) as conn:
        return dict(conn.execute(
            "SELECT content_id, updated_ns FROM stage WHERE stage = 'tagger'"))
