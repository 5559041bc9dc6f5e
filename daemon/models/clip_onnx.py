"""CLIP on onnxruntime: the image and text towers as two ONNX graphs, no PyTorch.

A CLIP model for onnxruntime is a folder in the layout Immich's machine-learning
service uses (so its exports on Hugging Face load as they are, and PxIMSE's own
exports, ``pximse models export``, load in Immich):

``config.json``
    open_clip's model config: ``embed_dim``, ``vision_cfg``, ``text_cfg``
    (``context_length``).
``visual/model.onnx``, ``visual/preprocess_cfg.json``
    ``image`` (N, 3, H, W), float32, normalised -> one embedding per row; the
    preprocessing config gives ``size``, ``mean``, ``std``, ``interpolation``
    and ``resize_mode`` as open_clip names them.
``textual/model.onnx``, ``textual/tokenizer.json``, ``textual/tokenizer_config.json``
    ``text`` (N, context) token ids (int32 or int64, as the graph says) -> one
    embedding per row; the tokenizer is a Hugging Face ``tokenizers`` file, padded
    with ``pad_token`` from the config and truncated to the context.
``pximse_export.json`` (PxIMSE's exports only)
    the model id of the weights that were exported, so that the ONNX copy of a
    model records its results under the same id as open_clip on PyTorch.

Images get open_clip's eval transform, done with Pillow and numpy: transparency
composited onto white, the short side resized to ``size`` (bicubic unless the
config says bilinear), a centre crop as torchvision computes it, ``/255``, then
``(x - mean) / std``. Graphs whose batch axis is fixed at 1 (Immich's) run one
image at a time; others in batches. The towers load separately, on first use:
a text search loads only the text tower. Outputs are L2-normalised float32.

``precision = "int8"`` runs the image tower quantised with onnxruntime's dynamic
int8 quantisation (made once from the float32 graph, see :mod:`.quantize`);
the text tower stays float32. Its vectors differ slightly, so its model id ends
in ``:int8``.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pximse.models.base import InferenceModel, OrtSession, WeightsSource
from pximse.models.batches import embed_in_batches, unit_rows
from pximse.models.images import flatten_on_white
from pximse.models.weights import WeightsFile, WeightsSpec, hub_url, model_digest

__all__ = [
    "CONFIG_FILE",
    "EXPORT_MANIFEST",
    "ONNX_SOURCES",
    "OnnxClipModel",
    "OnnxSource",
    "is_onnx_folder",
    "onnx_source",
    "onnx_spec",
    "preprocess",
]

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
VISUAL_MODEL = "visual/model.onnx"
VISUAL_PREPROCESS = "visual/preprocess_cfg.json"
TEXTUAL_MODEL = "textual/model.onnx"
TOKENIZER_FILE = "textual/tokenizer.json"
TOKENIZER_CONFIG = "textual/tokenizer_config.json"
EXPORT_MANIFEST = "pximse_export.json"
LAYOUT = (CONFIG_FILE, VISUAL_MODEL, VISUAL_PREPROCESS, TEXTUAL_MODEL, TOKENIZER_FILE,
          TOKENIZER_CONFIG)
DEFAULT_BATCH_SIZE = 32


@dataclass(frozen=True)
class OnnxSource:
    """Where ONNX exports of one open_clip model (architecture + weights tag) are published."""

    arch: str
    tag: str
    repo: str
    quick_gelu: bool

    @property
    def name(self) -> str:
        """The cache folder's name: the repository's, ``ViT-B-32__openai``."""
        return self.repo.rsplit("/", 1)[-1]

    @property
    def model_id(self) -> str:
        """The same id open_clip on PyTorch gives these weights."""
        arch = self.arch + ("-quickgelu" if self.quick_gelu else "")
        return f"clip:{arch}:{self.tag}"


#: Exports Immich publishes on Hugging Face, made from open_clip's own weights
#: (OpenAI's need QuickGELU). Other models: ``pximse models export``.
ONNX_SOURCES: dict[tuple[str, str], OnnxSource] = {
    (arch, "openai"): OnnxSource(arch, "openai", f"immich-app/{arch}__openai", True)
    for arch in ("ViT-B-32", "ViT-B-16", "ViT-L-14")
}


def onnx_source(arch: str, tag: str | None) -> OnnxSource | None:
    return ONNX_SOURCES.get((arch, tag or ""))


def onnx_spec(source: OnnxSource, endpoint: str = "") -> WeightsSpec:
    """The files to download for ``source``. No SHA-256 is pinned here: each file
    is checked against the checksum the hub announces for it (see ``weights``)."""
    return WeightsSpec(
        name=source.name,
        files=tuple(WeightsFile(name, hub_url(source.repo, name, endpoint)) for name in LAYOUT),
    )


def is_onnx_folder(path: Path) -> bool:
    return (path / VISUAL_MODEL).is_file() or (path / TEXTUAL_MODEL).is_file()


def _pad_token(config: Mapping[str, Any]) -> str:
    token = config.get("pad_token")
    if isinstance(token, Mapping):
        token = token.get("content")
    if not isinstance(token, str):
        raise ValueError(f"{TOKENIZER_CONFIG} names no pad_token")
    return token


_WHITESPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """What open_clip does to a text before tokenizing it (less ftfy's repairs):
    HTML entities decoded, runs of whitespace made one space, ends trimmed."""
    return _WHITESPACE.sub(" ", html.unescape(html.unescape(text))).strip()


def preprocess(image: Image.Image, cfg: Mapping[str, Any]) -> np.ndarray:
    """One image as open_clip's eval transform makes it: ``(3, size, size)`` float32."""
    size_value = cfg.get("size", 224)
    size = int(size_value[0] if isinstance(size_value, list | tuple) else size_value)
    resample = (Image.Resampling.BILINEAR if cfg.get("interpolation") == "bilinear"
                else Image.Resampling.BICUBIC)
    rgb = flatten_on_white(image)
    mode = cfg.get("resize_mode") or "shortest"
    if mode == "squash":
        rgb = rgb.resize((size, size), resample)
    elif mode == "shortest":
        width, height = rgb.size
        short, long = (width, height) if width <= height else (height, width)
        if short != size:  # torchvision's Resize(int): the short side to size
            new_long = int(size * long / short)
            new = (size, new_long) if width <= height else (new_long, size)
            rgb = rgb.resize(new, resample)
        width, height = rgb.size
        top = int(round((height - size) / 2.0))
        left = int(round((width - size) / 2.0))
        rgb = rgb.crop((left, top, left + size, top + size))
    else:
        raise ValueError(f"{VISUAL_PREPROCESS}: resize_mode {mode!r} is not supported "
                         "(shortest or squash)")
    array = np.asarray(rgb, dtype=np.float32) / np.float32(255.0)
    mean = np.asarray(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073)), dtype=np.float32)
    std = np.asarray(cfg.get("std", (0.26862954, 0.26130258, 0.27577711)), dtype=np.float32)
    return np.ascontiguousarray(((array - mean) / std).transpose(2, 0, 1))


def _read_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


class _Tower:
    """One ONNX graph: its session, input and whether it takes one row at a time."""

    def __init__(self, path: Path, device: str, threads: int) -> None:
        self.session = OrtSession(path, device, intra_op_threads=threads)
        (graph_input,) = self.session.get_inputs()
        self.input = graph_input.name
        self.batch_one = graph_input.shape[0] == 1
        self.int32 = graph_input.type == "tensor(int32)"

    def run(self, batch: np.ndarray) -> np.ndarray:
        if self.batch_one:
            rows = [self.session.run({self.input: batch[i : i + 1]})[0]
                    for i in range(len(batch))]
            output = np.concatenate(rows)
        else:
            output = self.session.run({self.input: batch})[0]
        return unit_rows(output)


class OnnxClipModel(InferenceModel):
    """CLIP from an ONNX folder: ``embed_images`` and ``embed_texts`` into one space.

    ``identity`` is the model id without the precision (a published source's or
    an export's); without one, the id is ``clip:onnx-<folder>:<digest of the
    graphs>``. ``source.local_path`` is the folder (a user's, or the cache
    folder the daemon downloads into).
    """

    def __init__(
        self,
        source: WeightsSource,
        spec: WeightsSpec | None = None,
        *,
        identity: str | None = None,
        precision: str = "fp32",
        device: str | None = None,
        idle_unload_s: float | None = None,
        intra_op_threads: int = 0,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        if precision not in ("fp32", "int8"):
            raise ValueError(f"precision must be fp32 or int8, not {precision!r}")
        if spec is None:
            if source.local_path is None:
                raise ValueError("an ONNX CLIP model needs a folder or a published source")
            spec = WeightsSpec(f"onnx-{Path(source.local_path).name}",
                               tuple(WeightsFile(name) for name in LAYOUT))
        super().__init__(spec, source, device=device, idle_unload_s=idle_unload_s)
        self.identity = identity
        self.precision = precision
        self.intra_op_threads = intra_op_threads
        self.batch_size = batch_size
        self._tower_lock = threading.Lock()
        self._visual: _Tower | None = None
        self._textual: _Tower | None = None
        self._tokenizer: Any = None
        self._preprocess_cfg: dict[str, Any] | None = None
        self._dimensions: int | None = None

    @property
    def model_id(self) -> str:
        with self._lock:
            if self._model_id is None:
                _ = self.files  # missing weights raise here, whatever the id is made of
                base = self.identity or self._manifest_id()
                if base is None:
                    graphs = [self.files[VISUAL_MODEL], self.files[TEXTUAL_MODEL]]
                    base = f"clip:{self.name}:{model_digest(graphs, data_dir=self.source.data_dir)}"
                self._model_id = base + (":int8" if self.precision == "int8" else "")
            return self._model_id

    def _manifest_id(self) -> str | None:
        manifest = self.files[CONFIG_FILE].parent / EXPORT_MANIFEST
        if not manifest.is_file():
            return None
        model_id = _read_json(manifest).get("model_id")
        return str(model_id) if model_id else None

    @property
    def dimensions(self) -> int:
        """Embedding width, from ``config.json`` (no graph is loaded for it)."""
        if self._dimensions is None:
            self._dimensions = int(_read_json(self.files[CONFIG_FILE])["embed_dim"])
        return self._dimensions

    @property
    def context_length(self) -> int:
        text_cfg = _read_json(self.files[CONFIG_FILE]).get("text_cfg", {})
        return int(text_cfg.get("context_length", 77))

    def describe_runtime(self) -> dict[str, Any]:
        return {"runtime": "onnxruntime", "device": self.device,
                "threads": self.intra_op_threads or "all", "precision": self.precision}

    # -- lifecycle -------------------------------------------------------------------

    def _load(self, files: Mapping[str, Path], device: str) -> str:
        """The towers load on first use; here only where they will run."""
        self._preprocess_cfg = _read_json(files[VISUAL_PREPROCESS])
        return device

    def _release(self) -> None:
        with self._tower_lock:
            self._visual = None
            self._textual = None
            self._tokenizer = None

    def _visual_tower(self) -> _Tower:
        with self._tower_lock:
            if self._visual is None:
                path = self.files[VISUAL_MODEL]
                if self.precision == "int8":
                    from pximse.models.quantize import quantized_copy

                    path = quantized_copy(path, self.source.data_dir)
                self._visual = _Tower(path, self._loaded_device or "cpu", self.intra_op_threads)
                self._loaded_device = self._visual.session.device
                log.info("CLIP image tower %s on %s (%s)", path, self._visual.session.device,
                         self.precision)
            return self._visual

    def _text_tower(self) -> tuple[_Tower, Any]:
        with self._tower_lock:
            if self._textual is None:
                from tokenizers import Tokenizer

                context = self.context_length
                tokenizer = Tokenizer.from_file(str(self.files[TOKENIZER_FILE]))
                pad = _pad_token(_read_json(self.files[TOKENIZER_CONFIG]))
                pad_id = tokenizer.token_to_id(pad)
                if pad_id is None:
                    raise ValueError(f"{self.files[TOKENIZER_FILE]} has no token {pad!r} "
                                     f"({TOKENIZER_CONFIG}'s pad_token)")
                tokenizer.enable_padding(length=context, pad_id=pad_id, pad_token=pad)
                tokenizer.enable_truncation(max_length=context)
                self._tokenizer = tokenizer
                self._textual = _Tower(self.files[TEXTUAL_MODEL], self._loaded_device or "cpu",
                                       self.intra_op_threads)
            return self._textual, self._tokenizer

    # -- inference -------------------------------------------------------------------

    def embed_images(self, images: Sequence[Any], *, batch_size: int | None = None) -> np.ndarray:
        """One L2-normalised float32 row per PIL image (any mode)."""
        if not images:  # no tower is loaded for nothing
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._in_use():
            tower = self._visual_tower()
            cfg = self._preprocess_cfg or {}
            return embed_in_batches(
                images, batch_size or self.batch_size, self.dimensions,
                lambda chunk: tower.run(np.stack([preprocess(image, cfg) for image in chunk])))

    def embed_texts(self, texts: Sequence[str], *, batch_size: int | None = None) -> np.ndarray:
        """One L2-normalised float32 row per text; texts past the context are truncated."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._in_use():
            tower, tokenizer = self._text_tower()
            dtype = np.int32 if tower.int32 else np.int64

            def embed(chunk: Sequence[str]) -> np.ndarray:
                encoded = tokenizer.encode_batch([clean_text(text) for text in chunk])
                return tower.run(np.array([e.ids for e in encoded], dtype=dtype))

            return embed_in_batches(texts, batch_size or self.batch_size, self.dimensions, embed)
