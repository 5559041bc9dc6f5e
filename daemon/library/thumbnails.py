"""Thumbnails: small WebP previews stored by content hash.

A thumbnail's name is the image's SHA-256, so a moved, renamed or duplicated file
shares one thumbnail and a thumbnail never goes stale: new content is a new
name. The files are sharded by the first two hex digits so that no folder holds
more than a few thousand entries at a million images.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageOps

if TYPE_CHECKING:
    from pximse.library.probe import ProbeFailure

THUMBNAIL_SUFFIX = ".webp"
WEBP_QUALITY = 80
WEBP_METHOD = 2
"""libwebp's effort (0-6, Pillow's default 4): for a 256 px thumbnail, 2 encodes about
three times faster than 4 for files ~3% larger (0 is barely faster, ~25% larger)."""

_SHA256 = re.compile(r"[0-9a-f]{64}")


def thumbnail_path(thumbnail_dir: str | os.PathLike[str], sha256: str) -> Path:
    """Where the thumbnail of the content ``sha256`` lives: ``dir/ab/abcdef….webp``.

    The hash is validated because it may come from an HTTP request: anything but
    64 lower-case hex digits could walk out of the thumbnail folder.
    """
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a lower-case hex SHA-256: {sha256!r}")
    return Path(thumbnail_dir) / sha256[:2] / f"{sha256}{THUMBNAIL_SUFFIX}"


def write_thumbnail(image: Image.Image, path: str | os.PathLike[str], size: int) -> bool:
    """Write ``image`` shrunk to fit ``size``×``size`` as WebP at ``path``.

    Returns True if a file was written, False if one was already there (the name
    is a content hash, so an existing file is already the right picture). EXIF
    orientation is applied so the preview shows what a viewer shows; images
    smaller than ``size`` are not enlarged. The file appears atomically (temp
    file in the same folder, then ``os.replace``), so a crash or a concurrent
    writer never leaves a half-written thumbnail that later reads as corrupt.
    OSError (disk full, no permission) is raised to the caller.
    """
    target = Path(path)
    if target.exists():
        return False
    thumb = ImageOps.exif_transpose(image)  # always a new image: ours to shrink in place
    if thumb.mode not in ("RGB", "RGBA"):
        has_alpha = thumb.mode in ("LA", "La", "PA", "RGBa") or "transparency" in thumb.info
        thumb = thumb.convert("RGBA" if has_alpha else "RGB")
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
    icc_profile = image.info.get("icc_profile")

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            thumb.save(handle, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD,
                       icc_profile=icc_profile)
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    return True


def make_thumbnail_from_file(
    path: str | os.PathLike[str],
    thumbnail_dir: str | os.PathLike[str],
    sha256: str,
    size: int = 256,
    *,
    max_pixels: int = 100_000_000,
) -> Path | ProbeFailure:
    """Regenerate the thumbnail of ``sha256`` from the file at ``path``, on request.

    Returns the thumbnail's path, at once if it already exists. Returns a
    ProbeFailure if the file cannot be decoded safely, or with reason
    ``"changed"`` if the file no longer holds the content ``sha256`` (the
    catalogue is out of date; no thumbnail is written under the wrong name).
    OSError while writing the thumbnail is raised.
    """
    # probe imports this module for thumbnail_path/write_thumbnail.
    from pximse.library.probe import ProbeFailure, decode_image

    target = thumbnail_path(thumbnail_dir, sha256)
    if target.exists():
        return target
    decoded = decode_image(path, preview_size=size, max_pixels=max_pixels)
    if isinstance(decoded, ProbeFailure):
        return decoded
    if decoded.sha256 != sha256:
        return ProbeFailure(
            decoded.sha256,
            decoded.filesize,
            "changed",
            f"{os.fspath(path)} no longer holds the image {sha256[:12]}… (its content "
            f"is now {decoded.sha256[:12]}…); rescan the library to pick up the change.",
        )
    write_thumbnail(decoded.preview, target, size)
    return target


def remove_leftover_temp_files(thumbnail_dir: str | os.PathLike[str]) -> int:
    """Remove the unfinished thumbnails (``.<name>.<random>.tmp``) that a killed
    process left behind; returns how many. Called when a process takes the data
    folder (no other one writes thumbnails there then)."""
    removed = 0
    try:
        shards = [entry.path for entry in os.scandir(thumbnail_dir)
                  if entry.is_dir(follow_symlinks=False)]
    except OSError:
        return 0
    for shard in shards:
        try:
            with os.scandir(shard) as entries:
                leftovers = [entry.path for entry in entries
                             if entry.name.startswith(".") and entry.name.endswith(".tmp")]
        except OSError:
            continue
        for leftover in leftovers:
            with contextlib.suppress(OSError):
                os.unlink(leftover)
                removed += 1
    return removed
