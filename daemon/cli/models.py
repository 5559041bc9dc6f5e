"""``pximse models``: which model stages are ready, downloading, verifying and running them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from pximse.cli.common import Context, config_options, progress_bar


def run_models(catalog: Any, config: Any, callback: Any) -> dict[str, Any]:
    """Run the configured model stages on every image that still needs them."""
    from pximse.pipeline.build import plan_stages
    from pximse.pipeline.runner import run_pipeline

    def download(name: str, done: int, total: int | None) -> None:
        if callback:
            callback(f"download {name}", done, total or 0)

    plan = plan_stages(config, catalog, progress=download)
    report = run_pipeline(catalog, plan.stages, batch_size=config.models.batch_size,
                          max_pixels=config.scan.max_image_pixels, progress=callback)
    return {"plan": plan.describe(), "report": report.to_json()}


def _json_progress() -> Any:
    """A progress callback that prints one JSON line per update, with the rate and
    the time left, for a parent process (``serve``) to follow."""
    import time

    started = time.monotonic()  # the stages take turns on each batch, so one clock

    def callback(stage: str, done: int, total: int) -> None:
        since = time.monotonic() - started
        rate = done / since if since > 0 and done else 0.0
        eta = (total - done) / rate if rate and total > done else None
        click.echo(json.dumps({"stage": stage, "done": done, "total": total,
                               "rate": round(rate, 3),
                               "eta_s": None if eta is None else round(eta, 1)}))

    return callback


def print_models(body: dict[str, Any]) -> None:
    """What a model run did, stage by stage, and which stages could not run."""
    for name, stage in body["plan"].items():
        if stage["state"] == "unavailable":
            click.echo(f"{name}: unavailable: {stage['message']}", err=True)
    for name, stage in body["report"]["stages"].items():
        click.echo(f"{name}: {stage['done']} images ({stage['images_per_s']}/s), "
                   f"{stage['errors']} errors")


@click.group("models")
def models_group() -> None:
    """The tagger, OCR and CLIP stages: what is ready, and running them."""


@models_group.command("list")
@config_options
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def models_list(obj: Context, config_path: Path | None, data_dir: Path | None,
                as_json: bool) -> None:
    """Each configured stage: ready (with its model id) or unavailable (with what to do)."""
    from pximse.pipeline.build import plan_stages

    config = obj.load(config_path, data_dir)
    described = plan_stages(config).describe()
    if as_json:
        click.echo(json.dumps(described, ensure_ascii=False))
        return
    for name, stage in described.items():
        detail = stage.get("model_id") or stage.get("message")
        click.echo(f"{name}: {stage['state']}: {detail}")


@models_group.command("download")
@config_options
@click.pass_obj
def models_download(obj: Context, config_path: Path | None, data_dir: Path | None) -> None:
    """Download the configured models' missing weights now (whatever
    models.allow_download says), with a progress bar, into the data folder."""
    from dataclasses import replace

    from pximse.pipeline.build import plan_stages

    config = obj.load(config_path, data_dir)
    config = replace(config, models=replace(config.models, allow_download=True))
    progress, callback = progress_bar(quiet=False)

    def download(name: str, done: int, total: int | None) -> None:
        if callback:
            callback(f"download {name}", done, total or 0)

    with progress:
        described = plan_stages(config, progress=download).describe()
    failed = False
    for name, stage in described.items():
        failed |= stage["state"] != "ready"
        click.echo(f"{name}: {stage['state']}: {stage.get('model_id') or stage.get('message')}")
    if failed:
        raise SystemExit(1)


@models_group.command("verify")
@config_options
@click.pass_obj
def models_verify(obj: Context, config_path: Path | None, data_dir: Path | None) -> None:
    """Load each configured model and run it on a small test image; exit 1 if any
    is unavailable or fails."""
    from PIL import Image

    from pximse.pipeline.build import plan_stages

    config = obj.load(config_path, data_dir)
    plan = plan_stages(config)
    failed = bool(plan.unavailable)
    for name, message in plan.unavailable.items():
        click.echo(f"{name}: unavailable: {message}")
    probe = Image.new("RGB", (96, 64), (240, 240, 240))
    for stage in plan.stages:
        try:
            [result] = stage.run([probe])
        except Exception as exc:  # report every stage, then fail
            failed = True
            click.echo(f"{stage.name}: FAILED ({stage.model_id}): {type(exc).__name__}: {exc}")
            continue
        click.echo(f"{stage.name}: ok ({stage.model_id}, {_describe_result(result)})")
    if failed:
        raise SystemExit(1)


def _describe_result(result: Any) -> str:
    if hasattr(result, "shape"):
        return f"a {result.shape[-1]}-d vector"
    if isinstance(result, dict):
        return f"{len(result)} tags above the floor"
    return f"{len(result)} lines of text"


@models_group.command("run")
@config_options
@click.option("--json", "as_json", is_flag=True,
              help="Print progress as JSON lines ({stage, done, total, rate, eta_s}) "
                   "and the report as the last line.")
@click.pass_obj
def models_run(obj: Context, config_path: Path | None, data_dir: Path | None,
               as_json: bool) -> None:
    """Run every configured stage on the images that still need it, then exit."""
    config = obj.load(config_path, data_dir)
    catalog = obj.catalog(config)
    progress, callback = progress_bar(quiet=as_json)
    if as_json:
        callback = _json_progress()
    with progress:
        body = run_models(catalog, config, callback)
    catalog.close()
    if as_json:
        click.echo(json.dumps(body, ensure_ascii=False))
        return
    print_models(body)
