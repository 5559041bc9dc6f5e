"""The model stages: what each needs from a decoded image and where its results go.

A stage wraps one model (an adapter from ``pximse.models``) and knows how to
store a batch of its results in the catalogue; the runner records the per-image
``(stage, model_id)`` status beside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from pximse.models import ImageTagger, OcrEngine
from pximse.store.sqlite.catalog import SqliteCatalog


class Stage(Protocol):
    name: str
    """``tagger``, ``clip`` or ``ocr``: one result per image per stage is kept."""

    input_size: int
    """The longest side the model needs from the decoded image (the runner decodes
    once, at the largest size any stage needs)."""

    @property
    def model_id(self) -> str: ...

    def run(self, images: Sequence[Any]) -> list[Any]:
        """One result per image, in order."""

    def store(self, catalog: SqliteCatalog, results: Sequence[tuple[int, Any]]) -> None:
        """Write (content id, result) pairs, in one transaction where possible."""


class TaggerStage:
    name = "tagger"

    def __init__(self, tagger: ImageTagger, *, input_size: int = 448,
                 min_score: float = 0.05) -> None:
        self.tagger = tagger
        self.input_size = input_size
        self.min_score = min_score

    @property
    def model_id(self) -> str:
        return self.tagger.model_id

    def run(self, images: Sequence[Any]) -> list[Any]:
        try:
            return list(self.tagger.tag(images, min_score=self.min_score))  # type: ignore[call-arg]
        except TypeError:
            return list(self.tagger.tag(images))

    def store(self, catalog: SqliteCatalog, results: Sequence[tuple[int, Any]]) -> None:
        model_id = self.model_id
        catalog.set_model_tags_many((cid, model_id, tags) for cid, tags in results)


class OcrStage:
    name = "ocr"

    def __init__(self, engine: OcrEngine, *, input_size: int = 1600,
                 min_confidence: float = 0.7) -> None:
        self.engine = engine
        self.input_size = input_size
        self.min_confidence = min_confidence

    @property
    def model_id(self) -> str:
        return self.engine.model_id

    def run(self, images: Sequence[Any]) -> list[Any]:
        return list(self.engine.read(images, min_confidence=self.min_confidence))  # type: ignore[call-arg]

    def store(self, catalog: SqliteCatalog, results: Sequence[tuple[int, Any]]) -> None:
        model_id = self.model_id
        catalog.set_ocr_many(
            (cid, model_id, [(line.text, line.box, line.confidence) for line in lines])
            for cid, lines in results
        )
