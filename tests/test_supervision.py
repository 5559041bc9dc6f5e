"""The model worker is supervised: killed (as the OOM killer kills it), it is
started again with a backoff while work remains, and an image that keeps
killing it is quarantined, recorded with its reason, instead of stalling the
rest. The daemon is a real ``pximse serve`` with a tiny ONNX tagger."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from helpers.processes import write_library
from helpers.serve import Serve, serve_with_tagger, tagger_rows
from helpers.waiting import wait_for
from PIL import Image

pytestmark = pytest.mark.slow


def workers(serve: Serve) -> list[psutil.Process]:
    found = []
    for process in psutil.Process(serve.process.pid).children(recursive=True):
        try:
            if "pximse.service.index_child" in " ".join(process.cmdline()):
                found.append(process)
        except psutil.Error:  # gone, or a zombie not reaped yet
            continue
    return found


def worker_state(serve: Serve) -> dict[str, Any]:
    return ((serve.status() or {}).get("indexing") or {}).get("worker") or {}


def stop(serve: Serve) -> None:
    serve.process.send_signal(signal.SIGTERM)
    try:
        serve.process.wait(60)
    finally:
        if serve.process.poll() is None:
            serve.process.kill()


def test_a_killed_worker_is_started_again_while_work_remains(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    write_library(library, 60, size=(400, 300))
    serve = serve_with_tagger(tmp_path, library, indexing="cpu_share = 0.2")
    try:
        killed: list[int] = []
        for deaths in (1, 2):
            wait_for(lambda d=deaths: workers(serve) and len(tagger_rows(serve.data)) >= 4 * d,
                     what="a worker at work")
            [worker] = workers(serve)
            done_before = dict(tagger_rows(serve.data))
            worker.send_signal(signal.SIGKILL)  # what the OOM killer does
            killed.append(worker.pid)
            state = wait_for(lambda d=deaths: (s := worker_state(serve)).get("deaths") == d
                             and s, what="the death in the status")
            assert "killed by SIGKILL" in state["last_death"]
        # Not idle with work left: a new worker picks up, and finishes everything.
        wait_for(lambda: len(tagger_rows(serve.data)) == 60, timeout=180,
                 what="the indexing to finish after the deaths")
        after = tagger_rows(serve.data)
        assert all(after[cid] == ns for cid, ns in done_before.items())  # nothing redone
        assert {p.pid for p in workers(serve)}.isdisjoint(killed)
        status = serve.status() or {}
        assert status["indexing"]["worker"]["deaths"] == 2
        assert "error" not in status["models"]  # working again: no stale alarm
        assert not any(e["reason"] == "quarantined" for e in status["recent_errors"])
    finally:
        stop(serve)


def test_an_image_that_keeps_killing_the_worker_is_quarantined(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    write_library(library, 20, size=(200, 150))
    # The poison (among the first batch): big enough that the worker holds it a while.
    poison = Image.linear_gradient("L").resize((7000, 7000)).convert("RGB")
    poison.save(library / "0_1002_p1.png", compress_level=1)
    serve = serve_with_tagger(tmp_path, library, batch_size=4)
    stop_killing = threading.Event()
    kills: list[list[int]] = []
    try:
        wait_for(lambda: (serve.status() or {}).get("images") == 21, what="the scan")
        with sqlite3.connect(serve.data / "catalog.sqlite3") as conn:
            [(poison_id,)] = conn.execute(
                "SELECT content_id FROM file WHERE name = '0_1002_p1.png'").fetchall()

        def kill_whenever_the_poison_is_in_hand() -> None:
            # The kernel's OOM killer, as it would act if this image blew the memory.
            while not stop_killing.is_set():
                hand = worker_state(serve).get("in_hand") or []
                if poison_id in hand:
                    for worker in workers(serve):
                        try:
                            worker.send_signal(signal.SIGKILL)
                        except psutil.Error:
                            continue
                        kills.append(list(hand))
                    wait_for(lambda: not workers(serve) or poison_id not in
                             (worker_state(serve).get("in_hand") or []), what="the death")
                stop_killing.wait(0.02)

        killer = threading.Thread(target=kill_whenever_the_poison_is_in_hand, daemon=True)
        killer.start()
        wait_for(lambda: len(tagger_rows(serve.data)) == 21, timeout=240,
                 what="everything done or quarantined")
        stop_killing.set()
        killer.join(10)
        with sqlite3.connect(serve.data / "catalog.sqlite3") as conn:
            errors = dict(conn.execute(
                "SELECT content_id, error FROM stage WHERE status = 'error'"))
        assert list(errors) == [poison_id]  # its batch-mates were indexed
        assert errors[poison_id].startswith("quarantined: the indexing worker died 2 times")
        assert "SIGKILL" in errors[poison_id]
        # First killed amid its batch-mates, then found by trying each alone.
        assert len(kills[0]) > 1 and [len(hand) for hand in kills][-2:] == [1, 1]
        status = serve.status() or {}
        assert status["indexing"]["worker"]["quarantined"] == 1
        [listed] = [e for e in status["recent_errors"] if e["reason"] == "quarantined"]
        assert listed["path"].endswith("0_1002_p1.png")
        detail = httpx.get(f"http://127.0.0.1:{serve.port}/api/images/"
                           f"{_sha(serve, poison_id)}", timeout=10).json()
        assert detail["stages"][0]["error"] == errors[poison_id]
    finally:
        stop_killing.set()
        stop(serve)


def _sha(serve: Serve, content_id: int) -> str:
    with sqlite3.connect(serve.data / "catalog.sqlite3") as conn:
        return str(conn.execute("SELECT sha256 FROM content WHERE id = ?",
                                (content_id,)).fetchone()[0])


def test_status_lines_show_a_restarting_worker() -> None:
    from pximse.cli.follow import describe_daemon

    status = {"images": 5, "files": 5, "indexing": {
        "paused": False, "running": False,
        "stages": {"tagger": {"done": 1, "total": 5, "rate": 0.0, "eta_s": None,
                              "state": "restarting in 2 s"}},
        "worker": {"deaths": 1, "last_death": "killed by SIGKILL", "in_hand": [],
                   "suspects": [3, 4], "quarantined": 0}}}
    text = describe_daemon(status)
    assert "restarting in 2 s" in text and "died 1 time" in text
    json.dumps(status)
