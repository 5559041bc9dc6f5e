"""The stages the configuration asks for, or why each one cannot run yet.

A stage whose weights are missing (and may not be downloaded here) or whose
runtime is not installed is reported as unavailable with what to do; the
other stages go on, and the missing one runs once its weights are there.

Building a plan loads nothing: adapters load their runtime on first use, and
a model id costs a digest of the weights that the data folder keeps (see
``models.weights.DigestCache``). So a caller can ask the catalogue whether any
image needs a stage (:meth:`StagePlan.pending`) before anything heavy is
imported — on an unchanged library, nothing is.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pximse.config import Config
from pximse.models.threads import threads_for_share
from pximse.models.weights import DownloadProgress, WeightsSpec, WeightsUnavailable
from pximse.pipeline.stages import OcrStage, Stage, TaggerStage
from pximse.store.backends import Catalog, vectors_folder

log = logging.getLogger(__name__)

STAGE_NAMES = ("tagger", "ocr", "clip")


@dataclass
class StagePlan:
    stages: list[Stage] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)  # stage -> what to do
    missing_weights: set[str] = field(default_factory=set)  # unavailable for want of weights
    waiting_models: dict[str, Any] = field(default_factory=dict)
    """Stage -> the adapter that will run once its weights are there (loads nothing)."""

    def describe(self, *, runtimes: bool = False) -> dict[str, dict[str, Any]]:
        """Each stage's state; with ``runtimes``, where each would run (this
        imports the runtimes to ask them, so only where they will run anyway)."""
        described: dict[str, dict[str, Any]] = {}
        for stage in self.stages:
            entry: dict[str, Any] = {"state": "ready", "model_id": stage.model_id}
            if runtimes:
                entry["runtime"] = stage_runtime(stage)
            described[stage.name] = entry
        for name, message in self.unavailable.items():
            entry = {"state": "unavailable", "message": message}
            if name in self.missing_weights:
                entry["missing_weights"] = True
                waiting = self.waiting_models.get(name)
                if runtimes and waiting is not None and hasattr(waiting, "describe_runtime"):
                    entry["runtime"] = dict(waiting.describe_runtime())
            described[name] = entry
        return described

    def pending(self, catalog: Any) -> dict[str, bool]:
        """Whether any image waits for each stage (one indexed lookup each)."""
        return {stage.name: bool(catalog.pending_for_stage(stage.name, stage.model_id, 1))
                for stage in self.stages}

    def prepare(self, catalog: Any) -> None:
        """Before a run: stages that keep state outside the catalogue check it."""
        for stage in self.stages:
            reconcile = getattr(stage, "reconcile", None)
            if reconcile is not None:
                reset = reconcile(catalog)
                if reset:
                    log.warning("%d images had %s status but no saved result: queued again",
                                reset, stage.name)

    def needs_repair(self) -> bool:
        """Whether a stage may have lost results a crash kept from being saved."""
        return any(getattr(stage, "may_have_unsaved", lambda: False)() for stage in self.stages)


def stage_runtime(stage: Stage) -> dict[str, Any]:
    """``{"runtime", "device", "threads"...}`` of a stage's model."""
    model = getattr(stage, "model", None) or getattr(stage, "tagger", None) \
        or getattr(stage, "engine", None)
    describe = getattr(model, "describe_runtime", None)
    if describe is not None:
        return dict(describe())
    return {"runtime": getattr(model, "runtime", "?"), "device": getattr(model, "device", "?")}


NOT_YET = "or run `pximse models download` (the daemon downloads them by itself)"


def _missing_hint(config: Config, allow_download: bool | None) -> str:
    """The end of a missing-weights message: downloads are off, or just not done here."""
    if allow_download is False and config.models.allow_download:
        return NOT_YET
    return "or set models.allow_download = true"


def _device(config: Config) -> str | None:
    return {"auto": None, "cpu": "cpu", "cuda": "cuda:0"}[config.models.device]


def _threads(config: Config) -> int:
    return threads_for_share(config.indexing.cpu_share)


def clip_settings(config: Config) -> Any:
    from pximse.models.clip_choice import ClipSettings

    models = config.models
    return ClipSettings(
        arch=models.clip,
        pretrained=models.clip_pretrained or None,
        path=Path(models.clip_path).expanduser() if models.clip_path else None,
        quick_gelu={"auto": None, "true": True, "false": False}[models.clip_quick_gelu],
        runtime=models.clip_runtime,
        precision=models.clip_precision,
        endpoint=models.download_url,
    )


def clip_model(config: Config, progress: DownloadProgress | None = None, *,
               allow_download: bool | None = None, for_running: bool = False,
               may_export: bool = True, threads: int = 0) -> Any:
    """The configured CLIP model (nothing is loaded until first use); see
    :mod:`pximse.models.clip_choice` for which runtime.

    Raises ImportError without the runtime it needs, ValueError for settings
    that do not fit together, WeightsUnavailable when the weights are missing.
    """
    from pximse.models.base import WeightsSource
    from pximse.models.clip_choice import make_clip

    source = WeightsSource(
        config.data_dir,
        allow_download=config.models.allow_download if allow_download is None
        else allow_download,
        progress=progress,
        missing_hint=_missing_hint(config, allow_download),
    )
    return make_clip(source, clip_settings(config), device=_device(config), threads=threads,
                     for_running=for_running, may_export=may_export)


def tagger_model(config: Config, progress: DownloadProgress | None = None, *,
                 allow_download: bool | None = None, threads: int = 0) -> Any:
    from pximse.models import make_tagger
    from pximse.models.base import WeightsSource

    models = config.models
    source = WeightsSource(
        config.data_dir,
        local_path=Path(models.tagger_path).expanduser() if models.tagger_path else None,
        allow_download=models.allow_download if allow_download is None else allow_download,
        progress=progress,
        missing_hint=_missing_hint(config, allow_download),
    )
    return make_tagger(models.tagger, source, device=_device(config), threads=threads,
                       endpoint=models.download_url)


def downloadable_weights(config: Config) -> dict[str, WeightsSpec]:
    """Stage -> the fixed files its configured model downloads into the cache
    (what the daemon fetches on its first start); stages whose files come from
    elsewhere (a configured folder, RapidOCR's wheel, open_clip's own cache)
    are left out."""
    found: dict[str, WeightsSpec] = {}
    models = config.models
    if models.tagger.startswith("wd-") and not models.tagger_path:
        from pximse.models.wd14 import wd14_spec

        spec = wd14_spec(models.tagger, models.download_url)
        if all(f.url for f in spec.files):
            found["tagger"] = spec
    if models.clip and not models.clip_path and models.clip_runtime != "torch":
        from pximse.models.clip_onnx import onnx_source, onnx_spec

        source = onnx_source(models.clip, models.clip_pretrained)
        quick_gelu = {"auto": None, "true": True, "false": False}[models.clip_quick_gelu]
        if source is not None and quick_gelu in (None, source.quick_gelu):
            found["clip"] = onnx_spec(source, models.download_url)
    return found


def plan_stages(
    config: Config,
    catalog: Catalog | None = None,
    *,
    progress: DownloadProgress | None = None,
    allow_download: bool | None = None,
    for_running: bool = True,
    may_export: bool = True,
    downloaded_elsewhere: Collection[str] = (),
) -> StagePlan:
    """The configured stages. ``allow_download`` (default: the configuration's)
    says whether missing weights are fetched now, except for the stages in
    ``downloaded_elsewhere`` (the daemon's own fetcher does those); ``for_running``:
    the stages are about to run here, so CLIP may pick its runtime by the device
    and export itself (not with ``may_export=False``), and each model gets the
    threads ``indexing.cpu_share`` allows. ``catalog`` is accepted for callers
    that pass it; a run calls :meth:`StagePlan.prepare` itself."""
    plan = StagePlan()
    models = config.models
    threads = _threads(config) if for_running else 0

    def allowed(stage: str) -> bool | None:
        return False if stage in downloaded_elsewhere else allow_download

    if models.tagger:
        tagger = None
        try:
            tagger = tagger_model(config, progress, allow_download=allowed("tagger"),
                                  threads=threads)
            _ = tagger.model_id  # resolves (or downloads) the weights now
            plan.stages.append(TaggerStage(tagger, min_score=models.tag_min_score))
        except WeightsUnavailable as exc:
            plan.unavailable["tagger"] = str(exc)
            plan.missing_weights.add("tagger")
            plan.waiting_models["tagger"] = tagger
        except ImportError as exc:
            extra = "pip install 'pximse[deepdanbooru]'" if models.tagger.startswith(
                "deepdanbooru") else "reinstall PxIMSE (onnxruntime is part of it)"
            plan.unavailable["tagger"] = f"the tagger's runtime is not installed: {extra} ({exc})"
    if models.ocr:
        try:
            from pximse.models.ocr import RapidOcrEngine, default_intra_op_threads

            ocr_threads = min(threads, default_intra_op_threads()) if threads else None
            engine = RapidOcrEngine(
                device={"auto": "auto", "cpu": "cpu", "cuda": "cuda"}[models.device],
                intra_op_threads=ocr_threads, data_dir=config.data_dir)
            _ = engine.model_id
            plan.stages.append(OcrStage(engine, min_confidence=models.ocr_min_confidence))
        except ImportError as exc:
            plan.unavailable["ocr"] = (
                f"OCR needs RapidOCR: reinstall PxIMSE (RapidOCR is part of it) ({exc})")
        except OSError as exc:
            plan.unavailable["ocr"] = f"RapidOCR's shipped models cannot be read: {exc}"
    if models.clip:
        model = None
        try:
            from pximse.pipeline.stages import ClipStage

            model = clip_model(config, progress, allow_download=allowed("clip"),
                               for_running=for_running, may_export=may_export,
                               threads=threads)
            _ = model.model_id  # resolves (or downloads) the weights now
            plan.stages.append(ClipStage(model, vectors_folder(config), config=config))
        except WeightsUnavailable as exc:
            plan.unavailable["clip"] = str(exc)
            plan.missing_weights.add("clip")
            plan.waiting_models["clip"] = model
        except ImportError as exc:
            plan.unavailable["clip"] = (
                f"CLIP {models.clip} {models.clip_pretrained!r} runs on open_clip, which needs "
                f"PyTorch: pip install 'pximse[clip-torch]', or choose a model with an ONNX "
                f"export (see docs/models.md) ({exc})")
        except ValueError as exc:
            plan.unavailable["clip"] = f"the CLIP settings do not fit together: {exc}"
    for name, message in plan.unavailable.items():
        if name in plan.missing_weights:
            # Not a fault: the weights are on their way (the daemon's fetcher logs
            # its progress) or `pximse models download` fetches them.
            log.info("stage %s is waiting for its weights: %s", name, message)
            continue
        # Only where the stages were to run: the daemon plans often, to look for work.
        log.log(logging.WARNING if for_running else logging.INFO,
                "stage %s is unavailable: %s", name, message)
    return plan
