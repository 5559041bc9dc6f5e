"""What the search page asks about besides a search: which features can run
(``GET /api/features``), the tags of the results on screen with their counts
(``POST /api/results/tags``), and autocomplete for a word of the query
(``GET /api/suggest``: tags by prefix and infix, artists after ``user:``).

``/api/results/tags`` is a POST only because a page of results names up to a
thousand images; it changes nothing.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, field_validator

from pximse.api.deps import get_catalog, get_config
from pximse.api.features import clip_feature, open_folder_feature
from pximse.api.page_reads import MAX_IDS, artist_names, result_tags, tags_matching
from pximse.api.routes_folder import is_local_client
from pximse.config import Config
from pximse.plugins import feature_states

router = APIRouter(prefix="/api")

_SHA256 = re.compile(r"[0-9a-f]{64}")


class ImageIds(BaseModel):
    """Images by their SHA-256, as search results name them."""

    ids: list[str] = Field(..., max_length=MAX_IDS,
                           description=f"SHA-256 ids, at most {MAX_IDS}")

    @field_validator("ids")
    @classmethod
    def _sha256s(cls, ids: list[str]) -> list[str]:
        lowered = [value.lower() for value in ids]
        bad = next((value for value in lowered if not _SHA256.fullmatch(value)), None)
        if bad is not None:
            raise ValueError(f"{bad[:80]!r} is not an image id (a SHA-256: 64 hex digits)")
        return lowered


@router.get("/features", summary="Which search-page features can run, and why not")
def features(request: Request) -> dict[str, Any]:
    """``clip`` (describe it, search by image, similar), ``dupes`` (near-duplicates
    by perceptual hash: always), ``open_folder``, and the plug-ins' own (the
    digiKam plug-in's ``xmp``: write sidecars now): each ``available``, or a
    ``reason`` and ``what_to_do``."""
    state = request.app.state
    return {
        "clip": clip_feature(state.clip),
        "dupes": {"available": True},
        "open_folder": open_folder_feature(is_local_client(request)),
        **feature_states(state),
    }


class TagsRequest(ImageIds):
    limit: int = Field(200, ge=1, le=1000)


@router.post("/results/tags", summary="The tags of a set of images, with their counts")
def results_tags(
    body: TagsRequest,
    catalog: Annotated[Any, Depends(get_catalog)],
    config: Annotated[Config, Depends(get_config)],
) -> dict[str, Any]:
    """Each tag with how many of the images carry it (a tagger's tag at or above
    ``[search] tag_threshold``, as a search counts it) and its ``category``
    (``general``, ``character``, ``rating`` from the tagger, ``source`` from the
    file's source); and the images' artists."""
    return result_tags(catalog, body.ids, threshold=config.search.tag_threshold,
                       limit=body.limit)


@router.get("/suggest", summary="Autocomplete: tags by prefix and infix, or artists")
def suggest(
    catalog: Annotated[Any, Depends(get_catalog)],
    word: Annotated[str, Query(max_length=200)] = "",
    field: Literal["tag", "user"] = "tag",
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[dict[str, Any]]:
    """``field=tag``: tags that start with ``word``, then tags that hold it;
    ``field=user``: artists' names the same way. Most used first."""
    found = artist_names(catalog, word, limit) if field == "user" \
        else tags_matching(catalog, word, limit)
    return [{"name": name, "count": count} for name, count in found]
