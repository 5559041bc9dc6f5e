"""The stages the configuration asks for, or why each one cannot run yet.

A stage whose weights are missing (and may not be downloaded) or whose
runtime is not installed is reported as unavailable with what to do; the
other stages go on, and the missing one runs on a later start once its
weights are there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pximse.config import Config
from pximse.models.weights import DownloadProgress, WeightsUnavailable
from pximse.pipeline.stages import OcrStage, Stage, TaggerStage
from pximse.store.sqlite.catalog import SqliteCatalog

log = logging.getLogger(__name__)


@dataclass
class StagePlan:
    stages: list[Stage] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)  # stage -> what to do

    def describe(self) -> dict[str, dict[str, str]]:
        ready = {s.name: {"state": "ready", "model_id": s.model_id} for s in self.stages}
        missing = {name: {"state": "unavailable", "message": message}
                   for name, message in self.unavailable.items()}
        return {**ready, **missing}


def clip_model(config: Config, progress: DownloadProgress | None = None) -> Any:
    """The configured CLIP model (a ``ClipModel``; nothing is loaded until first use).

    Raises ImportError without PyTorch/open_clip, ValueError for settings that do
    not fit together, WeightsUnavailable when the weights are missing.
    """
    from pximse.models.base import WeightsSource
    from pximse.models.clip import ClipModel

    models = config.models
    quick_gelu = {"auto": None, "true": True, "false": False}[models.clip_quick_gelu]
    return ClipModel(
        WeightsSource(
            config.data_dir,
            local_path=Path(models.clip_path).expanduser() if models.clip_path else None,
            allow_download=models.allow_download,
            progress=progress,
        ),
        models.clip, models.clip_pretrained, quick_gelu=quick_gelu,
    )


def plan_stages(
    config: Config,
    catalog: SqliteCatalog | None = None,
    *,
    progress: DownloadProgress | None = None,
) -> StagePlan:
    plan = StagePlan()
    models = config.models
    if models.tagger:
        try:
            from pximse.models import make_tagger
            from pximse.models.base import WeightsSource

            source = WeightsSource(
                config.data_dir,
                local_path=Path(models.tagger_path).expanduser() if models.tagger_path else None,
                allow_download=models.allow_download,
                progress=progress,
            )
            tagger = make_tagger(models.tagger, source)
            _ = tagger.model_id  # resolves (or downloads) the weights now
            plan.stages.append(TaggerStage(tagger, min_score=models.tag_min_score))
        except WeightsUnavailable as exc:
            plan.unavailable["tagger"] = str(exc)
        except ImportError as exc:
            extra = "deepdanbooru" if models.tagger.startswith("deepdanbooru") else "tagger"
            plan.unavailable["tagger"] = (
                f"the tagger's runtime is not installed: pip install 'pximse[{extra}]' ({exc})"
            )
    if models.ocr:
        try:
            from pximse.models.ocr import RapidOcrEngine

            engine = RapidOcrEngine()
            _ = engine.model_id
            plan.stages.append(OcrStage(engine, min_confidence=models.ocr_min_confidence))
        except ImportError as exc:
            plan.unavailable["ocr"] = f"OCR needs RapidOCR: pip install 'pximse[ocr]' ({exc})"
        except OSError as exc:
            plan.unavailable["ocr"] = f"RapidOCR's shipped models cannot be read: {exc}"
    if models.clip:
        try:
            from pximse.pipeline.stages import ClipStage
            from pximse.store.backends import open_vector_store

            model = clip_model(config, progress)
            # [backend] milvus_uri: the vectors go to Milvus; otherwise the embedded store.
            vectors = open_vector_store(config, model.model_id, model.dimensions)
            stage = ClipStage(model, config.data_dir / "vectors", vectors=vectors)
            reset = stage.reconcile(catalog) if catalog is not None else 0
            if reset:
                log.warning("%d images had CLIP status but no saved vector: queued again", reset)
            plan.stages.append(stage)
        except WeightsUnavailable as exc:
            plan.unavailable["clip"] = str(exc)
        except ImportError as exc:
            plan.unavailable["clip"] = (
                f"CLIP needs PyTorch and open_clip: pip install 'pximse[clip]' ({exc})"
            )
        except ValueError as exc:
            plan.unavailable["clip"] = f"the CLIP settings do not fit together: {exc}"
    for name, message in plan.unavailable.items():
        log.warning("stage %s is unavailable: %s", name, message)
    return plan
