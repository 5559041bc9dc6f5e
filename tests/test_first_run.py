"""The first start, end to end: ``pximse serve`` on a fresh data folder with the
default models, their weights downloaded from a local stand-in for Hugging Face.

The stand-in serves small models in the real formats and the real layouts —
a WD14 tagger (``model.onnx`` + ``selected_tags.csv``) where SmilingWolf's
repository has it, and CLIP's ONNX towers with their tokenizer in Immich's
layout where ``immich-app/ViT-B-32__openai`` has them (exported here from a
tiny random-weight open_clip model by PxIMSE's own export code) — and answers
as the hub does: the file's SHA-256 in ``X-Linked-Etag``, ranges honoured.

First it refuses (503, as a hub or a proxy does when it is down): the daemon
keeps serving and OCR indexes meanwhile, searches answer, and each waiting
stage says why and when it tries again, and does try again. Then it serves:
the download's progress arrives as events, each stage turns ready, and every
image is indexed by all three stages.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import draw_picture, http_server
from helpers.processes import free_port, pximse
from helpers.waiting import wait_for
from helpers.wd14_model import build_model, make_weights
from PIL import Image, ImageDraw, ImageFont

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")

from helpers.clip_model import ARCH_QG, tiny_archs, tiny_model  # noqa: E402,F401

pytestmark = pytest.mark.slow  # every test here takes seconds

TAGGER_REPO = "SmilingWolf/wd-vit-tagger-v3"
CLIP_REPO = "immich-app/ViT-B-32__openai"


class HubStandIn(http.server.BaseHTTPRequestHandler):
    """Files under ``server.root`` at ``/<repo>/resolve/main/<file>``, or 503 while
    ``server.refusing``."""

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        server: Any = self.server
        server.requests.append(self.path)
        if server.refusing:
            self.send_error(503, "Service Unavailable")
            return
        path = server.root / self.path.lstrip("/").replace("/resolve/main/", "/", 1)
        if not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        start = 0
        wanted = self.headers.get("Range")
        if wanted:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("X-Linked-Etag", f'"{hashlib.sha256(body).hexdigest()}"')
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])

    def log_message(self, format: str, *args: object) -> None:
        pass


def publish_models(root: Path) -> None:
    """The tiny tagger and CLIP, laid out as their repositories are."""
    from pximse.models.base import WeightsSource
    from pximse.models.clip import ClipModel
    from pximse.models.clip_export import export_clip

    build_model(root / TAGGER_REPO, *make_weights())
    weights = root / "tiny-clip.bin"
    torch.save(tiny_model(3, ARCH_QG).state_dict(), weights)
    clip = ClipModel(WeightsSource(root, local_path=weights), ARCH_QG, None, device="cpu")
    export_clip(clip, root / CLIP_REPO)
    (root / CLIP_REPO / "pximse_export.json").unlink()  # Immich's folder has none


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[http.server.ThreadingHTTPServer]:
    with http_server(HubStandIn) as server:
        server.root = tmp_path / "hub"  # type: ignore[attr-defined]
        server.refusing = True  # type: ignore[attr-defined]
        publish_models(server.root)  # type: ignore[attr-defined]
        yield server


def write_library(root: Path) -> list[Path]:
    root.mkdir(parents=True)
    font = ImageFont.load_default(size=48)
    paths = []
    for i, word in enumerate(["HELLO WORLD", "GOOD MORNING", "THANK YOU"]):
        image = Image.new("RGB", (520, 140), "white")
        ImageDraw.Draw(image).text((20, 30), word, font=font, fill="black")
        paths.append(root / f"text_{i}.png")
        image.save(paths[-1])
    for i in range(3):
        paths.append(root / f"picture_{i}.png")
        draw_picture(100 + i, (120, 90)).save(paths[-1])
    return paths


class EventLog:
    """The daemon's /api/events, collected on a thread of its own."""

    def __init__(self, url: str) -> None:
        self.events: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url,), daemon=True)
        self._thread.start()

    def _read(self, url: str) -> None:
        while not self._stop.is_set():
            try:
                with httpx.stream("GET", f"{url}/api/events", timeout=30) as response:
                    data: list[str] = []
                    for line in response.iter_lines():
                        if self._stop.is_set():
                            return
                        if line.startswith("data:"):
                            data.append(line[5:].strip())
                        elif not line and data:
                            self.events.append(json.loads("\n".join(data)))
                            data = []
            except httpx.HTTPError:
                self._stop.wait(0.2)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e["data"] for e in list(self.events) if e["kind"] == kind]

    def close(self) -> None:
        self._stop.set()


def stage_rows(data: Path) -> dict[str, set[int]]:
    with sqlite3.connect(f"file:{data / 'catalog.sqlite3'}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT stage, content_id FROM stage WHERE status = 'done'")
        found: dict[str, set[int]] = {}
        for stage, content_id in rows:
            found.setdefault(stage, set()).add(content_id)
        return found


def test_first_start_downloads_the_weights_and_indexes_with_all_three_models(
        tmp_path: Path, hub: http.server.ThreadingHTTPServer) -> None:
    library = tmp_path / "lib"
    write_library(library)
    port = free_port()
    hub_port = hub.server_address[1]
    config = tmp_path / "config.toml"
    # The default [models] section but for where the weights come from.
    config.write_text(
        f'[[library.roots]]\nname = "lib"\npath = "{library}"\n[server]\nport = {port}\n'
        f'[models]\ndownload_url = "http://127.0.0.1:{hub_port}"\nbatch_size = 2\n')
    data = tmp_path / "data"
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PXIMSE_LOG_DIR": str(tmp_path / "logs"),
           "PXIMSE_WEIGHTS_RETRY_S": "1"}
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    started = time.monotonic()
    daemon = subprocess.Popen(pximse("serve", "--config", str(config), "--data-dir", str(data)),
                              stdout=log, stderr=subprocess.STDOUT, env=env)
    events: EventLog | None = None

    def status() -> dict[str, Any]:
        try:
            return httpx.get(f"{url}/api/status", timeout=10).json()
        except httpx.HTTPError:
            return {}

    def stage(name: str) -> dict[str, Any]:
        return status().get("indexing", {}).get("stages", {}).get(name) or {}

    try:
        wait_for(status, 60, "the daemon to answer")
        events = EventLog(url)

        # Refused: both downloading stages wait, say why and when, and try again.
        wait_for(lambda: stage("tagger").get("state", "").startswith("waiting for weights: ")
                 and "503" in stage("tagger")["state"] and "next try at" in stage("tagger")["state"]
                 and "clip" in status()["models"]["weights"], 60, "the tagger to wait")
        tried = len(hub.requests)  # type: ignore[attr-defined]
        wait_for(lambda: len(hub.requests) > tried + 1, 30, "a retry")  # type: ignore[attr-defined]
        weights = status()["models"]["weights"]
        assert weights["tagger"]["state"] in ("waiting", "downloading")
        assert "503" in (weights["clip"].get("message") or "503")

        # Meanwhile OCR (its models ship with RapidOCR) indexes, and searches answer.
        wait_for(lambda: len(stage_rows(data).get("ocr", ())) == 6, 180, "OCR to finish")
        found = httpx.get(f"{url}/api/search", params={"q": "ocr:hello"}, timeout=30).json()
        assert [Path(item["path"]).name for item in found["items"]] == ["text_0.png"]
        assert "tagger" not in stage_rows(data) and "clip" not in stage_rows(data)
        clip_search = httpx.get(f"{url}/api/search", params={"q": 'clip:"a cat"'}, timeout=30)
        assert clip_search.status_code != 500

        # The hub comes back: progress, each stage ready, everything indexed three times.
        # The next try may be a while: the wait doubles after each failure (from 1 s
        # here), so it is at most as long as the daemon has been failing, which on a
        # loaded machine, while OCR works, can reach minutes.
        hub.refusing = False  # type: ignore[attr-defined]
        wait_for(lambda: all(status().get("models", {}).get("weights", {}).get(s, {})
                             .get("state") == "ready" for s in ("tagger", "clip")),
                 time.monotonic() - started + 90, "the weights to arrive")
        wait_for(lambda: all(len(stage_rows(data).get(s, ())) == 6
                             for s in ("tagger", "ocr", "clip")), 240, "all three stages")
        progress = [e for e in events.of("weights") if e["state"] == "downloading"]
        files = {(e["stage"], e["file"]) for e in progress}
        assert ("tagger", "model.onnx") in files and ("clip", "visual/model.onnx") in files
        finished = [e for e in progress if e["file"] == "visual/model.onnx"
                    and e["done"] == e["total"]]
        assert finished, progress
        assert {e["stage"] for e in events.of("weights") if e["state"] == "ready"} == \
            {"tagger", "clip"}
        logged = (tmp_path / "logs" / "daemon.log").read_text(errors="replace")
        assert "clip weights: visual/model.onnx 100% of" in logged  # progress in the log too
        assert "tagger weights ready (downloaded)" in logged
        models = data / "models"
        assert (models / "wd-vit-tagger-v3" / "model.onnx").is_file()
        assert (models / "ViT-B-32__openai" / "textual" / "tokenizer.json").is_file()
        assert not list(models.rglob("*.part"))

        wait_for(lambda: stage("clip").get("state") == "idle", 60, "indexing to settle")
        body = status()
        assert body["models"]["weights"]["clip"]["state"] == "ready"
        ids = {row["model_id"] for row in body["models"]["stages"].values()
               if "model_id" in row}
        assert "clip:ViT-B-32-quickgelu:openai" in ids
        clip_search = httpx.get(f"{url}/api/search", params={"q": 'clip:"a cat"'}, timeout=60)
        assert clip_search.status_code == 200 and len(clip_search.json()["items"]) == 6
        tagged = httpx.get(f"{url}/api/search", params={"q": "rating:general"}, timeout=30)
        assert tagged.status_code == 200
    finally:
        if events is not None:
            events.close()
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
        log.close()
