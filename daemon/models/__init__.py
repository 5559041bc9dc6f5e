"""Model adapters: one small adapter per model family behind these protocols.

The adapters themselves (DeepDanbooru and WD14 taggers, open_clip, PP-OCR) are
built on top of these protocols; the catalogue already records, per image and
per stage, which ``model_id`` produced the stored results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["ImageTagger", "ImageEmbedder", "TextEmbedder", "OcrEngine", "OcrLine", "Model"]


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
