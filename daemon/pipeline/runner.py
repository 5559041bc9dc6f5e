"""Feeding the catalogue's images to every model stage: decode once, batch always.

Each pending image is read and decoded once per run, at the largest size any
stage that still needs it asks for (JPEG draft mode makes big JPEGs cheap), in
a small thread pool that works one batch ahead of the models, so memory stays
flat however many images are pending. Each stage runs on the batch of images
that need it; its results and the per-image ``(stage, model_id)`` status are
written together, so a crash resumes where it stopped, and a failure is kept
with its reason and not retried until the file or the model changes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from pximse.library.probe import DecodedImage, decode_image
from pximse.pipeline.stages import Stage
from pximse.store.sqlite.catalog import SqliteCatalog

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], None]
"""``progress(stage, done, pending_at_start)``."""

BatchSource = Callable[["SqliteCatalog", Sequence[Stage], int, "int | None"],
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
    catalog: SqliteCatalog,
    stages: Sequence[Stage],
    *,
    batch_size: int = 16,
    decode_workers: int = 2,
    max_pixels: int = 100_000_000,
    limit: int | None = None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    batches: BatchSource | None = None,
) -> PipelineReport:
    """Run every stage on the images that still need it; return what was done."""
    report = PipelineReport(stages={stage.name: StageReport() for stage in stages})
    started = time.perf_counter()
    pending_at_start = {
        stage.name: catalog.count_pending(stage.name, stage.model_id) for stage in stages
    } if progress else {}
    with ThreadPoolExecutor(max(1, decode_workers), thread_name_prefix="decode") as pool:
        source = (batches or _batches)(catalog, stages, batch_size, limit)
        ahead: tuple[list[_Item], list[Future[Any]]] | None = _submit(pool, next(source, None),
                                                                      max_pixels)
        while ahead is not None:
            items, futures = ahead
            ahead = _submit(pool, next(source, None), max_pixels)  # decode one batch ahead
            decoded = [future.result() for future in futures]
            _run_batch(catalog, stages, items, decoded, report)
            if progress:
                for stage in stages:
                    progress(stage.name, report.stages[stage.name].done,
                             pending_at_start.get(stage.name, 0))
            if should_stop():
                break
    for stage in stages:
        stage.finish(catalog)
    report.seconds = time.perf_counter() - started
    return report


def _batches(catalog: SqliteCatalog, stages: Sequence[Stage], batch_size: int,
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


def _submit(pool: ThreadPoolExecutor, items: list[_Item] | None, max_pixels: int
            ) -> tuple[list[_Item], list[Future[Any]]] | None:
    if items is None:
        return None
    return items, [pool.submit(_decode_for, item, max_pixels) for item in items]


@dataclass
class _Decoded:
    """One decode, and a copy at each smaller size a stage asked for (made here, in
    the decode thread, so that the models do not spend their time shrinking)."""

    views: dict[int, Any]

    def for_stage(self, stage: Stage) -> Any:
        return self.views[stage.input_size]


def _views(decoded: DecodedImage, stages: list[Stage]) -> _Decoded:
    largest = decoded.preview
    views: dict[int, Any] = {}
    for size in sorted({stage.input_size for stage in stages}, reverse=True):
        # Keep the SHORT side at least ``size``: CLIP-style preprocessing resizes
        # the short side and crops, so a smaller view would be upscaled.
        scale = size / min(largest.size)
        if scale >= 1:
            views[size] = largest
            continue
        width, height = largest.size
        views[size] = largest.resize(
            (max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BILINEAR
        )
    return _Decoded(views)


def _decode_for(item: _Item, max_pixels: int) -> _Decoded | str:
    """The image at the largest size its stages need, or why it could not be had."""
    path = item.path
    if path is None:
        return "no online file holds this image"
    size = max(stage.input_size for stage in item.stages)
    decoded = decode_image(path, preview_size=size, max_pixels=max_pixels)
    if not isinstance(decoded, DecodedImage):
        return decoded.message
    if decoded.sha256 != item.sha256:
        return "the file changed since it was scanned; it is indexed again after the next scan"
    return _views(decoded, item.stages)


def _run_batch(catalog: SqliteCatalog, stages: Sequence[Stage], items: list[_Item],
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
        try:
            outputs = stage.run([image for _, image in todo])
        except Exception as exc:  # one bad batch must not stop the run: record it
            log.exception("stage %s failed on a batch of %d images", stage.name, len(todo))
            message = f"{type(exc).__name__}: {exc}"
            statuses += [(cid, stage.name, stage.model_id, message) for cid, _ in todo]
            stage_report.errors += len(todo)
            continue
        stage.store(catalog, [(cid, out) for (cid, _), out in zip(todo, outputs, strict=True)])
        stage_report.seconds += time.perf_counter() - started
        stage_report.done += len(todo)
        statuses += [(cid, stage.name, stage.model_id, None) for cid, _ in todo]
    catalog.record_stages(statuses)
