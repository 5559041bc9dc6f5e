"""The model stages: what each needs from a decoded image and where its results go.

A stage wraps one model (an adapter from ``pximse.models``) and knows how to
store a batch of its results in the catalogue; the runner records the per-image
``(stage, model_id)`` status beside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pximse.models import ImageTagger, OcrEngine, OcrLine
from pximse.pipeline.views import bounded_size, pixels_within
from pximse.store.backends import Catalog


class Stage(Protocol):
    name: str
    """``tagger``, ``clip`` or ``ocr``: one result per image per stage is kept."""

    input_size: int
    """The short side the model needs from the decoded image (the runner decodes
    once, at the largest size any stage needs; see ``pipeline.views`` for the
    budget of pixels and aspect every view keeps; a stage may also define
    ``view_size(width, height)`` for itself)."""

    @property
    def model_id(self) -> str: ...

    def run(self, images: Sequence[Any]) -> list[Any]:
        """One result per image, in order."""

    def store(self, catalog: Catalog, results: Sequence[tuple[int, Any]]) -> None:
        """Write (content id, result) pairs, in one transaction where possible."""

    def finish(self, catalog: Catalog) -> None:
        """Make what ``store`` wrote durable (the runner calls it at the end of a run)."""


class _Immediate:
    """Stages whose ``store`` is durable at once."""

    def finish(self, catalog: Catalog) -> None:
        return None


class TaggerStage(_Immediate):
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

    def store(self, catalog: Catalog, results: Sequence[tuple[int, Any]]) -> None:
        model_id = self.model_id
        catalog.set_model_tags_many((cid, model_id, tags) for cid, tags in results)


class OcrStage(_Immediate):
    """Text lines of each image.

    A page (up to :data:`PAGE_ASPECT` times longer than wide) is read whole, at
    up to ``input_size`` on its long side. A strip (a webtoon, a long banner) is
    read at up to :data:`STRIP_SIDE` across and :data:`STRIP_PIXELS` in all,
    which the engine reads in overlapping tiles: its text stays readable and
    the memory bounded. Boxes are stored in one space for both: the image
    shrunk to ``input_size`` on its long side (what ``/api/images/{id}``
    gives as ``ocr_box_space``).
    """

    name = "ocr"
    PAGE_ASPECT = 2.5
    STRIP_SIDE = 1024
    STRIP_PIXELS = 16_000_000

    def __init__(self, engine: OcrEngine, *, input_size: int = 1600,
                 min_confidence: float = 0.7) -> None:
        self.engine = engine
        self.input_size = input_size
        self.min_confidence = min_confidence

    @property
    def model_id(self) -> str:
        return self.engine.model_id

    def view_size(self, width: int, height: int) -> tuple[int, int]:
        short, long = min(width, height), max(width, height)
        if long <= self.PAGE_ASPECT * short:
            return bounded_size(width, height, self.input_size / long)
        return bounded_size(width, height, min(self.STRIP_SIDE / short,
                                               pixels_within(width, height, self.STRIP_PIXELS)))

    def run(self, images: Sequence[Any]) -> list[Any]:
        found = self.engine.read(images, min_confidence=self.min_confidence)  # type: ignore[call-arg]
        return [self._in_box_space(lines, image) for image, lines in zip(images, found,
                                                                          strict=True)]

    def _in_box_space(self, lines: list[OcrLine], image: Any) -> list[OcrLine]:
        """Boxes measured on a strip's larger view, brought to the stored box space."""
        width, height = image.size if hasattr(image, "size") and not hasattr(image, "shape") \
            else (image.shape[1], image.shape[0])
        factor = min(1.0, self.input_size / max(width, height))
        if factor == 1.0:
            return list(lines)
        return [OcrLine(line.text, tuple((x * factor, y * factor) for x, y in line.box),
                        line.confidence) for line in lines]

    def store(self, catalog: Catalog, results: Sequence[tuple[int, Any]]) -> None:
        model_id = self.model_id
        catalog.set_ocr_many(
            (cid, model_id, [(line.text, line.box, line.confidence) for line in lines])
            for cid, lines in results
        )


class ClipStage:
    """CLIP image embeddings into the vector store of the model's id.

    The store (the embedded one, or Milvus when ``[backend] milvus_uri`` says so)
    is opened on first use, so a plan that finds no work opens nothing. It is
    saved every ``save_every`` images and at the end of a run. The catalogue's
    ``clip`` status is written per batch, so a crash can leave images recorded
    as embedded whose vectors were never saved: while vectors are unsaved, a
    marker file says so, and the next run starts by forgetting the status of
    images missing from the store (:meth:`reconcile`), so they are embedded again.
    """

    name = "clip"
    UNSAVED_MARKER = "unsaved"

    def __init__(self, model: Any, vectors_dir: Path, *, input_size: int = 224,
                 save_every: int = 2048, vectors: Any = None, config: Any = None) -> None:
        self.model = model
        self.input_size = input_size
        self.save_every = save_every
        self.vectors_dir = Path(vectors_dir)
        self._config = config
        self._unsaved = 0
        self._vectors = vectors

    @property
    def vectors(self) -> Any:
        if self._vectors is None:
            if self._config is not None:
                from pximse.store.backends import open_vector_store

                self._vectors = open_vector_store(self._config, self.model_id,
                                                  self.model.dimensions)
            else:
                from pximse.store.vectors.embedded import EmbeddedVectorStore

                self._vectors = EmbeddedVectorStore(self.vectors_dir, self.model.dimensions,
                                                    self.model_id)
        return self._vectors

    @property
    def model_id(self) -> str:
        return str(self.model.model_id)

    @property
    def _marker(self) -> Path:
        return self.vectors_dir / self.UNSAVED_MARKER

    def may_have_unsaved(self) -> bool:
        """Whether a run stopped with vectors not yet saved (a crash)."""
        return self._marker.exists()

    def reconcile(self, catalog: Catalog) -> int:
        """Reset the status of images recorded as embedded but missing from the store."""
        done = catalog.stage_done_ids(self.name, self.model_id)
        missing = np.zeros(0, dtype=np.int64)
        if len(done):
            missing = done[~self.vectors.present(done)]  # no vector is copied
            catalog.forget_stage(self.name, missing)
        self._marker.unlink(missing_ok=True)
        return len(missing)

    def run(self, images: Sequence[Any]) -> list[Any]:
        return list(self.model.embed_images(images))

    def store(self, catalog: Catalog, results: Sequence[tuple[int, Any]]) -> None:
        if not self._unsaved:
            self.vectors_dir.mkdir(parents=True, exist_ok=True)
            self._marker.touch()
        ids = np.array([cid for cid, _ in results], dtype=np.int64)
        self.vectors.add(ids, np.stack([vector for _, vector in results]).astype(np.float32))
        self._unsaved += len(results)
        if self._unsaved >= self.save_every:
            self.finish(catalog)

    def finish(self, catalog: Catalog) -> None:
        copies = catalog.copies_vector_scalars  # MongoDB + Milvus
        if self._vectors is None and not copies:
            return  # nothing was embedded and nothing to copy: nothing to open
        self.vectors.save()
        self._unsaved = 0
        self._marker.unlink(missing_ok=True)
        if copies:
            catalog.sync_vector_scalars(self.vectors)
