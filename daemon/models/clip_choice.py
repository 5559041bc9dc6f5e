"""Which CLIP adapter runs the configured model: onnxruntime or open_clip on PyTorch.

Both give the same vectors for the same weights (an export is checked to agree
within float rounding), so the choice never changes the model id; only int8
precision does. The rules, in order:

1. ``clip_path`` names an ONNX folder (``visual/model.onnx``...): onnxruntime.
2. PyTorch is asked for (``runtime = "torch"``): open_clip.
3. An ONNX form of the weights is known: a published export (Immich's, for
   OpenAI's ViT-B-32, ViT-B-16 and ViT-L-14; downloaded by the daemon) or one
   PxIMSE made (``pximse models export``): onnxruntime — except that, when the
   model is about to run, PyTorch with a CUDA GPU is preferred over an
   onnxruntime without one (CUDA first, then the CPU), as long as open_clip's
   weights for it can be had.
4. Otherwise open_clip on PyTorch; with ``runtime = "onnxruntime"`` or int8
   precision, the model is exported first (once, which needs PyTorch).
"""

from __future__ import annotations

import importlib.util
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pximse.models.base import InferenceModel, WeightsSource
from pximse.models.clip_onnx import (
    EXPORT_MANIFEST,
    OnnxClipModel,
    is_onnx_folder,
    onnx_source,
    onnx_spec,
)
from pximse.models.weights import WeightsUnavailable, cache_dir

__all__ = ["ClipSettings", "find_export", "make_clip", "torch_clip"]

log = logging.getLogger(__name__)

EXPORTS = "clip-onnx"


@dataclass(frozen=True)
class ClipSettings:
    """The ``[models]`` settings that say which CLIP model runs, and how."""

    arch: str
    pretrained: str | None
    path: Path | None = None
    quick_gelu: bool | None = None
    runtime: str = "auto"  # auto | onnxruntime | torch
    precision: str = "fp32"  # fp32 | int8
    endpoint: str = ""  # models.download_url

    def matches(self, manifest: dict[str, Any]) -> bool:
        """Whether an export's manifest records these settings' weights."""
        return (manifest.get("arch") == self.arch
                and (manifest.get("pretrained") or None) == self.pretrained
                and (manifest.get("weights") or "") == (str(self.path) if self.path else "")
                and manifest.get("quick_gelu") == self.quick_gelu)


def torch_available() -> bool:
    return (importlib.util.find_spec("torch") is not None
            and importlib.util.find_spec("open_clip") is not None)


def find_export(data_dir: Path, settings: ClipSettings) -> Path | None:
    """PxIMSE's own export of these settings' weights, if one was made."""
    folder = cache_dir(data_dir, EXPORTS)
    if not folder.is_dir():
        return None
    for manifest in sorted(folder.glob(f"*/{EXPORT_MANIFEST}")):
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and settings.matches(data):
            return manifest.parent
    return None


def torch_clip(source: WeightsSource, settings: ClipSettings, *, device: str | None = None,
               threads: int = 0, idle_unload_s: float | None = None) -> Any:
    """open_clip on PyTorch for these settings (raises ImportError without it)."""
    if not torch_available():
        raise ImportError("PyTorch and open_clip are not installed")
    from pximse.models.clip import ClipModel

    return ClipModel(
        WeightsSource(source.data_dir, local_path=settings.path,
                      allow_download=source.allow_download, progress=source.progress),
        settings.arch, settings.pretrained, quick_gelu=settings.quick_gelu, device=device,
        threads=threads, idle_unload_s=idle_unload_s)


def make_clip(
    source: WeightsSource,
    settings: ClipSettings,
    *,
    device: str | None = None,
    threads: int = 0,
    idle_unload_s: float | None = None,
    for_running: bool = False,
    may_export: bool = True,
) -> InferenceModel:
    """The adapter for ``settings`` (nothing is loaded; see the module docstring).

    ``for_running``: the model is about to run here, so the device may decide
    between the runtimes and an export may be made (unless ``may_export`` is
    False: a look at where it would run, which must not take minutes). Raises ImportError when the
    runtime the settings need is not installed, ValueError for settings that do
    not fit together, WeightsUnavailable when an export is needed but cannot be
    made.
    """
    onnx_args: dict[str, Any] = {"precision": settings.precision, "device": device,
                                 "intra_op_threads": threads, "idle_unload_s": idle_unload_s}
    if settings.runtime not in ("auto", "onnxruntime", "torch"):
        raise ValueError(f"unknown CLIP runtime {settings.runtime!r}")
    if settings.precision == "int8" and settings.runtime == "torch":
        raise ValueError('int8 precision runs on onnxruntime: set models.clip_runtime = "auto" '
                         'or "onnxruntime", or models.clip_precision = "fp32"')
    path = settings.path
    if path is not None and path.is_dir() and is_onnx_folder(path):
        if settings.runtime == "torch":
            raise ValueError(f"{path} is an ONNX folder, which PyTorch cannot run: set "
                             'models.clip_runtime = "auto"')
        return OnnxClipModel(WeightsSource(source.data_dir, local_path=path), **onnx_args)
    if settings.runtime == "torch":
        return torch_clip(source, settings, device=device, threads=threads,
                          idle_unload_s=idle_unload_s)

    published = onnx_source(settings.arch, settings.pretrained) if path is None else None
    if published is not None and settings.quick_gelu in (None, published.quick_gelu):
        if for_running and settings.runtime == "auto" and settings.precision == "fp32" \
                and _torch_gpu_beats_onnxruntime(device):
            on_gpu = torch_clip(source, settings, device=device, threads=threads,
                                idle_unload_s=idle_unload_s)
            try:
                _ = on_gpu.model_id  # open_clip's own weights: cached, or fetched if allowed
                return on_gpu
            except WeightsUnavailable as exc:  # the ONNX files serve meanwhile (same id)
                log.info("CLIP stays on onnxruntime: PyTorch on the GPU needs %s", exc)
        return OnnxClipModel(
            WeightsSource(source.data_dir, allow_download=source.allow_download,
                          progress=source.progress, missing_hint=source.missing_hint),
            onnx_spec(published, settings.endpoint), identity=published.model_id, **onnx_args)

    exported = find_export(source.data_dir, settings)
    if exported is not None:
        if for_running and settings.runtime == "auto" and settings.precision == "fp32" \
                and _torch_gpu_beats_onnxruntime(device):
            return torch_clip(source, settings, device=device, threads=threads,
                              idle_unload_s=idle_unload_s)
        return OnnxClipModel(WeightsSource(source.data_dir, local_path=exported), **onnx_args)
    wants_onnx = settings.runtime == "onnxruntime" or settings.precision == "int8"
    if not wants_onnx:
        return torch_clip(source, settings, device=device, threads=threads,
                          idle_unload_s=idle_unload_s)
    if not for_running or not may_export or not torch_available():
        raise WeightsUnavailable(
            f"CLIP {settings.arch} {settings.pretrained or path}: no ONNX form of these weights "
            "is published or exported yet: run `pximse models export` once (it needs PyTorch: "
            "pip install 'pximse[clip-torch]')")
    return OnnxClipModel(WeightsSource(source.data_dir, local_path=export_now(source, settings)),
                         **onnx_args)


def export_now(source: WeightsSource, settings: ClipSettings) -> Path:
    """Export these settings' weights with PyTorch into the data folder (:mod:`.clip_export`)."""
    from pximse.models.clip_export import export_clip, export_folder

    clip = torch_clip(source, settings, device="cpu")
    target = export_folder(source.data_dir, clip.model_id)
    log.info("exporting CLIP %s to ONNX in %s (once)", clip.model_id, target)
    export_clip(clip, target, settings={
        "arch": settings.arch, "pretrained": settings.pretrained,
        "weights": str(settings.path) if settings.path else "",
        "quick_gelu": settings.quick_gelu})
    clip.unload()
    return target


def _torch_gpu_beats_onnxruntime(device: str | None) -> bool:
    """PyTorch on a CUDA GPU, when onnxruntime has none and the CPU is not asked for."""
    if device == "cpu" or not torch_available():
        return False
    from pximse.models.base import detect_device

    if detect_device("onnxruntime").startswith("cuda"):
        return False
    return detect_device("torch").startswith("cuda")
