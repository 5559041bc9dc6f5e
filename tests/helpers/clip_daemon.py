"""A real daemon process whose library is embedded by a tiny real open_clip model
(an open_clip folder the test writes, the vectors the real pipeline saves), for
the browser and upload tests that need vector search. The caller holds
``test_clip``'s ``tiny_archs`` fixture while the model is built."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import draw_picture

from helpers.clip_model import TINY_CFG, save_safetensors, tiny_model
from helpers.web_fixtures import Daemon, start_daemon, write_config
from pximse.config import load_config
from pximse.library.scan import scan_roots
from pximse.pipeline.build import plan_stages
from pximse.pipeline.runner import run_pipeline
from pximse.store.sqlite.catalog import SqliteCatalog


def start_clip_daemon(folder: Path, images: int, server: str = "") -> Daemon:
    """``images`` small pictures (``pic00.png``…, widths 80, 88, …) embedded by the
    tiny model; ``server`` is the ``[server]`` table's body. ``ids`` maps the
    file names to their content ids."""
    library = folder / "library"
    library.mkdir()
    for i in range(images):
        draw_picture(200 + i, (80 + 8 * i, 64)).save(library / f"pic{i:02d}.png")
    model_dir = folder / "tiny-clip"
    model_dir.mkdir()
    (model_dir / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": TINY_CFG, "preprocess_cfg": {}}), encoding="utf-8")
    save_safetensors(tiny_model(3), model_dir / "open_clip_model.safetensors")
    config_path = write_config(folder, library, (
        f'[server]\n{server}\n\n[scan]\nworkers = 1\n\n'
        f'[models]\nclip = "ignored"\nclip_path = "{model_dir}"\nclip_pretrained = ""\n'
        'tagger = ""\nocr = ""\n'))
    config = load_config(config_path, folder / "data", env={})
    catalog = SqliteCatalog(config.catalog_path)
    scan_roots(catalog, config.roots, thumbnail_dir=config.thumbnail_dir, config=config.scan)
    plan = plan_stages(config, catalog)
    assert [stage.name for stage in plan.stages] == ["clip"], plan.unavailable
    assert run_pipeline(catalog, plan.stages).stages["clip"].done == images
    rows = catalog.db.reader().execute(
        "SELECT f.path, c.sha256 FROM file f JOIN content c ON c.id = f.content_id").fetchall()
    catalog.close()
    running = start_daemon(folder, library, config_path)
    running.ids = {Path(path).name: sha for path, sha in rows}
    return running
