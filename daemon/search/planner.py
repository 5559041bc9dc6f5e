"""The search planner: a query with a CLIP part runs as a filter inside a vector search.

A query is split in two (:func:`plan_query`): the filter, which is everything
but the ``Nearest`` node, and the vector part. The filter becomes the set of
allowed content ids (the in-memory index, or SQL without it); the vector part
becomes one query vector (CLIP text embedding, the stored vector of
``similar:ID``, or an uploaded image's embedding); the vector store then
searches *only* among the allowed ids (:meth:`EmbeddedVectorStore.search` with
``allowed=``), so a selective filter never starves a truncated candidate list.

:class:`ClipSearch` owns the two heavy parts, and loads neither at start:

* the CLIP model, built from ``[models]`` on the first vector query (PyTorch
  costs the daemon ~700 MB, so an idle daemon never loads it) and kept;
* the vector store, opened read-only on first use and reopened whenever its
  ``manifest.json`` names a new generation (``pximse models run`` writes the
  store from another process).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from pximse.config import Config
from pximse.query.ast import MatchAll, MisplacedNearest, Nearest, Query, split_nearest
from pximse.query.errors import QueryError
from pximse.query.printer import format_node, format_sort_key
from pximse.store.backends import open_saved_vectors, vectors_folder
from pximse.store.duplicates import SimilarIds, has_unresolved
from pximse.store.saved_vectors import SavedVectors, VectorsUnavailable
from pximse.store.vectors import VectorStore

log = logging.getLogger(__name__)

WHAT_TO_DO = (
    "set [models] clip (and clip_path or clip_pretrained) in the configuration, "
    "then run `pximse models run` (or keep `pximse serve` running) to embed the library"
)


_DUPES_K = 256  # CLIP neighbours looked at for one dupes: image


class VectorSearchUnavailable(Exception):
    """A vector query that cannot run here: no CLIP model configured, loadable, or no vectors.

    The API answers 503 with the message, which says what to do.
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)

    def to_dict(self) -> dict[str, object]:
        return {"error": "vector_search_unavailable", "message": self.message}


class QueryImageRejected(ValueError):
    """An uploaded or named query image that is not a safely decodable picture (400)."""


class QueryImageTooLarge(QueryImageRejected):
    """A query image with more pixels, or needing more memory, than query images may (413)."""


@dataclass(frozen=True)
class VectorPlan:
    """A query split for the planner: the filter (with the sort) and the vector part."""

    filter: Query
    nearest: Nearest | None
    upload: bool = False
    """True when the query vector is an uploaded image's (no node stands for it)."""

    @property
    def is_vector(self) -> bool:
        return self.nearest is not None or self.upload

    def explain(self) -> dict[str, Any]:
        """Which part does what, for the ``explain`` of a result page."""
        if self.upload:
            vector = {"kind": "upload", "text": "uploaded image"}
        elif self.nearest is not None and self.nearest.kind == "text":
            vector = {"kind": "text", "text": f"clip text {self.nearest.value!r}"}
        else:
            assert self.nearest is not None
            vector = {"kind": "image", "text": f"similar to {self.nearest.value}"}
        where = self.filter.where
        filter_text = "" if isinstance(where, MatchAll) else format_node(where)
        order = " ".join(format_sort_key(key) for key in self.filter.sort) or "score"
        return {"vector": vector, "filter": filter_text, "order": order}


def plan_query(query: Query, *, text: str = "", upload: bool = False) -> VectorPlan:
    """Split ``query``; ``text`` (the API's ``text=``) and ``upload`` add a vector part.

    Raises :class:`QueryError` when the vector node is misplaced or there are
    two vector parts (``clip:`` in the query and ``text=`` beside it, say).
    """
    try:
        where, nearest = split_nearest(query.where)
    except MisplacedNearest as error:
        raise QueryError(str(error)) from None
    extra = [part for part, given in (("text", bool(text.strip())), ("image", upload)) if given]
    if len(extra) + (nearest is not None) > 1:
        named = (["clip:/similar: in the query"] if nearest else []) + [f"{n}=" for n in extra]
        raise QueryError("only one vector search per query, but got " + " and ".join(named))
    if text.strip():
        nearest = Nearest("text", text)
    return VectorPlan(Query(where, query.sort), nearest, upload)


# -- the model and the store ---------------------------------------------------------


class ClipSearch:
    """The CLIP side of searches for one configuration; thread-safe, lazy."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._lock = threading.RLock()
        self._model: Any = None
        self._saved: SavedVectors | None = None

    @property
    def model_loaded(self) -> bool:
        return self._model is not None

    def model(self) -> Any:
        """The configured :class:`ClipModel`, made on first use (weights load on first embed)."""
        with self._lock:
            if self._model is None:
                self._model = self._make_model()
            return self._model

    def _make_model(self) -> Any:
        models = self.config.models
        if not models.clip:
            raise VectorSearchUnavailable(
                "CLIP search is off: the configuration's [models] clip is empty; " + WHAT_TO_DO)
        try:
            from pximse.models.weights import WeightsUnavailable
            from pximse.pipeline.build import clip_model

            # Downloads are the daemon's (or `pximse models download`'s) to make.
            model = clip_model(self.config, allow_download=False)
            _ = model.model_id, model.dimensions  # resolves the weights file, loads nothing
        except ImportError as exc:
            raise VectorSearchUnavailable(
                f"CLIP {models.clip} {models.clip_pretrained!r} runs on open_clip, which needs "
                f"PyTorch: pip install 'pximse[clip-torch]' ({exc})"
            ) from exc
        except WeightsUnavailable as exc:
            raise VectorSearchUnavailable(f"the CLIP model cannot be loaded: {exc}") from exc
        except (ValueError, KeyError) as exc:
            raise VectorSearchUnavailable(
                f"the CLIP settings do not fit together: {exc}; {WHAT_TO_DO}") from exc
        return model

    def saved_vectors(self) -> SavedVectors:
        """The model's saved vectors on the configured vector backend, made once."""
        model = self.model()
        with self._lock:
            if self._saved is None:
                self._saved = open_saved_vectors(self.config, model.model_id, model.dimensions)
            return self._saved

    def store(self) -> VectorStore:
        """The model's saved vectors, reopened when a newer generation was saved."""
        try:
            return self.saved_vectors().latest()
        except VectorsUnavailable as exc:
            raise VectorSearchUnavailable(str(exc)) from exc

    def check_saved(self) -> None:
        """Raise :class:`VectorSearchUnavailable` when no vectors are saved, as
        cheaply as the backend allows (the embedded store is not opened)."""
        try:
            self.saved_vectors().check()
        except VectorsUnavailable as exc:
            raise VectorSearchUnavailable(str(exc)) from exc

    def check_ready(self) -> None:
        """Raise :class:`VectorSearchUnavailable` when a vector search cannot run
        now, without embedding anything: so that an uploaded query image is
        refused before it is read."""
        self.store()

    @property
    def vectors_dir(self) -> Path:
        return vectors_folder(self.config)

    def embed_text(self, text: str) -> np.ndarray:
        return self._embed(lambda model: model.embed_texts([text]))

    def embed_image(self, image: Any) -> np.ndarray:
        return self._embed(lambda model: model.embed_images([image]))

    def _embed(self, run: Any) -> np.ndarray:
        from pximse.models.weights import WeightsUnavailable

        model = self.model()
        try:
            with self._lock:  # one inference at a time; the model is shared
                first: np.ndarray = np.asarray(run(model), dtype=np.float32)[0]
                return first
        except WeightsUnavailable as exc:
            raise VectorSearchUnavailable(f"the CLIP model cannot be loaded: {exc}") from exc

    def similar_ids(self) -> SimilarIds | None:
        """For ``dupes:``: a function from a content id to the ids whose CLIP
        vector is at least ``[search] dupe_similarity`` alike, or ``None`` when
        the library has no CLIP vectors (then only perceptual hashes count)."""
        try:
            store = self.store()
        except VectorSearchUnavailable:
            return None
        threshold = self.config.search.dupe_similarity

        def similar(content_id: int) -> np.ndarray:
            found, vectors = store.get(np.array([content_id], np.int64))
            if not len(found):
                return np.empty(0, np.int64)
            ids, scores = store.search(np.asarray(vectors[0], np.float32), _DUPES_K)
            return np.asarray(ids[scores >= threshold], np.int64)

        return similar

    def query_vector(self, plan: VectorPlan, catalog: Any, image: Any = None) -> np.ndarray:
        """The one vector a plan searches with."""
        if plan.upload:
            return self.embed_image(image)
        nearest = plan.nearest
        assert nearest is not None
        if nearest.kind == "text":
            return self.embed_text(nearest.value)
        content_id = catalog.content_id_of(nearest.value)
        found, vectors = self.store().get(np.array([content_id], np.int64))
        if not len(found):
            raise VectorSearchUnavailable(
                f"image {nearest.value} has no CLIP vector yet: run `pximse models run` "
                "(or wait for `pximse serve` to embed it)")
        return np.asarray(vectors[0], dtype=np.float32)


def load_query_image(path: str | Path, *, name: str, max_pixels: int, size: int = 448) -> Any:
    """Decode a query image at most ``size`` pixels a side (as the CLIP stage
    decodes), in bounded memory: see :mod:`pximse.library.query_image`.
    ``name`` stands for the file in messages."""
    from pximse.library.query_image import QueryImageTooLarge as TooLarge
    from pximse.library.query_image import (
        QueryImageUnreadable,
        decode_query_image,
    )

    try:
        return decode_query_image(path, name=name, max_pixels=max_pixels, box=size)
    except TooLarge as exc:
        raise QueryImageTooLarge(str(exc)) from None
    except QueryImageUnreadable as exc:
        raise QueryImageRejected(str(exc)) from None


def search_json(
    clip: ClipSearch,
    catalog: Any,
    plan: VectorPlan,
    *,
    limit: int,
    offset: int,
    seed: int = 0,
    timeout_ms: int = 5000,
    image: Any = None,
) -> dict[str, Any]:
    """Run a plan; a page in the usual JSON shape, with ``score`` and ``explain`` added."""
    if has_unresolved(plan.filter.where):
        plan = replace(plan, filter=catalog.resolve_duplicates(
            plan.filter, clip.similar_ids()))
    if not plan.is_vector:
        return dict(catalog.search(plan.filter, limit=limit, offset=offset, seed=seed,
                                   timeout_ms=timeout_ms).to_json())
    vector = clip.query_vector(plan, catalog, image)
    page, scores = catalog.search_near(plan.filter, vector, clip.store(), limit=limit,
                                       offset=offset, seed=seed, timeout_ms=timeout_ms)
    body: dict[str, Any] = page.to_json()
    explain = plan.explain()
    explain["model_id"] = clip.model().model_id
    body["explain"] = explain
    filter_text = f" · filter: {explain['filter']}" if explain["filter"] else ""
    for item, score in zip(body["items"], scores, strict=True):
        item["score"] = round(float(score), 6)
        item["explain"] = f"{explain['vector']['text']} {score:.3f}{filter_text}"
    return body
