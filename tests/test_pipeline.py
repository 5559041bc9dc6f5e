"""The indexing pipeline on real models: a tiny WD14 ONNX tagger built here and
RapidOCR with its shipped models, over a scanned library."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.wd14_model import NAME, build_model, make_weights
from PIL import Image, ImageDraw, ImageFont

from pximse.config import RootConfig, ScanConfig
from pximse.library.scan import scan_roots
from pximse.models.base import WeightsSource
from pximse.models.ocr import RapidOcrEngine
from pximse.models.wd14 import WD14Tagger
from pximse.pipeline import runner
from pximse.pipeline.runner import run_pipeline
from pximse.pipeline.stages import OcrStage, TaggerStage
from pximse.query.parse import parse_query
from pximse.store.sqlite.catalog import SqliteCatalog


@pytest.fixture(scope="module")
def ocr_engine() -> RapidOcrEngine:
    return RapidOcrEngine()


def tagger_from(tmp_path: Path, seed: int, folder: str) -> WD14Tagger:
    model = build_model(tmp_path / folder / NAME, *make_weights(seed))
    return WD14Tagger(WeightsSource(tmp_path / "data", local_path=model), NAME)


def names(catalog: SqliteCatalog, query: str) -> set[str]:
    return {Path(i.path).name for i in catalog.search(parse_query(query), limit=50).items
            if i.path}


@pytest.fixture
def scanned(
    tmp_path: Path, library: Path, catalog: SqliteCatalog, cjk_font: Path
) -> SqliteCatalog:
    Image.new("RGB", (300, 200), (230, 20, 20)).save(library / "red.png")
    Image.new("RGB", (200, 300), (20, 20, 230)).save(library / "blue.jpg", quality=95)
    page = Image.new("RGB", (640, 200), "white")
    font = ImageFont.truetype(str(cjk_font), 48)
    ImageDraw.Draw(page).text((30, 60), "HELLO PXIMSE", font=font, fill="black")
    page.save(library / "page.png")
    scan_roots(catalog, [RootConfig(name="lib", path=library)], thumbnail_dir=tmp_path / "t",
               config=ScanConfig(workers=1))
    return catalog


@pytest.mark.slow
def test_every_image_is_decoded_once_and_every_stage_stores_its_results(
    scanned: SqliteCatalog, tmp_path: Path, ocr_engine: RapidOcrEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decodes: list[str] = []
    real = runner.decode_image

    def counting(path, **kwargs):  # type: ignore[no-untyped-def]
        decodes.append(Path(path).name)
        return real(path, **kwargs)

    monkeypatch.setattr(runner, "decode_image", counting)
    tagger = tagger_from(tmp_path, 0, "m1")
    stages = [TaggerStage(tagger, input_size=64), OcrStage(ocr_engine)]

    report = run_pipeline(scanned, stages, batch_size=2)

    assert sorted(decodes) == ["blue.jpg", "page.png", "red.png"]
    assert (report.decoded, report.stages["tagger"].done, report.stages["ocr"].done) == (3, 3, 3)
    assert "red.png" in names(scanned, "model:red_theme:>0.5")
    assert "blue.jpg" not in names(scanned, "model:red_theme:>0.5")
    assert names(scanned, "ocr:hello") == {"page.png"}
    assert names(scanned, "m;PXIMSE") == {"page.png"}  # a word search finds OCR words
    assert names(scanned, "m;PXIMS") == {"page.png"}  # the last one as a prefix
    assert names(scanned, "textlen:>5") == {"page.png"}

    decodes.clear()
    again = run_pipeline(scanned, stages)
    assert decodes == [] and again.images == 0


def test_failures_are_recorded_and_a_new_model_reindexes(
    scanned: SqliteCatalog, tmp_path: Path
) -> None:
    class Broken:
        name = "tagger"
        input_size = 64
        model_id = "broken:1"

        def run(self, images):  # type: ignore[no-untyped-def]
            raise RuntimeError("the model fell over")

        def store(self, catalog, results):  # type: ignore[no-untyped-def]
            raise AssertionError("nothing to store")

        def finish(self, catalog):  # type: ignore[no-untyped-def]
            return None

    report = run_pipeline(scanned, [Broken()])  # type: ignore[list-item]
    assert report.stages["tagger"].errors == 3
    [item] = scanned.search(parse_query("path:red.png"), limit=1).items
    detail = scanned.image(item.id)
    assert detail is not None
    assert detail.stages[0]["status"] == "error" and "fell over" in detail.stages[0]["error"]
    assert run_pipeline(scanned, [Broken()]).images == 0  # not retried for the same model

    first = TaggerStage(tagger_from(tmp_path, 0, "m1"), input_size=64)
    run_pipeline(scanned, [first])
    assert scanned.image(item.id).stages[0]["status"] == "done"  # type: ignore[union-attr]
    old_origin = first.model_id
    second = TaggerStage(tagger_from(tmp_path, 1, "m2"), input_size=64)
    assert second.model_id != old_origin
    assert run_pipeline(scanned, [second]).stages["tagger"].done == 3
    origins = {t.origin for t in scanned.image(item.id).tags if t.kind == "model"}  # type: ignore[union-attr]
    assert origins == {second.model_id}


def test_an_image_whose_file_is_gone_is_recorded_not_retried(
    scanned: SqliteCatalog, library: Path, tmp_path: Path
) -> None:
    (library / "blue.jpg").unlink()
    report = run_pipeline(scanned, [TaggerStage(tagger_from(tmp_path, 0, "m1"), input_size=64)])
    assert (report.decoded, report.decode_errors) == (2, 1)


def test_index_runs_the_configured_models_and_reports_missing_weights(
    tmp_path: Path, library: Path
) -> None:
    import json

    from click.testing import CliRunner

    from pximse.cli import main

    Image.new("RGB", (120, 80), (230, 20, 20)).save(library / "red.png")
    model = build_model(tmp_path / "weights" / NAME, *make_weights(0))
    config = tmp_path / "config.toml"
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]

    config.write_text(
        f'[models]\ntagger = "wd-vit-tagger-v3"\ntagger_path = "{model}"\nocr = ""\nclip = ""\n'
    )
    result = CliRunner().invoke(main, ["index", *common, "--json", str(library)], env={})
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["models"]["plan"]["tagger"]["state"] == "ready"
    assert body["models"]["report"]["stages"]["tagger"]["done"] == 1
    found = CliRunner().invoke(main, ["search", *common, "--json", "model:red_theme:>0.5"],
                               env={})
    assert [Path(i["path"]).name for i in json.loads(found.output)] == ["red.png"]

    config.write_text(  # no path, no cache, no downloads
        '[models]\nallow_download = false\ntagger = "wd-vit-tagger-v3"\nocr = ""\nclip = ""\n')
    result = CliRunner().invoke(main, ["index", *common, "--json", str(library)], env={})
    plan = json.loads(result.output)["models"]["plan"]
    assert plan["tagger"]["state"] == "unavailable"
    assert "allow_download" in plan["tagger"]["message"]


def test_models_list_and_run_commands(tmp_path: Path, library: Path) -> None:
    import json

    from click.testing import CliRunner

    from pximse.cli import main

    Image.new("RGB", (120, 80), (20, 20, 230)).save(library / "blue.png")
    model = build_model(tmp_path / "weights" / NAME, *make_weights(0))
    config = tmp_path / "config.toml"
    config.write_text(
        f'[models]\ntagger = "wd-vit-tagger-v3"\ntagger_path = "{model}"\nocr = ""\nclip = ""\n'
    )
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    CliRunner().invoke(main, ["index", "--no-models", *common, str(library)], env={})

    listed = CliRunner().invoke(main, ["models", "list", "--json", *common], env={})
    stages = json.loads(listed.output)
    assert list(stages) == ["tagger"] and stages["tagger"]["state"] == "ready"
    assert stages["tagger"]["model_id"].startswith("wd-vit-tagger-v3:")

    ran = CliRunner().invoke(main, ["models", "run", "--json", *common], env={})
    *updates, last = [json.loads(line) for line in ran.output.splitlines()]
    assert last["report"]["stages"]["tagger"]["done"] == 1
    assert updates[-1]["stage"] == "tagger" and updates[-1]["done"] == 1
    assert updates[-1]["total"] == 1 and updates[-1]["rate"] > 0
    again = CliRunner().invoke(main, ["models", "run", "--json", *common], env={})
    assert json.loads(again.output.splitlines()[-1])["report"]["images"] == 0


def test_models_verify_runs_each_model_and_fails_on_missing_weights(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pximse.cli import main

    model = build_model(tmp_path / "weights" / NAME, *make_weights(0))
    config = tmp_path / "config.toml"
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    config.write_text(
        f'[models]\ntagger = "wd-vit-tagger-v3"\ntagger_path = "{model}"\nocr = ""\nclip = ""\n'
    )
    ok = CliRunner().invoke(main, ["models", "verify", *common], env={})
    assert ok.exit_code == 0, ok.output
    assert "tagger: ok (wd-vit-tagger-v3:" in ok.output and "tags above the floor" in ok.output

    config.write_text('[models]\ntagger = "wd-vit-tagger-v3"\nocr = ""\nclip = ""\n')
    missing = CliRunner().invoke(main, ["models", "verify", *common], env={})
    assert missing.exit_code == 1 and "tagger: unavailable" in missing.output
