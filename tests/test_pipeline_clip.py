"""The CLIP stage: a tiny real open_clip model's embeddings land in the vector store,
and a crash between the catalogue's status and the store's save is repaired."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("open_clip")

from helpers.clip_model import ARCH, clip_from, save_bin, tiny_archs, tiny_model  # noqa: E402,F401

from pximse.config import RootConfig, ScanConfig  # noqa: E402
from pximse.library.scan import scan_roots  # noqa: E402
from pximse.pipeline.runner import run_pipeline  # noqa: E402
from pximse.pipeline.stages import ClipStage  # noqa: E402
from pximse.store.sqlite.catalog import SqliteCatalog  # noqa: E402


def test_embeddings_are_stored_and_a_lost_save_is_redone(
    tmp_path: Path, library: Path, catalog: SqliteCatalog
) -> None:
    for i, colour in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        Image.new("RGB", (90, 70), colour).save(library / f"{i}.png")
    scan_roots(catalog, [RootConfig(name="lib", path=library)], thumbnail_dir=tmp_path / "t",
               config=ScanConfig(workers=1))
    weights = save_bin(tiny_model(3), tmp_path / "tiny.bin")
    model = clip_from(weights, tmp_path / "data")

    stage = ClipStage(model, tmp_path / "vectors", input_size=64)
    report = run_pipeline(catalog, [stage])

    assert report.stages["clip"].done == 3
    reopened = ClipStage(clip_from(weights, tmp_path / "data"), tmp_path / "vectors")
    ids = catalog.stage_done_ids("clip", model.model_id)
    found, vectors = reopened.vectors.get(ids)
    assert sorted(found.tolist()) == sorted(ids.tolist()) and len(ids) == 3
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    [red] = [cid for cid in ids.tolist()
             if catalog.image(catalog.db.reader().execute(
                 "SELECT sha256 FROM content WHERE id = ?", (cid,)).fetchone()[0]).paths[0]
             .path.endswith("0.png")]
    hits, _ = reopened.vectors.search(vectors[list(found).index(red)], 1)
    assert hits.tolist() == [red]

    # A crash after the status was written but before the store was saved:
    # simulate by removing one vector from the saved store.
    reopened.vectors.remove(np.array([red]))
    reopened.vectors.save()
    again = ClipStage(clip_from(weights, tmp_path / "data"), tmp_path / "vectors")
    assert again.reconcile(catalog) == 1
    assert run_pipeline(catalog, [again]).stages["clip"].done == 1
