"""The images a dead worker had in hand: tried one at a time, then quarantined.

When the indexing worker process dies (the kernel's OOM killer, a crash in a
runtime's native code), the images it had in memory are suspects. The next
worker runs each suspect alone, before anything else (:class:`IsolatedBatches`):
if it dies again with one image alone in hand, that image is what kills it.
After a few such deaths (the daemon counts them) the image is quarantined
(:func:`quarantine`): recorded as failed, with why, for every stage still
pending on it, so that the rest of the library goes on being indexed. Like any
failure it is tried again when the file or the model changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from pximse.pipeline.runner import PendingImage
from pximse.pipeline.stages import Stage
from pximse.store.backends import Catalog

__all__ = ["IsolatedBatches", "needing", "quarantine"]


def needing(catalog: Catalog, stages: Sequence[Stage], content_id: int) -> PendingImage | None:
    """The image with the stages that have still to run on it (None: none has)."""
    item: PendingImage | None = None
    for stage in stages:
        found = catalog.pending_for_stage(stage.name, stage.model_id, 1, after=content_id - 1)
        if found and found[0][0] == content_id:
            if item is None:
                item = PendingImage(content_id, found[0][1], [])
            item.stages.append(stage)
    if item is not None:
        located = catalog.file_for(item.sha256)
        item.path = located[0] if located else None
    return item


class IsolatedBatches:
    """A ``BatchSource`` of the suspects, one image per batch (run it without
    decoding ahead, so that each is alone in hand)."""

    def __init__(self, content_ids: Iterable[int]) -> None:
        self.content_ids = sorted(set(content_ids))
        self.last_class = "isolated"

    def __call__(self, catalog: Catalog, stages: Sequence[Stage], batch_size: int,
                 limit: int | None) -> Iterator[list[PendingImage]]:
        for content_id in self.content_ids:
            item = needing(catalog, stages, content_id)
            if item is not None:
                yield [item]


def quarantine(catalog: Catalog, stages: Sequence[Stage], content_id: int,
               reason: str) -> PendingImage | None:
    """Record ``reason`` as the failure of every stage still pending on the image;
    returns it (with its path), or None when no stage was pending."""
    item = needing(catalog, stages, content_id)
    if item is not None:
        catalog.record_stages([(content_id, stage.name, stage.model_id, reason)
                               for stage in item.stages])
    return item
