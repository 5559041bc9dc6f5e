"""Feeding the catalogue's images to every model stage: decode once, batch always.

Each pending image is read and decoded once per run, at the largest size any
stage that still needs it asks for (JPEG draft mode makes big JPEGs cheap), in
a small thread pool that works one batch ahead of the models, so memory stays
flat however many images are pending. Every stage's view is bounded in pixels
and aspect (``pipeline.views``), and a batch is cut short when its views would
pass :data:`BATCH_VIEW_PIXELS` (a folder of webtoon strips). Each stage runs on
the batch of images that need it; its results and the per-image ``(stage,
model_id)`` status are written together, so a crash resumes where it stopped.
A batch that fails is tried again one image at a time, so a failure is kept
for the image that failed (with a one-line reason), never for its
batch-mates, and not retried until the file or the model changes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from pximse.error_text import one_line
from pximse.library.probe import DecodedImage, decode_image
from pximse.pipeline.stages import Stage
from pximse.pipeline.views import view_size
from pximse.store.backends import Catalog

log = logging.getLogger(__name__)

BATCH_VIEW_PIXELS = 64_000_000
"""Pixels of the views one batch may hold (one batch decoded ahead holds as
many more): about 200 MB of RGB each."""

ProgressCallback = Callable[[str, int, int], None]
"""``progress(stage, done, pending_at_start)``."""

BatchSource = Callable[["Catalog", Sequence[Stage], int, "int | None"],
                       Iterator[list["PendingImage"]]]
"""``batches(catalog, stages, batch_size, limit)``: the images to run, batch by
batch (the default walks content ids in order; see ``pipeline.priority``)."""


@dataclass
class StageReport:
    done: int = 0
    errors: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0


@dataclass
class PipelineReport:
    images: int = 0
    decoded: int = 0
    decode_errors: int = 0
    seconds: float = 0.0
    stages: dict[str, StageReport] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "decoded": self.decoded,
            "decode_errors": self.decode_errors,
            "seconds": round(self.seconds, 3),
            "stages": {
                name: {"done": s.done, "errors": s.errors, "images_per_s": round(s.rate, 2)}
                for name, s in self.stages.items()
            },
        }


@dataclass
class PendingImage:
    content_id: int
    sha256: str
    stages: list[Stage]
    path: str | None = None


_Item = PendingImage


def run_pipeline(
    catalog: Catalog,
    stages: Sequence[Stage],
    *,
    batch_size: int = 16,
    decode_workers: int = 2,
    max_pixels: int = 100_000_000,
    limit: int | None = None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    batches: BatchSource | None = None,
    in_hand: Callable[[list[int]], None] | None = None,
    decode_ahead: bool = True,
) -> PipelineReport:
    """Run every stage on the images that still need it; return what was done.

    ``in_hand(ids)`` is told the content ids in memory (the batch the models run
    on and the one decoded ahead) each time they change, ``[]`` at the end: if
    the process dies, those are the images that may have killed it (without
    ``decode_ahead``, only the batch the models run on is in hand)."""
    report = PipelineReport(stages={stage.name: StageReport() for stage in stages})
    started = time.perf_counter()
    pending_at_start = {
        stage.name: catalog.count_pending(stage.name, stage.model_id) for stage in stages
    } if progress else {}
    with ThreadPoolExecutor(max(1, decode_workers), thread_name_prefix="decode") as pool:
        source = _within_budget(catalog, (batches or _batches)(catalog, stages, batch_size,
                                                                limit))
        current: list[_Item] = []

        def take(batch: list[_Item] | None) -> tuple[list[_Item], list[Future[Any]]] | None:
            """Start decoding ``batch``, having said first what will be in hand."""
            if in_hand is not None and batch is not None:
                in_hand([item.content_id for item in current + batch])
            return _submit(pool, batch, max_pixels)

        ahead = take(next(source, None))
        while ahead is not None:
            current, futures = ahead
            items = current
            ahead = take(next(source, None)) if decode_ahead else None
            if in_hand is not None and ahead is None:
                in_hand([item.content_id for item in items])
            decoded = [future.result() for future in futures]
            _run_batch(catalog, stages, items, decoded, report)
            if progress:
                for stage in stages:
                    progress(stage.name, report.stages[stage.name].done,
                             pending_at_start.get(stage.name, 0))
            if should_stop():
                break
            if not decode_ahead:
                current = []
                ahead = take(next(source, None))
    if in_hand is not None:
        in_hand([])
    for stage in stages:
        stage.finish(catalog)
    report.seconds = time.perf_counter() - started
    return report


def _batches(catalog: Catalog, stages: Sequence[Stage], batch_size: int,
             limit: int | None) -> Iterator[list[_Item]]:
    """Pending images in batches, in content id order. Each stage's candidates
    come from past the last image handed out, and every candidate at or below a
    batch's last id is in that batch (the batch is the smallest ids of all the
    stages' lists, each at least a batch long), so nothing is skipped or given
    twice, and no query walks back over what the run already did."""
    handed = 0
    after = 0
    while limit is None or handed < limit:
        wanted: dict[int, _Item] = {}
        for stage in stages:
            for content_id, sha in catalog.pending_for_stage(stage.name, stage.model_id,
                                                             batch_size * 4, after=after):
                item = wanted.setdefault(content_id, _Item(content_id, sha, []))
                item.stages.append(stage)
        if not wanted:
            return
        batch = sorted(wanted.values(), key=lambda item: item.content_id)[:batch_size]
        if limit is not None:
            batch = batch[: limit - handed]
        handed += len(batch)
        after = batch[-1].content_id
        for item in batch:
            found = catalog.file_for(item.sha256)
            item.path = found[0] if found else None
        yield batch


def _within_budget(catalog: Catalog, batches: Iterator[list[_Item]]
                   ) -> Iterator[list[_Item]]:
    """The batches, each cut where its views would pass BATCH_VIEW_PIXELS."""
    for batch in batches:
        sizes = catalog.image_sizes([item.content_id for item in batch])
        part: list[_Item] = []
        pixels = 0
        for item in batch:
            width, height = sizes.get(item.content_id, (1, 1))
            cost = sum(w * h for w, h in {view_size(s, width, height) for s in item.stages})
            if part and pixels + cost > BATCH_VIEW_PIXELS:
                yield part
                part, pixels = [], 0
            part.append(item)
            pixels += cost
        if part:
            yield part


def _submit(pool: ThreadPoolExecutor, items: list[_Item] | None, max_pixels: int
            ) -> tuple[list[_Item], list[Future[Any]]] | None:
    if items is None:
        return None
    return items, [pool.submit(_decode_for, item, max_pixels) for item in items]


@dataclass
class _Decoded:
    """One decode, and a copy at each smaller size a stage asked for (made here, in
    the decode thread, so that the models do not spend their time shrinking)."""

    views: dict[str, Any]  # stage name -> its view

    def for_stage(self, stage: Stage) -> Any:
        return self.views[stage.name]


def _views(decoded: DecodedImage, stages: list[Stage]) -> _Decoded:
    largest = decoded.preview
    made: dict[tuple[int, int], Any] = {}
    views: dict[str, Any] = {}
    for stage in stages:
        width, height = view_size(stage, decoded.width, decoded.height)
        if width >= largest.width or height >= largest.height:
            views[stage.name] = largest  # never enlarged
            continue
        if (width, height) not in made:
            made[(width, height)] = largest.resize((width, height), Image.Resampling.BILINEAR)
        views[stage.name] = made[(width, height)]
    return _Decoded(views)


def _decode_for(item: _Item, max_pixels: int) -> _Decoded | str:
    """The image at the largest size its stages need, or why it could not be had."""
    path = item.path
    if path is None:
        return "no online file holds this image"

    def longest_view(width: int, height: int) -> int:
        return max(max(view_size(stage, width, height)) for stage in item.stages)

    decoded = decode_image(path, preview_size=longest_view, max_pixels=max_pixels)
    if not isinstance(decoded, DecodedImage):
        return decoded.message
    if decoded.sha256 != item.sha256:
        return "the file changed since it was scanned; it is indexed again after the next scan"
    return _views(decoded, item.stages)


def _run_batch(catalog: Catalog, stages: Sequence[Stage], items: list[_Item],
               decoded: list[_Decoded | str], report: PipelineReport) -> None:
    report.images += len(items)
    statuses: list[tuple[int, str, str, str | None]] = []
    for item, result in zip(items, decoded, strict=True):
        if isinstance(result, str):
            report.decode_errors += 1
            statuses += [(item.content_id, s.name, s.model_id, result) for s in item.stages]
        else:
            report.decoded += 1
    for stage in stages:
        todo = [
            (item.content_id, result.for_stage(stage))
            for item, result in zip(items, decoded, strict=True)
            if stage in item.stages and isinstance(result, _Decoded)
        ]
        if not todo:
            continue
        stage_report = report.stages[stage.name]
        started = time.perf_counter()
        results, failures = _run_stage(stage, todo)
        if results:
            stage.store(catalog, results)
        stage_report.seconds += time.perf_counter() - started
        stage_report.done += len(results)
        stage_report.errors += len(failures)
        statuses += [(cid, stage.name, stage.model_id, None) for cid, _ in results]
        statuses += [(cid, stage.name, stage.model_id, why) for cid, why in failures]
    catalog.record_stages(statuses)


def _run_stage(stage: Stage, todo: list[tuple[int, Any]]
               ) -> tuple[list[tuple[int, Any]], list[tuple[int, str]]]:
    """(content id, result) for the images the stage read, (content id, one-line
    reason) for those it failed on. A batch that fails is tried one image at a
    time: one bad image must not fail the others."""
    try:
        outputs = stage.run([image for _, image in todo])
        return [(cid, out) for (cid, _), out in zip(todo, outputs, strict=True)], []
    except Exception as exc:
        if len(todo) == 1:
            log.warning("stage %s failed on image %d: %s", stage.name, todo[0][0], one_line(exc))
            return [], [(todo[0][0], one_line(exc))]
        log.warning("stage %s failed on a batch of %d images (%s): trying them one at a time",
                    stage.name, len(todo), one_line(exc))
    results: list[tuple[int, Any]] = []
    failures: list[tuple[int, str]] = []
    for content_id, image in todo:
        done, failed = _run_stage(stage, [(content_id, image)])
        results += done
        failures += failed
    return results, failures
