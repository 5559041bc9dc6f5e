"""The daemon's parts on their own: the background indexer's order of work and
its throttle."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from pximse.config import RootConfig, ScanConfig
from pximse.library.scan import scan_roots
from pximse.pipeline.priority import PriorityBatches
from pximse.service.throttle import CpuThrottle, machine_busy_share
from pximse.store.sqlite.catalog import SqliteCatalog


class _Stage:
    name = "tagger"
    model_id = "tagger-v2"
    input_size = 64


def test_new_files_come_first_then_backfill_then_reindexing(
    tmp_path: Path, library: Path, make_image, catalog: SqliteCatalog
) -> None:
    root = RootConfig(name="lib", path=library)

    def add(*seeds: int) -> None:
        for seed in seeds:
            make_image(library / f"{seed}.png", seed=seed)
        scan_roots(catalog, [root], thumbnail_dir=tmp_path / "t", config=ScanConfig(workers=1))

    add(1, 2, 3, 4)  # ids 1-4, before the daemon started
    catalog.record_stages([(1, "tagger", "tagger-v1", None), (2, "tagger", "tagger-v1", None),
                           (4, "tagger", "tagger-v2", None)])
    add(5, 6)  # new since the start
    order = PriorityBatches(new_after=4)
    batches = order(catalog, [_Stage()], 1, None)
    handed: list[tuple[int, str | None]] = []
    for batch in batches:
        [item] = batch
        handed.append((item.content_id, order.last_class))
        catalog.record_stages([(item.content_id, "tagger", "tagger-v2", None)])
        if item.content_id == 3:
            add(7)  # a download during the backfill jumps the queue
    assert handed == [(5, "new"), (6, "new"), (3, "backfill"), (7, "new"),
                      (1, "reindex"), (2, "reindex")]


def test_priority_batches_hand_out_each_image_once_even_unrecorded(
    tmp_path: Path, library: Path, make_image, catalog: SqliteCatalog
) -> None:
    for seed in range(6):
        make_image(library / f"{seed}.png", seed=seed)
    scan_roots(catalog, [RootConfig(name="lib", path=library)], thumbnail_dir=tmp_path / "t",
               config=ScanConfig(workers=1))
    batches = PriorityBatches(new_after=3)(catalog, [_Stage()], 2, None)
    handed = [[item.content_id for item in batch] for batch in batches]  # none recorded
    assert handed == [[4, 5], [6], [1, 2], [3]]


def test_a_cpu_share_rests_in_proportion() -> None:
    throttle = CpuThrottle(0.25, False, threading.Event())
    throttle.batch_started()
    time.sleep(0.1)  # a batch of work
    started = time.monotonic()
    throttle.rest()
    assert 0.25 <= time.monotonic() - started < 1.5  # three times the work, give or take
    assert CpuThrottle(1.0, False, threading.Event()).rested_s == 0.0


def test_only_when_idle_waits_for_a_quiet_machine() -> None:
    readings = iter([0.9, 0.6, 0.1])
    states: list[str] = []
    throttle = CpuThrottle(1.0, True, threading.Event(), busy_share=lambda: next(readings),
                           on_wait=states.append, recheck_s=0.01)
    throttle.wait_turn()
    assert states == ["waiting for idle CPU", "running"]
    stopping = threading.Event()
    stopping.set()
    CpuThrottle(1.0, True, stopping, busy_share=lambda: 1.0).wait_turn()  # returns at once
    assert 0.0 <= machine_busy_share(0.05) <= 1.0


def test_status_counts_that_are_slow_to_make_are_made_again_in_the_background(
    make_config
) -> None:
    from pximse.events import EventBus
    from pximse.service.state import DaemonState

    class SlowCatalog:
        calls = 0

        def status(self) -> dict[str, object]:
            SlowCatalog.calls += 1
            time.sleep(0.25)
            return {"images": SlowCatalog.calls, "recent_errors": []}

    state = DaemonState(make_config(), SlowCatalog(), EventBus())  # type: ignore[arg-type]
    assert state.snapshot()["images"] == 1
    state.files_changed(1, 0, 0, [])
    started = time.monotonic()
    assert state.snapshot()["images"] == 1  # the last counts, at once
    assert time.monotonic() - started < 0.2
    deadline = time.monotonic() + 10
    while state.snapshot()["images"] != 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state.snapshot()["images"] == 2 and SlowCatalog.calls == 2
