"""A Hydrus push loop over a scanned library, with a clock the test moves."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers.hydrus_fake import FakeHydrus
from helpers.hydrus_target import SERVICE, TEST_KEY, fake_hydrus_fixture  # noqa: F401 (fixture)
from pximse.config import load_config
from pximse.events import EventBus
from pximse.integrations.hydrus.background import HydrusPushLoop
from pximse.integrations.hydrus.bridge import HydrusBridge
from pximse.integrations.hydrus.client import RetryPolicy
from pximse.library.scan import scan_roots

MODEL = "wd-vit-tagger-v3"


def push_loop_setup(tmp_path: Path, pictures: list[Path], fake_hydrus: FakeHydrus,
                    open_catalog: Callable[[Any], Any], extra: str = ""):
    """A push loop over a library of ``pictures`` (the first two already in
    Hydrus), scanned into the catalogue ``open_catalog(config)`` makes and tagged
    by a model; yields (loop, catalogue, hashes, content ids, the loop's clock)."""
    for picture in pictures[:2]:
        fake_hydrus.add_file(picture.read_bytes())
    path = tmp_path / "config.toml"
    path.write_text(
        f"[[library.roots]]\nname = 'library'\npath = '{pictures[0].parent}'\n\n{extra}"
        f"[hydrus]\nurl = '{fake_hydrus.url}'\naccess_key = '{TEST_KEY}'\n"
        f"tag_service = '{SERVICE}'\npush = true\npush_interval_s = 5\n", encoding="utf-8")
    config = load_config(path, tmp_path / "data", env={})
    catalog = open_catalog(config)
    scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir)
    shas = [hashlib.sha256(p.read_bytes()).hexdigest() for p in pictures]
    ids = catalog.content_ids(shas)
    catalog.set_model_tags_many([(ids[s], MODEL, {"long_hair": 0.9}) for s in shas])
    now = [time.time()]
    loop = HydrusPushLoop(config, catalog, threading.Event(),
                          bridge=HydrusBridge(config, retry=RetryPolicy(2, 0.01, 0.01)),
                          events=EventBus(), clock=lambda: now[0])
    yield loop, catalog, shas, ids, now
    loop.bridge.close()
    catalog.close()
