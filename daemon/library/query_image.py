"""Decoding a query image (search by image) in memory that stays bounded.

A query image comes from outside, and its header may promise far more pixels
than its few hundred kilobytes hold. The model needs a few hundred pixels a
side, so the image is decoded straight to that size wherever the format lets:

* JPEG scales by 1/2 to 1/8 inside the decoder (Pillow's ``draft``);
* an 8-bit, non-interlaced PNG is decoded a band of rows at a time and shrunk
  as it goes (:mod:`pximse.library.png_bands`);
* anything else is decoded whole, which costs width × height × bytes per pixel.

Before a pixel is decoded, the header's size is checked against the query
images' own limit (``search.max_query_image_pixels``), and what the decode
will hold in memory at once is reserved from one budget shared by every
decode in the process (:data:`DECODE_BUDGET_BYTES`): a decode waits until
enough is free, and one that alone needs more than the whole budget is
refused with a message that says what to send instead.
"""

from __future__ import annotations

import os
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

from pximse.library.png_bands import (
    PngDataError,
    band_decodable,
    decode_png_in_bands,
    png_header,
)
from pximse.library.probe import DecodedImage, decode_image, sniff_format

__all__ = [
    "DECODE_BUDGET_BYTES",
    "QueryImageTooLarge",
    "QueryImageUnreadable",
    "decode_query_image",
]

DECODE_BUDGET_BYTES = 192 << 20
"""What all query-image decodes of the process may hold in memory at once."""
BAND_ABOVE_BYTES = 24 << 20
"""A PNG whose pixels take more than this is decoded in bands."""
_BAND_COST = 5 * 8 << 20  # a band raw, compressed again, decoded, converted, reduced
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "LA": 2, "La": 2, "PA": 2, "RGB": 3, "YCbCr": 3,
                    "LAB": 3, "HSV": 3, "RGBA": 4, "RGBa": 4, "RGBX": 4, "CMYK": 4, "I": 4,
                    "F": 4, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_PILLOW_FORMAT = {"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "webp": "WEBP", "bmp": "BMP",
                  "tiff": "TIFF", "avif": "AVIF"}
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError, KeyError,
)


class QueryImageUnreadable(ValueError):
    """Not a picture PxIMSE reads, or a damaged one."""


class QueryImageTooLarge(ValueError):
    """More pixels than query images may have, or more memory than decoding may take."""


class _Budget:
    """Bytes that decodes reserve before they start and give back when done."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self._free = threading.Condition()

    @contextmanager
    def hold(self, amount: int) -> Iterator[None]:
        with self._free:
            self._free.wait_for(lambda: self.used + amount <= self.total)
            self.used += amount
        try:
            yield
        finally:
            with self._free:
                self.used -= amount
                self._free.notify_all()


_budget = _Budget(DECODE_BUDGET_BYTES)


def decode_query_image(path: str | os.PathLike[str], *, name: str, max_pixels: int,
                       box: int = 448) -> Image.Image:
    """The image at ``path`` as RGB or RGBA, at most ``box`` pixels a side, EXIF
    orientation applied. ``name`` stands for the file in messages."""
    with open(path, "rb") as handle:
        head = handle.read(64)
        filesize = os.fstat(handle.fileno()).st_size
    fmt = sniff_format(head)
    if fmt is None:
        raise QueryImageUnreadable(
            f"{name} is not a picture PxIMSE reads: send a PNG, JPEG, GIF, WebP, BMP, TIFF "
            "or AVIF file")
    width, height, cost, banded = _plan(path, name, fmt, head, filesize, box, max_pixels)
    if cost > _budget.total:
        raise QueryImageTooLarge(
            f"{name} is a {fmt.upper()} of {width} × {height} pixels, which would take "
            f"about {cost >> 20} MB to decode at once, more than the {_budget.total >> 20} MB "
            "query images may use: send a smaller copy, or a JPEG or an 8-bit PNG, which are "
            "shrunk while they are decoded")
    with _budget.hold(cost):
        if banded:
            return _decode_banded(path, name, box)
        decoded = decode_image(path, preview_size=box, max_pixels=max_pixels)
    if not isinstance(decoded, DecodedImage):
        raise QueryImageUnreadable(decoded.message.replace(os.fspath(path), name))
    return decoded.preview


def _plan(path: str | os.PathLike[str], name: str, fmt: str, head: bytes, filesize: int,
          box: int, max_pixels: int) -> tuple[int, int, int, bool]:
    """(width, height, bytes the decode holds at once, whether it goes in bands)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # our own limit decides about bombs
        try:
            with Image.open(path, formats=[_PILLOW_FORMAT[fmt]]) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise QueryImageTooLarge(
                        f"{name} is {width} × {height} pixels ({width * height / 1e6:,.0f} "
                        f"megapixels), over the {max_pixels / 1e6:,.0f} megapixels query "
                        "images may have (search.max_query_image_pixels): send a smaller copy")
                mode = image.mode
                if fmt == "jpeg":
                    image.draft("RGB", (box, box))
                    drafted = image.size[0] * image.size[1]
                    return width, height, drafted * 8 + filesize, False
        except Image.DecompressionBombError as exc:
            raise QueryImageTooLarge(
                f"{name} declares far more pixels than query images may have: send a smaller "
                "copy") from exc
        except QueryImageTooLarge:
            raise
        except _DECODE_ERRORS as exc:  # Pillow's zoo of errors on a damaged header
            raise QueryImageUnreadable(
                f"{name} starts like a {fmt.upper()} file but cannot be read ({exc})") from exc
    pixels = width * height
    if fmt == "png" and band_decodable(header := png_header(head)) and header is not None \
            and pixels * header.channels > BAND_ABOVE_BYTES:
        return width, height, _BAND_COST, True
    return width, height, pixels * (_BYTES_PER_PIXEL.get(mode, 4) + 4) + filesize, False


def _decode_banded(path: str | os.PathLike[str], name: str, box: int) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with open(path, "rb") as handle:
                return decode_png_in_bands(handle, box)
        except PngDataError as exc:
            raise QueryImageUnreadable(f"{name} is a damaged PNG file: {exc}") from exc
        except _DECODE_ERRORS as exc:  # Pillow decoding a band
            raise QueryImageUnreadable(f"{name} is a damaged PNG file ({exc})") from exc
