"""What the icon shows for each daemon status, and how it looks: no display needed."""

from __future__ import annotations

from typing import Any

import pytest

from pximse.tray.icon_image import COLOURS, draw_icon
from pximse.tray.state import TrayState, state_from_status, status_lines


def status(**changes: Any) -> dict[str, Any]:
    """A status as the daemon's GET /api/status answers it."""
    body: dict[str, Any] = {
        "images": 1234, "images_offline": 2, "files": 1240, "tags": 5000, "errors": 1,
        "roots": [{"name": "pixiv", "path": "/pics/pixiv", "online": True, "files": 1240}],
        "scan": {"running": False, "last": None},
        "models": {"running": False, "stages": {}, "last": None},
        "indexing": {"paused": False, "running": False, "stages": {
            "tagger": {"done": 1234, "total": 1234, "rate": 0.0, "eta_s": None, "state": "idle"}}},
        "watch": {"enabled": True, "roots": {"pixiv": "watching"}},
        "recent_errors": [{"path": "/pics/pixiv/broken.png", "reason": "truncated file",
                           "time": 1.0}],
    }
    body.update(changes)
    return body


def busy(paused: bool = False) -> dict[str, Any]:
    return status(indexing={"paused": paused, "running": not paused, "stages": {
        "tagger": {"done": 300, "total": 1000, "rate": 3.5, "eta_s": 200.0, "state": "running"},
        "clip": {"done": 500, "total": 1000, "rate": 10.0, "eta_s": 50.0, "state": "running"},
    }})


def test_idle() -> None:
    state = state_from_status(status())
    assert state.kind == "idle" and state.title == "PxIMSE: idle · 1,234 images"
    assert state.progress is None and not state.paused


def test_indexing_shows_the_progress_of_the_queue_and_the_time_left() -> None:
    state = state_from_status(busy())
    assert state.kind == "indexing"
    assert state.progress == pytest.approx(800 / 2000)
    assert state.title == "PxIMSE: indexing 40% · 3 min left"  # the slowest stage


def test_weights_being_downloaded_are_work_and_waiting_ones_are_named() -> None:
    downloading = status(models={"running": False, "stages": {}, "weights": {
        "clip": {"state": "downloading", "file": "visual/model.onnx", "done": 150_000_000,
                 "total": 600_000_000},
        "tagger": {"state": "ready"}}})
    state = state_from_status(downloading)
    assert state.kind == "indexing" and state.progress == pytest.approx(0.25)
    assert state.title == "PxIMSE: downloading model weights 25%"
    waiting = status(models={"running": False, "stages": {}, "weights": {
        "clip": {"state": "waiting", "message": "503 Service Unavailable", "next_try": 1.0},
        "tagger": {"state": "waiting", "message": "503", "next_try": 1.0}}})
    state = state_from_status(waiting)
    assert state.kind == "idle"
    assert state.title == "PxIMSE: idle · 1,234 images · clip, tagger waiting for weights"


def test_a_scan_is_work_too() -> None:
    state = state_from_status(status(scan={"running": True, "progress": {
        "phase": "hash", "done": 25, "total": 100}}))
    assert state.kind == "indexing" and state.progress == 0.25
    assert state.title.startswith("PxIMSE: scanning 25%")


def test_paused_wins_over_work_and_an_error_wins_over_paused() -> None:
    assert state_from_status(busy(paused=True)).kind == "paused"
    assert state_from_status(busy(paused=True)).paused
    broken = busy(paused=True)
    broken["models"] = {"running": False, "error": "the model run exited with status 1"}
    state = state_from_status(broken)
    assert state.kind == "error" and state.paused
    assert state.title == "PxIMSE: the model run exited with status 1"


def test_one_bad_file_does_not_make_the_icon_red_but_an_offline_folder_does() -> None:
    assert state_from_status(status()).kind == "idle"  # it has a recent error
    offline = status(watch={"enabled": True, "roots": {"pixiv": "offline"}})
    assert state_from_status(offline).title == "PxIMSE: library folder offline: pixiv"


def test_no_answer_is_an_error_with_the_reason() -> None:
    state = state_from_status(None, "no PxIMSE daemon answers at http://127.0.0.1:1")
    assert state.kind == "error" and not state.reachable
    assert "no PxIMSE daemon answers" in state.title


def test_an_older_daemon_without_the_indexing_key_is_read_from_its_model_run() -> None:
    older = status(models={"running": True, "progress": {
        "ocr": {"stage": "ocr", "done": 10, "total": 40, "rate": 1.0, "eta_s": 30.0}}})
    del older["indexing"]
    state = state_from_status(older)
    assert state.kind == "indexing" and state.progress == 0.25


def test_status_lines_hold_counts_rate_eta_folders_and_errors() -> None:
    lines = status_lines(busy(), where="Daemon at http://127.0.0.1:8741")
    text = "\n".join(lines)
    assert lines[0] == "Indexing 40% · 3 min left"
    assert "Daemon at http://127.0.0.1:8741" in text
    assert "1,234 images (2 offline), 1,240 files, 5,000 tags, 1 errors" in text
    assert "Indexing: running" in text
    assert "  tagger: 300/1,000, 3.5 images/s, about 3 min left, running" in text
    assert "  clip: 500/1,000, 10.0 images/s, about 50 s left, running" in text
    assert "Folder pixiv: /pics/pixiv (watching, 1,240 files)" in text
    assert "Last errors:" in text and "  /pics/pixiv/broken.png: truncated file" in text


def pixel(image: Any, x: int, y: int) -> tuple[int, int, int]:
    return image.getpixel((x, y))[:3]  # type: ignore[no-any-return]


@pytest.mark.parametrize("kind", ["idle", "indexing", "paused", "error"])
def test_each_state_has_its_own_colour(kind: str) -> None:
    image = draw_icon(TrayState(kind, "t"), size=64)  # type: ignore[arg-type]
    assert image.size == (64, 64) and image.mode == "RGBA"
    assert pixel(image, 4, 30) == COLOURS[kind]  # the background, left edge
    assert image.getpixel((0, 0))[3] == 0  # rounded, transparent corner


def test_the_glyphs_differ() -> None:
    paused = draw_icon(TrayState("paused", "t"))
    assert pixel(paused, 23, 32) == (255, 255, 255)  # a pause bar
    assert pixel(paused, 31, 32) == COLOURS["paused"]  # the gap between the bars
    error = draw_icon(TrayState("error", "t"))
    assert pixel(error, 32, 25) == (255, 255, 255) and pixel(error, 32, 49) == (255, 255, 255)
    idle = draw_icon(TrayState("idle", "t"))
    assert pixel(idle, 26, 26) == COLOURS["idle"]  # inside the lens
    assert pixel(idle, 14, 26) == (255, 255, 255)  # its rim


def test_the_progress_bar_fills_with_the_progress() -> None:
    def filled(progress: float | None) -> int:
        image = draw_icon(TrayState("indexing", "t", progress=progress))
        return sum(pixel(image, x, 55) == (255, 255, 255) for x in range(64))

    assert filled(None) == 0 and filled(0.0) == 0
    assert filled(1.0) == 49
    assert 23 <= filled(0.5) <= 26
    assert filled(0.25) < filled(0.5) < filled(0.75) < filled(1.0)
    big = draw_icon(TrayState("indexing", "t", progress=0.5), size=256)
    assert big.size == (256, 256)


def test_the_client_reaches_a_daemon_listening_everywhere_over_loopback(make_config) -> None:
    from pximse.tray.client import DaemonClient

    config = make_config(extra='[server]\nhost = "0.0.0.0"\nport = 9000\ntoken = "a b/c"\n')
    client = DaemonClient.for_config(config)
    assert client.base_url == "http://127.0.0.1:9000"
    assert DaemonClient("http://[::1]:8741").page_url() == "http://[::1]:8741/"
