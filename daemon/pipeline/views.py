"""How large an image each model stage is given: a budget of pixels and aspect,
not only a side.

A stage's ``input_size`` is the short side its preprocessing needs (CLIP
resizes the short side and crops the middle; the taggers fit the image into a
square). Bounding only one side lets a strip through whole: a 720×30000
webtoon has a short side of 720, and a model that enlarges it to its own size
(OCR's detector makes the short side 736) works on gigabytes for one image. So
every view is bounded twice: short side at most ``input_size`` and long side
at most :data:`ASPECT_LIMIT` times that (a strip is shrunk further; its pixels
never pass ``ASPECT_LIMIT × input_size²``). A stage may decide for itself
(``view_size``): OCR reads strips in tiles (``models.ocr``) and asks for more.
Images are shrunk, never enlarged.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["ASPECT_LIMIT", "bounded_size", "pixels_within", "view_size"]

ASPECT_LIMIT = 4
"""A view's long side is at most this many times its stage's input size."""


def bounded_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """(width, height) times ``scale`` (at most 1: never enlarged), at least 1×1."""
    scale = min(1.0, scale)
    return max(1, round(width * scale)), max(1, round(height * scale))


def view_size(stage: Any, width: int, height: int) -> tuple[int, int]:
    """The size of the view ``stage`` gets of an image of ``width`` × ``height``."""
    own = getattr(stage, "view_size", None)
    if own is not None:
        return tuple(own(width, height))  # type: ignore[return-value]
    side = int(stage.input_size)
    short, long = min(width, height), max(width, height)
    return bounded_size(width, height, min(side / short, ASPECT_LIMIT * side / long))


def pixels_within(width: int, height: int, max_pixels: int) -> float:
    """The scale that brings ``width × height`` down to ``max_pixels`` (at most 1)."""
    return min(1.0, math.sqrt(max_pixels / max(1, width * height)))
