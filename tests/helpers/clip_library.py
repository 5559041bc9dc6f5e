"""A small library indexed with a tiny CLIP model (the ``indexed`` fixture).

A module that uses the fixture imports ``tiny_archs`` from helpers.clip_model too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import draw_picture

from helpers.clip_model import ARCH, save_bin, tiny_model
from pximse.config import Config, load_config
from pximse.library.scan import scan_roots
from pximse.pipeline.build import plan_stages
from pximse.pipeline.runner import run_pipeline
from pximse.store.sqlite.catalog import SqliteCatalog

IMAGES = 10


def write_config(folder: Path, library: Path, clip_lines: str) -> Config:
    path = folder / "config.toml"
    path.write_text(
        f'[[library.roots]]\nname = "lib"\npath = "{library}"\n\n[models]\n{clip_lines}',
        encoding="utf-8")
    return load_config(path, folder / "data", env={})


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory,
            tiny_archs: None) -> dict[str, Any]:  # noqa: F811
    folder = tmp_path_factory.mktemp("search_modes")
    library = folder / "library"
    library.mkdir()
    for i in range(IMAGES):
        draw_picture(100 + i, (60 + 4 * i, 50)).save(library / f"pic{i:02d}.png")
    weights = save_bin(tiny_model(5), folder / "tiny.bin")
    config = write_config(folder, library, (
        f'clip = "{ARCH}"\nclip_path = "{weights}"\nclip_pretrained = ""\n'
        'tagger = ""\nocr = ""\n'))
    catalog = SqliteCatalog(config.catalog_path)
    scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir, config=config.scan)
    plan = plan_stages(config, catalog)
    assert [stage.name for stage in plan.stages] == ["clip"], plan.unavailable
    assert run_pipeline(catalog, plan.stages).stages["clip"].done == IMAGES
    rows = catalog.db.reader().execute("SELECT id, sha256, width FROM content").fetchall()
    ids = np.array([row[0] for row in rows], np.int64)
    store = plan.stages[0].vectors  # type: ignore[attr-defined]
    found, vectors = store.get(ids)
    assert len(found) == IMAGES
    return {
        "config": config, "catalog": catalog, "folder": folder, "library": library,
        "weights": weights, "vectors": dict(zip(found.tolist(), vectors, strict=True)),
        "sha": {row[0]: row[1] for row in rows}, "width": {row[0]: row[2] for row in rows},
        "id_of": {row[1]: row[0] for row in rows},
    }
