"""The background indexer's order of work: new files first, then backfill, then
re-indexing after a model change.

- *new*: images added since the daemon started (content ids above the largest
  id it found then), that a stage has not run on: a download should be
  searchable in seconds, even while a long backfill runs;
- *backfill*: older images a stage has never run on (a library added before
  the models were installed, a stage switched on later);
- *re-index*: images a stage ran on with another model, whose old results stay
  searchable until the new model replaces them.

Every batch is taken from the first class that has work, so a file that
arrives during a backfill is in the next batch. Each class walks content ids
forward from the last image it handed out, as the plain order does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pximse.pipeline.runner import PendingImage
from pximse.pipeline.stages import Stage
from pximse.store.backends import PRIORITY_CLASSES, Catalog

__all__ = ["PRIORITY_CLASSES", "PriorityBatches"]


class PriorityBatches:
    """A ``BatchSource`` for ``run_pipeline``; ``new_after`` is the largest content
    id that is not new. ``last_class`` says which class the last batch came from."""

    def __init__(self, new_after: int) -> None:
        self.new_after = new_after
        self.last_class: str | None = None

    def __call__(self, catalog: Catalog, stages: Sequence[Stage], batch_size: int,
                 limit: int | None) -> Iterator[list[PendingImage]]:
        # The classes do not overlap and each walks forward, so an image handed out
        # but not recorded yet (the runner decodes one batch ahead) is not handed
        # out again.
        cursors = dict.fromkeys(PRIORITY_CLASSES, 0)
        handed = 0
        while limit is None or handed < limit:
            batch: list[PendingImage] = []
            for kind in PRIORITY_CLASSES:
                batch = self._batch(catalog, stages, kind, cursors[kind], batch_size)
                if batch:
                    self.last_class = kind
                    cursors[kind] = batch[-1].content_id
                    break
            if not batch:
                return
            if limit is not None:
                batch = batch[: limit - handed]
            handed += len(batch)
            for item in batch:
                found = catalog.file_for(item.sha256)
                item.path = found[0] if found else None
            yield batch

    def _batch(self, catalog: Catalog, stages: Sequence[Stage], kind: str, after: int,
               batch_size: int) -> list[PendingImage]:
        """The smallest ids past ``after`` that any stage needs, in this class; every
        stage's list is a batch long, so nothing at or below the batch's last id is
        left out."""
        wanted: dict[int, PendingImage] = {}
        for stage in stages:
            rows = catalog.pending_in_class(stage.name, stage.model_id, kind, after=after,
                                            new_after=self.new_after, limit=batch_size)
            for content_id, sha in rows:
                item = wanted.setdefault(content_id, PendingImage(content_id, sha, []))
                item.stages.append(stage)
        return sorted(wanted.values(), key=lambda item: item.content_id)[:batch_size]
