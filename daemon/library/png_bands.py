"""Shrinking a large PNG while it is decoded, a band of rows at a time.

Pillow decodes a PNG whole: 10000 × 10000 RGBA pixels are 400 MB before the
first one can be shrunk, and a 300 KB file can declare that many. A query image
is needed at a few hundred pixels, so a big PNG is read here a band of rows at
a time: the compressed stream is inflated up to one band's rows, those rows are
handed to Pillow as a small PNG of their own (with the last row of the band
before them in front, unfiltered, because PNG's row filters refer to the row
above), decoded, box-averaged by a whole factor and pasted into the small
result. Memory stays at a few bands (tens of MB) whatever the image's size;
Pillow still does all the decoding and unfiltering.

Only the common kind of PNG is read this way: 8 bits per channel, not
interlaced. :func:`band_decodable` says whether a file is one.
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image

__all__ = ["PngHeader", "band_decodable", "decode_png_in_bands", "png_header"]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
BAND_BYTES = 4 << 20
"""About how much raw pixel data one band holds."""
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_COPIED = (b"PLTE", b"tRNS")
_ORIENTATION_TAG = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""Chunks before the pixels that every band's PNG needs (the palette, transparency)."""


@dataclass(frozen=True)
class PngHeader:
    width: int
    height: int
    bit_depth: int
    colour_type: int
    interlaced: bool

    @property
    def channels(self) -> int:
        return _CHANNELS.get(self.colour_type, 0)

    @property
    def stride(self) -> int:
        """Bytes of one filtered row: the filter byte and the pixels."""
        return 1 + self.width * self.channels


def png_header(head: bytes) -> PngHeader | None:
    """The IHDR of a PNG from its first 33 bytes, or None."""
    if len(head) < 33 or not head.startswith(SIGNATURE) or head[12:16] != b"IHDR":
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    return PngHeader(width, height, depth, colour, interlace != 0)


def band_decodable(header: PngHeader | None) -> bool:
    return (header is not None and header.bit_depth == 8 and not header.interlaced
            and header.channels > 0 and header.width > 0 and header.height > 0)


class PngDataError(ValueError):
    """The file is not a PNG this module can read: truncated, or damaged."""


def _chunks(source: BinaryIO) -> Iterator[tuple[bytes, bytes]]:
    if source.read(8) != SIGNATURE:
        raise PngDataError("not a PNG signature")
    while True:
        head = source.read(8)
        if len(head) < 8:
            raise PngDataError("the file stops before its end chunk")
        length, kind = struct.unpack(">I4s", head)
        if length > 1 << 31:
            raise PngDataError("a chunk's length is impossible")
        data = source.read(length)
        if len(data) < length or len(source.read(4)) < 4:
            raise PngDataError("the file stops in the middle of a chunk")
        yield kind, data
        if kind == b"IEND":
            return


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def decode_png_in_bands(source: BinaryIO, box: int) -> Image.Image:
    """The PNG in ``source`` shrunk to fit ``box`` × ``box`` (RGB, or RGBA when it has
    transparency) and turned as its EXIF says, never holding more than a few bands
    of its rows.

    Raises :class:`PngDataError` for a file it cannot read this way (the caller
    checked :func:`band_decodable` on its header first).
    """
    chunks = _chunks(source)
    kind, data = next(chunks)
    if kind != b"IHDR":
        raise PngDataError("the first chunk is not IHDR")
    header = png_header(SIGNATURE + _chunk(kind, data))
    if not band_decodable(header):
        raise PngDataError("not an 8-bit, non-interlaced PNG")
    assert header is not None
    copied: list[bytes] = []
    idat: list[bytes] = []
    exif: list[bytes] = []
    for kind, data in chunks:
        if kind in _COPIED:
            copied.append(_chunk(kind, data))
        elif kind == b"eXIf":
            exif.append(data)
        elif kind == b"IDAT":
            idat.append(data)
            break
    alpha = header.colour_type in (4, 6) or any(c[4:8] == b"tRNS" for c in copied)
    mode = "RGBA" if alpha else "RGB"
    factor = max(1, max(header.width, header.height) // box)
    rows = max(1, BAND_BYTES // header.stride)
    rows = max(factor, rows - rows % factor)
    out = Image.new(mode, (math.ceil(header.width / factor), math.ceil(header.height / factor)))

    if not idat:
        raise PngDataError("the file has no pixel data")

    def idat_data() -> Iterator[bytes]:
        yield from idat
        for kind, data in chunks:  # the pixel data's chunks follow one another
            if kind != b"IDAT":
                if kind == b"eXIf":
                    exif.append(data)
                return
            yield data

    previous: bytes | None = None  # the last row of the band before, unfiltered
    done = 0
    for band in _filtered_bands(idat_data(), header, rows):
        count = len(band) // header.stride
        raw = bytearray() if previous is None else bytearray(b"\0" + previous)
        raw += band
        del band
        image = _decode_band(header, copied, raw, count + (previous is not None))
        del raw
        if previous is not None:
            image = image.crop((0, 1, header.width, count + 1))
        previous = image.crop((0, count - 1, header.width, count)).tobytes()
        if image.mode != mode:
            image = image.convert(mode)
        out.paste(image.reduce(factor) if factor > 1 else image, (0, done // factor))
        done += count
    if done < header.height:
        raise PngDataError(f"the pixel data stops early (row {done} of {header.height})")
    width, height = out.size
    scale = box / max(width, height)
    if scale < 1:
        out = out.resize((max(1, round(width * scale)), max(1, round(height * scale))),
                         Image.Resampling.LANCZOS)
    for kind, data in chunks:  # a late eXIf (Pillow's own getexif would decode it all)
        if kind == b"eXIf":
            exif.append(data)
    return _oriented(out, exif[0] if exif else b"")


def _oriented(image: Image.Image, exif: bytes) -> Image.Image:
    """``image`` turned as the EXIF orientation in ``exif`` says."""
    if not exif:
        return image
    try:
        tags = Image.Exif()
        tags.load(exif if exif.startswith(b"Exif") else b"Exif\0\0" + exif)
        orientation = tags.get(_ORIENTATION_TAG, 1)
    except (SyntaxError, ValueError, KeyError, IndexError, struct.error, OSError):
        return image  # broken metadata is no reason to refuse the pixels
    turn = _TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    return image.transpose(turn) if turn is not None else image


def _filtered_bands(compressed: Iterator[bytes], header: PngHeader,
                    rows: int) -> Iterator[bytes]:
    """The inflated (still filtered) rows, ``rows`` at a time; never more in memory."""
    inflate = zlib.decompressobj()
    left = header.height * header.stride
    band = bytearray()
    try:
        for data in compressed:
            while data and left:
                want = min(rows * header.stride, left)
                band += inflate.decompress(data, want - len(band))
                data = inflate.unconsumed_tail
                if len(band) == want:
                    yield bytes(band)
                    left -= want
                    band.clear()
            if not left:
                return
    except zlib.error as exc:
        raise PngDataError(f"the pixel data is damaged ({exc})") from None
    if band:
        yield bytes(band[: len(band) - len(band) % header.stride])


def _decode_band(header: PngHeader, copied: list[bytes], raw: bytearray,
                 count: int) -> Image.Image:
    ihdr = struct.pack(">IIBBBBB", header.width, count, 8, header.colour_type, 0, 0, 0)
    png = b"".join([SIGNATURE, _chunk(b"IHDR", ihdr), *copied,
                    _chunk(b"IDAT", zlib.compress(raw, 0)), _chunk(b"IEND", b"")])
    image = Image.open(io.BytesIO(png), formats=["PNG"])
    image.load()
    return image
