"""``pximse dupes``: the library's near-duplicates, in groups."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pximse.cli.common import Context, config_options, human_size, progress_bar

if TYPE_CHECKING:
    import numpy as np

# The best copy first: most pixels, then lossless before lossy, then the larger file.
_FORMAT_RANK = {"png": 0, "tiff": 0, "bmp": 0, "webp": 1, "avif": 1, "jpeg": 2, "gif": 3}


@click.command()
@config_options
@click.argument("query", nargs=-1)
@click.option("--distance", type=click.IntRange(0, 12), default=None,
              help="Perceptual-hash bits that may differ (default: [search] dupe_distance).")
@click.option("--similarity", type=click.FloatRange(0.5, 1.0), default=None,
              help="CLIP similarity that counts as the same picture "
                   "(default: [search] dupe_similarity).")
@click.option("--clip/--no-clip", "use_clip", default=None,
              help="Compare CLIP embeddings too (default: when the library has them).")
@click.option("--limit", type=int, default=0, help="Show at most this many groups (0: all).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.pass_obj
def dupes(obj: Context, config_path: Path | None, data_dir: Path | None,
          query: tuple[str, ...], distance: int | None, similarity: float | None,
          use_clip: bool | None, limit: int, as_json: bool, quiet: bool) -> None:
    """Group near-identical images (re-encodes, resizes, re-uploads, small edits).

    QUERY limits the images compared (`pximse dupes source:pixiv`). In each
    group the best copy comes first: the most pixels, then lossless formats,
    then the larger file.
    """
    import numpy as np

    from pximse.query.errors import QueryError
    from pximse.query.parse import parse_query
    from pximse.search.planner import ClipSearch, VectorSearchUnavailable
    from pximse.store.duplicates import find_groups
    from pximse.store.vectors import SimilarPairs

    config = obj.load(config_path, data_dir)
    catalog = obj.catalog(config)
    distance = config.search.dupe_distance if distance is None else distance
    similarity = config.search.dupe_similarity if similarity is None else similarity
    started = time.perf_counter()
    text = " ".join(query)
    ids, hashes, versions = catalog.phashes()
    try:
        allowed = catalog.filtered_ids(parse_query(text)) if text.strip() else None
    except QueryError as exc:
        raise click.ClickException((exc if exc.query else exc.with_query(text)).describe()) \
            from exc
    if allowed is not None:
        keep = np.isin(ids, allowed)
        ids, hashes, versions = ids[keep], hashes[keep], versions[keep]

    pairs = None
    clip_used = False
    if use_clip is not False:
        store: SimilarPairs | None = None
        try:
            found = ClipSearch(config).store()
        except VectorSearchUnavailable as exc:
            if use_clip:
                raise click.ClickException(str(exc)) from exc
        else:
            if isinstance(found, SimilarPairs):
                store = found
            elif use_clip:
                raise click.ClickException(
                    "near-duplicates by CLIP are found in the embedded vector store only; "
                    "on Milvus, `pximse dupes` compares perceptual hashes (--no-clip)")
        if store is not None:
            bar, callback = progress_bar(quiet or as_json)
            with bar:
                pairs, _ = store.similar_pairs(
                    similarity, progress=None if callback is None
                    else lambda done, total: callback("clip-pairs", done, total))
            if allowed is not None:
                pairs = pairs[np.isin(pairs, allowed).all(axis=1)]
            clip_used = True

    groups = find_groups(ids, hashes, distance, pairs, versions)
    shown = groups[:limit] if limit > 0 else groups
    summaries = catalog.summaries([int(i) for group in shown for i in group])
    body: dict[str, Any] = {
        "groups": [_group_json(group, summaries) for group in shown],
        "total_groups": len(groups),
        "images_in_groups": int(sum(len(group) for group in groups)),
        "distance": distance,
        "similarity": similarity if clip_used else None,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    if as_json:
        click.echo(json.dumps(body, ensure_ascii=False))
        return
    for number, group in enumerate(body["groups"], 1):
        click.echo(f"group {number}: {len(group['items'])} images")
        for item in group["items"]:
            click.echo(f"  {item['id'][:12]}  {item['width']}x{item['height']} "
                       f"{item['format']:<4} {human_size(item['filesize']):>8}  {item['path']}")
    how = f"hash distance <= {distance}" + (f", CLIP >= {similarity}" if clip_used else "")
    click.echo(f"{body['total_groups']} groups, {body['images_in_groups']} images ({how}; "
               f"{body['elapsed_ms']:.0f} ms)", err=True)


def _group_json(group: np.ndarray, summaries: dict[int, Any]) -> dict[str, Any]:
    items = [summaries[int(i)].to_json() for i in group if int(i) in summaries]
    items.sort(key=lambda item: (-(item["width"] or 0) * (item["height"] or 0),
                                 _FORMAT_RANK.get(item["format"], 2),
                                 -(item["filesize"] or 0), item["id"]))
    return {"ids": [item["id"] for item in items], "items": items}
