"""Image routes: details, the file itself and its thumbnail, by catalogue id only.

The id is the content's SHA-256, so a response never goes stale: it is served
with an ETag of that hash and cached for a year. No route takes a path, and a
file is served only while it is still what the catalogue recorded
(:mod:`pximse.api.served_files`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, BinaryIO
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from pximse.api.deps import get_catalog, get_config
from pximse.api.served_files import RecordedFile, open_recorded, read_chunks
from pximse.config import Config
from pximse.store.backends import Catalog
from pximse.store.pathtext import readable

router = APIRouter(prefix="/api/images")

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_MEDIA_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "avif": "image/avif",
}
_CACHE = "private, max-age=31536000, immutable"


def checked_image_id(image_id: str) -> str:
    if not _SHA256.fullmatch(image_id):
        raise HTTPException(status_code=400, detail="an image id is a SHA-256: 64 hex digits")
    return image_id.lower()


def _not_modified(request: Request, etag: str, cache: str = _CACHE) -> Response | None:
    if request.headers.get("if-none-match", "").strip() in (etag, f"W/{etag}"):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": cache})
    return None


@router.get("/{image_id}", summary="Everything known about one image")
def image(
    image_id: str, catalog: Annotated[Catalog, Depends(get_catalog)]
) -> dict[str, Any]:
    detail = catalog.image(checked_image_id(image_id))
    if detail is None:
        raise HTTPException(status_code=404, detail="no image with this id in the catalogue")
    body = detail.to_json()
    body["file_url"] = f"/api/images/{detail.id}/file"
    body["thumbnail_url"] = f"/api/images/{detail.id}/thumbnail"
    body["ocr_box_space"] = ocr_box_space(detail.width, detail.height)
    return body


def ocr_box_space(width: int, height: int) -> dict[str, int]:
    """The size of the picture the OCR boxes are measured on: the pipeline reads
    text from the image shrunk to the OCR stage's input size on its long side
    (never enlarged), so a page drawing the boxes over the full image scales them
    from this size."""
    scale = min(1.0, _ocr_input_size() / max(width, height, 1))
    return {"width": max(1, round(width * scale)), "height": max(1, round(height * scale))}


@lru_cache(maxsize=1)
def _ocr_input_size() -> int:
    import inspect

    from pximse.pipeline.stages import OcrStage

    size: int = inspect.signature(OcrStage).parameters["input_size"].default
    return size


RecordedRow = tuple[str, str, int, int, str]
"""A file as ``recorded_files`` gives it: (path, format, size, mtime_ns, root path)."""


def open_first_recorded(rows: Iterable[RecordedRow], config: Config
                        ) -> tuple[RecordedFile, BinaryIO, os.stat_result] | None:
    """The first of ``rows`` that is still what the catalogue recorded, opened
    (see :mod:`pximse.api.served_files`)."""
    for row in rows:
        recorded = RecordedFile.from_row(row)
        opened = open_recorded(recorded, follow_symlinks=config.scan.follow_symlinks)
        if opened is not None:
            return recorded, *opened
    return None


def recorded_file(catalog: Catalog, config: Config, sha: str
                  ) -> tuple[RecordedFile, BinaryIO, os.stat_result] | None:
    """The first online file of the content that is still what the catalogue
    recorded, opened."""
    return open_first_recorded(catalog.recorded_files(sha), config)


def recorded_file_response(request: Request, config: Config, sha: str,
                           rows: Callable[[], Iterable[RecordedRow]], *, missing: str,
                           cache: str = _CACHE) -> Response:
    """The file of content ``sha`` from the first of ``rows`` still as recorded:
    its bytes with its content type and the content's hash as ``ETag``; 304 on
    ``If-None-Match``; 404 saying ``missing`` when none is. ``cache`` is the
    ``Cache-Control`` (by default a year: an id's bytes never change)."""
    etag = f'"{sha}"'
    cached = _not_modified(request, etag, cache)
    if cached is not None:
        return cached
    found = open_first_recorded(rows(), config)
    if found is None:
        raise HTTPException(status_code=404, detail=missing)
    recorded, handle, st = found
    name = readable(os.path.basename(recorded.path))  # a name that is not UTF-8: \xe9
    return StreamingResponse(
        read_chunks(handle, st.st_size),
        media_type=_MEDIA_TYPES.get(recorded.format, "application/octet-stream"),
        headers={"ETag": etag, "Cache-Control": cache, "Content-Length": str(st.st_size),
                 "Content-Disposition": f"inline; filename*=utf-8''{quote(name)}"},
    )


@router.get("/{image_id}/file", summary="The original file", response_class=Response,
            responses={200: {"content": {"image/*": {}}, "description": "the file's bytes"}})
def image_file(
    image_id: str,
    request: Request,
    catalog: Annotated[Catalog, Depends(get_catalog)],
    config: Annotated[Config, Depends(get_config)],
) -> Response:
    sha = checked_image_id(image_id)
    return recorded_file_response(
        request, config, sha, lambda: catalog.recorded_files(sha),
        missing="no online file holds this image as it was recorded (unknown id, offline, "
                "or changed since the last scan)")


@router.get("/{image_id}/thumbnail", summary="A WebP thumbnail", response_class=FileResponse)
def image_thumbnail(
    image_id: str,
    request: Request,
    catalog: Annotated[Catalog, Depends(get_catalog)],
    config: Annotated[Config, Depends(get_config)],
) -> Response:
    from pximse.library.thumbnails import make_thumbnail_from_file, thumbnail_path

    sha = checked_image_id(image_id)
    etag = f'"{sha}-t{config.scan.thumbnail_size}"'
    cached = _not_modified(request, etag)
    if cached is not None:
        return cached
    path = thumbnail_path(Path(config.thumbnail_dir), sha)
    if not path.is_file():
        found = recorded_file(catalog, config, sha)
        if found is None:
            raise HTTPException(status_code=404, detail="no thumbnail and no online file")
        found[1].close()  # checked; the thumbnail maker reads it and checks its hash
        made = make_thumbnail_from_file(
            found[0].path, Path(config.thumbnail_dir), sha, config.scan.thumbnail_size,
            max_pixels=config.scan.max_image_pixels,
        )
        if not isinstance(made, Path):
            raise HTTPException(
                status_code=404, detail=f"the thumbnail could not be made: {made.message}"
            )
        path = made
    return FileResponse(
        path, media_type="image/webp", headers={"ETag": etag, "Cache-Control": _CACHE}
    )
