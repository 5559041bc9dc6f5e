"""``pximse models``: which model stages are ready and where they run; downloading,
exporting, verifying and running them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from pximse.cli.common import Context, config_options, progress_bar


def _download_callback(callback: Any) -> Any:
    def download(name: str, done: int, total: int | None) -> None:
        if callback:
            callback(f"download {name}", done, total or 0)

    return download


def run_models(catalog: Any, config: Any, callback: Any) -> dict[str, Any]:
    """Run the configured model stages on every image that still needs them.

    The catalogue is asked first: when no image needs any stage, no model is
    loaded and no runtime imported. Missing weights are downloaded first, with
    progress, when ``models.allow_download`` allows.
    """
    from pximse.pipeline.build import plan_stages
    from pximse.pipeline.runner import PipelineReport, StageReport, run_pipeline

    plan = plan_stages(config, catalog, progress=_download_callback(callback),
                       for_running=False)
    if not plan.needs_repair() and not any(plan.pending(catalog).values()):
        report = PipelineReport(stages={stage.name: StageReport() for stage in plan.stages})
        return {"plan": plan.describe(), "report": report.to_json()}
    plan = plan_stages(config, catalog, progress=_download_callback(callback))
    plan.prepare(catalog)
    report = run_pipeline(catalog, plan.stages, batch_size=config.models.batch_size,
                          max_pixels=config.scan.max_image_pixels, progress=callback)
    return {"plan": plan.describe(runtimes=True), "report": report.to_json()}


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


def describe_runtime(runtime: dict[str, Any]) -> str:
    """``onnxruntime on cpu, 2 threads, int8``."""
    text = f"{runtime.get('runtime', '?')} on {runtime.get('device', '?')}"
    threads = runtime.get("threads")
    if threads and not str(runtime.get("device", "")).startswith("cuda"):
        text += f", {threads} thread{'s' if threads != 1 else ''}"
    if runtime.get("precision") not in (None, "fp32"):
        text += f", {runtime['precision']}"
    return text


@click.group("models")
def models_group() -> None:
    """The tagger, OCR and CLIP stages: what is ready, where it runs, and running them."""


@models_group.command("list")
@config_options
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def models_list(obj: Context, config_path: Path | None, data_dir: Path | None,
                as_json: bool) -> None:
    """Each configured stage: ready (with its model id and the runtime, device and
    threads it runs on), waiting for its weights (where they come from, and where
    it will run) or unavailable (with what to do). Downloads nothing."""
    from pximse.pipeline.build import plan_stages

    config = obj.load(config_path, data_dir)
    described = plan_stages(config, allow_download=False).describe(runtimes=True)
    if as_json:
        click.echo(json.dumps(described, ensure_ascii=False))
        return
    for name, stage in described.items():
        if stage["state"] == "ready":
            click.echo(f"{name}: ready: {stage['model_id']} "
                       f"({describe_runtime(stage['runtime'])})")
        elif stage.get("missing_weights"):
            runs = f"; it will run on {describe_runtime(stage['runtime'])}" \
                if "runtime" in stage else ""
            click.echo(f"{name}: waiting for weights: {stage['message']}{runs}")
        else:
            click.echo(f"{name}: {stage['state']}: {stage['message']}")


@models_group.command("download")
@config_options
@click.pass_obj
def models_download(obj: Context, config_path: Path | None, data_dir: Path | None) -> None:
    """Download the configured models' missing weights now (whatever
    models.allow_download says), with a progress bar, into the data folder.
    An interrupted download resumes where it stopped."""
    from pximse.pipeline.build import plan_stages

    config = obj.load(config_path, data_dir)
    config = replace(config, models=replace(config.models, allow_download=True))
    progress, callback = progress_bar(quiet=False)
    with progress:
        described = plan_stages(config, progress=_download_callback(callback),
                                for_running=False).describe()
    failed = False
    for name, stage in described.items():
        failed |= stage["state"] != "ready"
        click.echo(f"{name}: {stage['state']}: {stage.get('model_id') or stage.get('message')}")
    if failed:
        raise SystemExit(1)


@models_group.command("export")
@config_options
@click.pass_obj
def models_export(obj: Context, config_path: Path | None, data_dir: Path | None) -> None:
    """Export the configured CLIP model to ONNX, into the data folder, so that it
    runs on onnxruntime (faster on a CPU, no PyTorch needed afterwards). Needs
    PyTorch and open_clip now: pip install 'pximse[clip-torch]'."""
    from pximse.models.base import WeightsSource
    from pximse.models.clip_choice import export_now, torch_available
    from pximse.pipeline.build import clip_settings

    config = obj.load(config_path, data_dir)
    if not config.models.clip:
        raise click.ClickException("CLIP is off ([models] clip is empty): nothing to export")
    if not torch_available():
        raise click.ClickException(
            "exporting needs PyTorch and open_clip: pip install 'pximse[clip-torch]'")
    from pximse.models.weights import WeightsUnavailable

    source = WeightsSource(config.data_dir, allow_download=config.models.allow_download)
    try:
        target = export_now(source, clip_settings(config))
    except (WeightsUnavailable, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"clip: exported to {target}; it now runs on onnxruntime "
               "(the same model id: nothing is embedded again)")


@models_group.command("verify")
@config_options
@click.pass_obj
def models_verify(obj: Context, config_path: Path | None, data_dir: Path | None) -> None:
    """Load each configured model and run it on a small test image; with CLIP in
    int8, print how close its vectors are to float32 ones. Exit 1 if any stage
    is unavailable or fails."""
    from PIL import Image

    from pximse.pipeline.build import plan_stages

    config = obj.load(config_path, data_dir)
    plan = plan_stages(config, allow_download=False)
    failed = bool(plan.unavailable)
    for name, message in plan.unavailable.items():
        click.echo(f"{name}: unavailable: {message}")
    probe = Image.new("RGB", (96, 64), (240, 240, 240))
    from pximse.pipeline.build import stage_runtime

    for stage in plan.stages:
        try:
            [result] = stage.run([probe])
        except Exception as exc:  # report every stage, then fail
            failed = True
            click.echo(f"{stage.name}: FAILED ({stage.model_id}): {type(exc).__name__}: {exc}")
            continue
        click.echo(f"{stage.name}: ok ({stage.model_id}, {_describe_result(result)}, "
                   f"{describe_runtime(stage_runtime(stage))})")
        if stage.name == "clip" and config.models.clip_precision == "int8":
            try:
                click.echo(_int8_agreement(config, stage))
            except Exception as exc:  # the int8 model works; only the comparison failed
                click.echo(f"clip: int8 agreement not measured: {type(exc).__name__}: {exc}")
    if failed:
        raise SystemExit(1)


def _int8_agreement(config: Any, stage: Any) -> str:
    """Cosine between the int8 and the float32 image tower, on drawn test images."""
    import numpy as np

    from pximse.models.probes import probe_images
    from pximse.pipeline.build import clip_model

    fp32 = clip_model(replace(config, models=replace(config.models, clip_precision="fp32")),
                      allow_download=False, for_running=True)
    images = probe_images(16)
    cosines = np.sum(stage.model.embed_images(images) * fp32.embed_images(images), axis=1)
    return (f"clip: int8 vs fp32 on {len(images)} test images: cosine mean "
            f"{cosines.mean():.5f}, lowest {cosines.min():.5f}")


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
