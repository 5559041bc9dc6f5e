"""The daemon's weights fetcher on its own: backoff, what a waiting stage says,
and files that arrive by hand while downloads are off."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.waiting import wait_for

from pximse.config import Config
from pximse.events import EventBus
from pximse.models.weights import WeightsFile, WeightsSpec, cache_dir
from pximse.service.state import DaemonState, weights_text
from pximse.service.weights import RETRY_MAX_S, WeightsFetcher, retry_delay


def test_retries_back_off_to_an_hour() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert retry_delay(30) == RETRY_MAX_S == 3600


def test_what_a_stage_says_while_it_waits_or_downloads() -> None:
    when = time.mktime((2030, 1, 2, 14, 5, 9, 0, 0, -1))
    assert weights_text({"state": "waiting", "message": "HTTP Error 503", "next_try": when}) \
        == "waiting for weights: HTTP Error 503; next try at 14:05:09"
    assert weights_text({"state": "downloading", "file": "visual/model.onnx",
                         "done": 88_000_000, "total": 352_000_000, "files_left": 3}) \
        == "downloading weights: visual/model.onnx 25% of 352 MB, 2 more files"


class Recorder:
    def __init__(self) -> None:
        self.entries: list[tuple[str, dict[str, Any]]] = []

    def weights_update(self, stage: str, entry: dict[str, Any]) -> None:
        self.entries.append((stage, entry))


def spec() -> WeightsSpec:
    return WeightsSpec("tiny", (WeightsFile("a.bin", "http://127.0.0.1:9/a.bin"),
                                WeightsFile("b/c.json", "http://127.0.0.1:9/c.json")))


@pytest.mark.slow
def test_with_downloads_off_files_put_in_place_by_hand_are_noticed(
        make_config: Callable[..., Config], tmp_path: Path) -> None:
    config = make_config(extra="[models]\nallow_download = false\n")
    state = Recorder()
    ready: list[str] = []
    stopping = threading.Event()
    fetcher = WeightsFetcher(config, state, stopping, on_ready=ready.append,
                             specs={"clip": spec()})
    try:
        assert fetcher.start()
        wait_for(lambda: any(e["state"] == "waiting" for _, e in state.entries), 10, "waiting")
        waiting = next(e for _, e in state.entries if e["state"] == "waiting")
        assert "models.allow_download = false" in waiting["message"]
        assert "pximse models download" in waiting["message"]
        assert waiting["next_try"] is None  # it does not try: it waits for the files
        folder = cache_dir(config.data_dir, "tiny")
        (folder / "b").mkdir(parents=True)
        (folder / "a.bin").write_bytes(b"a")
        (folder / "b" / "c.json").write_text("{}")
        wait_for(lambda: ready == ["clip"], 15, "the files to be noticed")
    finally:
        stopping.set()
        fetcher.join(10)


def test_a_refused_download_is_tried_again_later(make_config: Callable[..., Config]) -> None:
    config = make_config()
    state = Recorder()
    stopping = threading.Event()
    fetcher = WeightsFetcher(config, state, stopping, on_ready=lambda stage: None,
                             specs={"tagger": spec()}, first_retry_s=0.2)
    try:
        fetcher.start()
        wait_for(lambda: sum(e["state"] == "waiting" for _, e in state.entries) >= 3, 20,
                 "three tries")
        tries = [e for _, e in state.entries if e["state"] == "waiting"]
        assert all("could not download a.bin" in e["message"] for e in tries)
        gaps = [b["next_try"] - a["next_try"] for a, b in zip(tries, tries[1:], strict=False)]
        assert gaps[1] > gaps[0]  # twice as long each time
    finally:
        stopping.set()
        fetcher.join(10)


def test_the_status_shows_the_weights_in_place_of_an_idle_stage(
        make_config: Callable[..., Config], catalog: Any) -> None:
    state = DaemonState(make_config(), catalog, EventBus())
    seen = state.events.subscribe()
    state.weights_update("clip", {"state": "waiting", "message": "offline", "next_try": None})
    body = state.snapshot()
    assert body["indexing"]["stages"]["clip"]["state"] == "waiting for weights: offline"
    assert body["models"]["weights"]["clip"]["state"] == "waiting"
    state.weights_update("clip", {"state": "ready"})
    assert state.snapshot()["indexing"]["stages"]["clip"]["state"] == "idle"
    kinds = []
    while (event := seen.get(timeout=0.1)) is not None:
        kinds.append((event.kind, event.data.get("state")))
    assert ("weights", "waiting") in kinds and ("weights", "ready") in kinds
