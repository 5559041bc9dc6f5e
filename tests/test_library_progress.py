"""Each model stage over the whole library in ``/api/status`` (``library_stages``):
the catalogue's own counts per stage and model, beside what the daemon is
doing now, so that a client shows "489 of 585" and not one run's counters."""

from __future__ import annotations

from pathlib import Path

from pximse.events import EventBus
from pximse.library.scan import scan_roots
from pximse.service.library_progress import library_stages, stage_phase
from pximse.service.state import DaemonState
from pximse.store.sqlite.catalog import SqliteCatalog


def test_counts_come_from_the_catalogue_not_from_the_run(
        library: Path, make_image, make_config) -> None:
    for seed in range(5):
        make_image(library / f"pic{seed}.png", seed=seed)
    config = make_config({"main": library})
    catalog = SqliteCatalog(config.catalog_path)
    scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir, config=config.scan)
    ids = [row[0] for row in catalog.db.reader().execute("SELECT id FROM content ORDER BY id")]
    # an earlier run: the old tagger did two images; this model three, one of them failed
    catalog.record_stages([(ids[0], "tagger", "wd14:old", None),
                           (ids[1], "tagger", "wd14:old", None),
                           (ids[2], "tagger", "wd14:new", None),
                           (ids[3], "tagger", "wd14:new", None),
                           (ids[4], "tagger", "wd14:new", "truncated file"),
                           (ids[0], "ocr", "rapidocr:1", None)])
    state = DaemonState(config, catalog, EventBus())
    state.models["stages"] = {"tagger": {"state": "ready", "model_id": "wd14:new"},
                              "clip": {"state": "unavailable", "message": "no weights"}}
    # the live counters of a run that has just begun
    state.stage_progress("tagger", 0, 0, 0.0, None)
    body = state.snapshot()["library_stages"]
    catalog.close()
    assert list(body) == ["tagger", "ocr", "clip"]
    tagger = body["tagger"]
    counts = (tagger["done"], tagger["failed"], tagger["total"], tagger["other_models"])
    assert counts == (2, 1, 5, 2)
    assert tagger["phase"] == "running" and tagger["model_id"] == "wd14:new"
    # a stage whose model is not known yet counts every model's results
    assert (body["ocr"]["done"], body["ocr"]["total"], body["ocr"]["phase"]) == (1, 5, "idle")
    assert body["clip"]["phase"] == "unavailable" and "no weights" in body["clip"]["state"]
    assert body["clip"]["done"] == 0


def test_phases_and_a_daemon_without_models() -> None:
    assert stage_phase("unavailable: model x: put model.onnx in …") == "unavailable"
    assert stage_phase("waiting for weights: downloads are off") == "waiting"
    assert stage_phase("downloading weights: model.onnx 45% of 300 MB") == "downloading"
    assert stage_phase("waiting for idle CPU") == "paused"
    assert stage_phase("idle") == "idle"
    snapshot = {"images": 3, "stages": {"ocr": {"m": {"done": 7}}}, "indexing": {"stages": {}},
                "models": {"stages": {}}}
    found = library_stages(snapshot, models_enabled=False)
    assert found["ocr"]["done"] == 3  # never more than the library holds
    assert found["ocr"]["phase"] == "off" and "--no-models" in found["ocr"]["state"]
