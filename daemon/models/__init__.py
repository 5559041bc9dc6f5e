"""Model adapters: one small adapter per model family behind these protocols.

The adapters themselves (DeepDanbooru and WD14 taggers, open_clip, PP-OCR) are
built on top of these protocols; the catalogue already records, per image and
per stage, which ``model_id`` produced the stored results.

``weights`` resolves a model's files (configured folder, cache, one resumable,
checksummed download); ``base.InferenceModel`` is the lifecycle every adapter
shares (lazy load, id from the weights' digest, device decided once, idle
unload). Adapters: ``wd14`` and ``deepdanbooru`` (taggers), ``clip_onnx`` (CLIP on
onnxruntime, the default) and ``clip`` (open_clip on PyTorch), ``ocr``
(RapidOCR). :func:`make_tagger` is the one place a tagger name becomes an
adapter; ``clip_choice.make_clip`` the one place CLIP settings do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pximse.models.weights import WeightsUnavailable

if TYPE_CHECKING:
    from pximse.models.base import WeightsSource

__all__ = [
    "ImageTagger",
    "ImageEmbedder",
    "TextEmbedder",
    "OcrEngine",
    "OcrLine",
    "Model",
    "WeightsUnavailable",
    "make_tagger",
]


@runtime_checkable
class Model(Protocol):
    @property
    def model_id(self) -> str:
        """Name plus a digest of the weights: results are recorded with it."""

    @property
    def device(self) -> str:
        """Where it runs: ``cuda:0`` or ``cpu``."""


class ImageTagger(Model, Protocol):
    def tag(self, images: Sequence[Any]) -> list[Mapping[str, float]]:
        """Tag -> score for each decoded image in the batch."""


class ImageEmbedder(Model, Protocol):
    dimensions: int

    def embed_images(self, images: Sequence[Any]) -> Any:
        """One L2-normalised vector per image (an array of shape ``(n, dimensions)``)."""


class TextEmbedder(Model, Protocol):
    dimensions: int

    def embed_texts(self, texts: Sequence[str]) -> Any:
        """One L2-normalised vector per text, in the image embedder's space."""


@dataclass(frozen=True)
class OcrLine:
    text: str
    box: tuple[tuple[float, float], ...]
    confidence: float


class OcrEngine(Model, Protocol):
    def read(self, images: Sequence[Any]) -> list[list[OcrLine]]:
        """The lines of text found in each image."""


def make_tagger(
    name: str,
    source: WeightsSource,
    *,
    device: str | None = None,
    idle_unload_s: float | None = None,
    threads: int = 0,
    endpoint: str = "",
) -> ImageTagger:
    """The tagger adapter for ``name`` (``wd-vit-tagger-v3`` and the other WD14 v3
    models, or ``deepdanbooru``, DeepDanbooru v3, which runs in its own process).

    Adapters are imported here, not at the top, so that importing the protocols
    never loads numpy, Pillow or a runtime. ``threads``: the CPU threads the
    model may use (0: the runtime's default); ``endpoint``: where WD14 weights
    are downloaded from (``models.download_url``).
    """
    match name:
        case "deepdanbooru" | "deepdanbooru-v3":
            # TensorFlow runs in a child process: never imported here.
            from pximse.models.deepdanbooru import NAME, DeepDanbooruTagger

            return DeepDanbooruTagger(source, NAME, idle_unload_s=idle_unload_s)
        case _ if name.startswith("wd-"):
            from pximse.models.wd14 import WD14Tagger

            return WD14Tagger(source, name, device=device, idle_unload_s=idle_unload_s,
                              intra_op_threads=threads, endpoint=endpoint)
        case _:
            raise ValueError(
                f"unknown tagger {name!r}: WD14 v3 taggers are named wd-*-tagger-v3, "
                "DeepDanbooru v3 is deepdanbooru"
            )
