"""Catalogue writes that later stages rely on: tags, their counts, stage status."""

from __future__ import annotations

import random

from pximse.store.sqlite.catalog import FileRecord, NewContent, ScanBatch, SqliteCatalog


def add_contents(catalog: SqliteCatalog, count: int) -> list[int]:
    root = catalog.ensure_root("r", "/r")
    shas = [f"{i:064x}" for i in range(1, count + 1)]
    catalog.apply_scan_batch(ScanBatch(
        root,
        new_content=[NewContent(sha, 10, "png", 2, 2, 1, False, 0, False, 0) for sha in shas],
        files=[FileRecord(f"/r/{i}.png", 10, 0, "ok", sha) for i, sha in enumerate(shas)],
    ))
    ids = catalog.content_ids(shas)
    return [ids[sha] for sha in shas]


def test_tag_counts_stay_exact_through_replacements(catalog: SqliteCatalog) -> None:
    contents = add_contents(catalog, 12)
    rng = random.Random(5)
    vocabulary = ["a", "b", "c", "d", "e"]
    for _ in range(200):
        content = rng.choice(contents)
        origin, kind = rng.choice([("model:x", 0), ("pixiv", 1), ("manual", 2)])
        tags = {t: rng.random() for t in rng.sample(vocabulary, rng.randint(0, 4))}
        catalog.set_tags(content, origin, kind, tags)
    conn = catalog.db.reader()
    expected = dict(conn.execute(
        "SELECT t.key, count(DISTINCT it.content_id) FROM tag t"
        " JOIN image_tag it ON it.tag_id = t.id GROUP BY t.id"))
    stored = {key: count for key, count in conn.execute("SELECT key, count FROM tag")
              if count or key in expected}
    assert stored == expected
    assert dict(catalog.tags_with_prefix("", 10)) == {k: v for k, v in expected.items() if v}


def test_stage_status_is_recorded_per_model(catalog: SqliteCatalog) -> None:
    first, second = add_contents(catalog, 2)
    assert [cid for cid, _ in catalog.pending_for_stage("tagger", "wd14:1")] == [first, second]
    catalog.record_stage(first, "tagger", "wd14:1")
    catalog.record_stage(second, "tagger", "wd14:1", error="decoder failed")
    assert catalog.pending_for_stage("tagger", "wd14:1") == []
    # A new model version makes everything pending again, the failure included.
    assert len(catalog.pending_for_stage("tagger", "wd14:2")) == 2
    detail = catalog.image(f"{2:064x}")
    assert detail is not None
    assert detail.stages == [{"stage": "tagger", "model_id": "wd14:1", "status": "error",
                              "error": "decoder failed"}]
