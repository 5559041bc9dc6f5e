"""Safe probing of one image file: content hash, real format, size, frames, pHash, thumbnail.

The scanner runs ``probe_image`` in a process pool for every new or changed
file, so it is pure (no database, no printing), returns every problem with the
file as a ``ProbeFailure`` value instead of raising, and is built to survive
hostile input:

* **Content, not extension.** The first 64 bytes are matched against the magic
  numbers of the formats we index; anything else costs one tiny read. Pillow is
  then told which single format to try, so a file never reaches a plugin its
  magic number did not select (and formats Pillow reads but we do not index,
  PSD, ICO, PCX…, are "not-image").
* **Read once.** Files up to ``IN_MEMORY_LIMIT`` (64 MiB, far above any
  illustration) are read whole: the hash and the decoder see the same bytes, so
  the two can never disagree and the disk is touched once. Bigger files are
  stream-hashed in 1 MiB chunks and then decoded from the same open handle,
  so memory stays bounded (the second pass is usually served by the OS cache;
  a file rewritten between the passes is caught by the next scan's stat diff).
* **No bombs.** The pixel count from the header is checked against
  ``max_pixels`` before any pixel is decoded. Pillow's global
  ``Image.MAX_IMAGE_PIXELS`` is left alone (mutating a process global per call
  would race); its DecompressionBombError, which fires inside ``Image.open``
  above twice that global, is reported as "too-large" too, and its warning is
  silenced because our own check is the one that decides.
* **Real decode.** ``load()`` runs on the first frame, so a truncated file is
  caught here and not later in a model stage; ``LOAD_TRUNCATED_IMAGES`` is never
  set.

Pillow raises a zoo of exception types on malformed data (OSError, SyntaxError,
ValueError, EOFError, struct.error, zlib.error, IndexError, KeyError); those are
caught only around Pillow calls, so a bug in this module still raises.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar, cast

from PIL import Image, UnidentifiedImageError

from pximse.error_text import one_line
from pximse.library.filekinds import open_regular
from pximse.library.thumbnails import thumbnail_path, write_thumbnail

CHUNK_SIZE = 1 << 20
SNIFF_SIZE = 64
IN_MEMORY_LIMIT = 64 << 20
"""Files up to this size are read into memory once and hashed and decoded from there."""
THUMBNAIL_REDUCING_GAP = 2.0
"""Pillow's ``reducing_gap`` for the scanner's thumbnail-sized decode: an image at
least twice this many times the thumbnail's size is first shrunk by an integer
factor with ``Image.reduce`` (a box filter in C), leaving the LANCZOS pass at
most this many times the output. LANCZOS costs in proportion to its input's
pixels, so for a PNG or WebP of 2000-3000 px (no draft decode) 2.0 halves the
resize against 3.0. 2.0 is what Pillow's own ``Image.thumbnail`` uses and
libvips' default ("very close to fair resampling")."""
MODEL_REDUCING_GAP = 3.0
"""The same for the pictures ``decode_image`` gives the models: Pillow documents
3.0 as indistinguishable from a plain LANCZOS in most cases."""
PHASH_VERSION = 3
"""1: the pHash of a preview at most twice the thumbnail size (JPEGs drafted to at
least that); 2: of the thumbnail itself, decoded straight to its size, shrunk
with a reducing gap of 3.0; 3: the same with ``THUMBNAIL_REDUCING_GAP`` (2.0). They
differ by a few bits on the same picture (``PHASH_DRIFT`` in store/duplicates.py)."""

INDEXED_FORMATS = ("png", "jpeg", "gif", "webp", "bmp", "tiff", "avif")
_PILLOW_FORMAT = {
    "png": "PNG",
    "jpeg": "JPEG",  # Pillow may hand back its MPO subclass for multi-picture JPEGs
    "gif": "GIF",
    "webp": "WEBP",
    "bmp": "BMP",
    "tiff": "TIFF",
    "avif": "AVIF",
}
_FORMAT_LABEL = {
    "png": "PNG", "jpeg": "JPEG", "gif": "GIF", "webp": "WebP", "bmp": "BMP", "tiff": "TIFF",
    "avif": "AVIF",
}
_ANIMATABLE = frozenset({"gif", "png", "webp", "avif"})
"""Formats whose extra frames are animation. TIFF pages and the second picture of a
multi-picture JPEG are frames too, but not an animation."""

_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError, KeyError,
)
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_ORIENTATION_TAG = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_Found = TypeVar("_Found")
_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})
_ALPHA_MODES = frozenset({"RGBA", "LA", "La", "PA", "RGBa"})


@dataclass(frozen=True)
class ImageFacts:
    sha256: str
    """Lower-case hex SHA-256 of the bytes: the catalogue's identity and Hydrus's file id."""
    filesize: int
    format: str
    """By content, lower-case: one of INDEXED_FORMATS, whatever the file is named."""
    width: int
    """As displayed: EXIF orientation 5–8 (portrait photos) swaps the stored width and height."""
    height: int
    frames: int
    """1 for still images; pages of a TIFF and pictures of a multi-picture JPEG count too."""
    animated: bool
    phash: int
    """64-bit imagehash.phash of the first frame (oriented, transparency on white), as a
    signed int64 so SQLite can store it; compare with popcount((a ^ b) & (2**64 - 1))."""
    phash_version: int
    """How ``phash`` was taken (PHASH_VERSION): hashes of two versions are compared
    with the drift between them allowed for (see store/duplicates.py)."""
    thumbnail: bool
    """True if the thumbnail exists after the call (written now or already there)."""


@dataclass(frozen=True)
class Hashed:
    """A file that was only hashed: the catalogue already knows its content."""

    sha256: str
    filesize: int
    format: str


@dataclass(frozen=True)
class ProbeFailure:
    sha256: str | None
    """The hash when the bytes were read; None for not-image (we read 64 bytes only) or
    unreadable files."""
    filesize: int
    reason: str
    """empty | not-image | truncated | corrupt | too-large | unreadable | unsupported
    (an indexed format this Pillow build cannot decode) | changed (only from
    make_thumbnail_from_file: the file no longer holds the expected content)."""
    message: str
    """A sentence a user can act on, naming the file and the detail."""


@dataclass(frozen=True)
class DecodedImage:
    """The shared first half of probing: facts from the header and a decoded preview."""

    sha256: str
    filesize: int
    format: str
    width: int
    height: int
    frames: int
    preview: Image.Image
    """First frame, EXIF orientation applied, RGB or RGBA, at most preview_size×preview_size
    (never enlarged); its info holds the ICC profile only."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, streamed in 1 MiB chunks."""
    with open_regular(path) as handle:
        return sha256_open(handle)


def sha256_open(handle: BinaryIO) -> str:
    """Hex SHA-256 of an open file, from its first byte (whatever was read before)."""
    handle.seek(0)
    return _hash_stream(handle)[0]


def sniff_format(head: bytes) -> str | None:
    """The indexed format whose magic number starts ``head``, or None.

    Looks only at the first few dozen bytes, so deciding that a file is not an
    image costs one tiny read.
    """
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:2] == b"BM" and len(head) >= 18:
        # "BM" alone is too weak (a text file may start with it): check the DIB header size.
        if int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
            return "bmp"
        return None
    if "avif" in _ftyp_brands(head):
        return "avif"
    return None


def probe_image(
    path: str | os.PathLike[str],
    thumbnail_dir: Path | None,
    *,
    thumbnail_size: int = 256,
    max_pixels: int = 100_000_000,
) -> ImageFacts | ProbeFailure:
    """Everything the catalogue records about one image file, or why it cannot be indexed.

    Writes the thumbnail under ``thumbnail_dir`` (skipped when None, or when it
    already exists). A thumbnail that cannot be written (disk full) leaves
    ``thumbnail`` False; the facts are still good.
    """
    def probe(handle: BinaryIO, name: str, filesize: int) -> ImageFacts | ProbeFailure:
        found = probe_open(handle, name, filesize, thumbnail_dir,
                           thumbnail_size=thumbnail_size, max_pixels=max_pixels)
        assert not isinstance(found, Hashed)  # every content is wanted
        return found

    return _with_image_file(path, probe)


def probe_open(
    handle: BinaryIO,
    name: str,
    filesize: int,
    thumbnail_dir: Path | None,
    *,
    thumbnail_size: int = 256,
    max_pixels: int = 100_000_000,
    wanted: Callable[[str], bool] | None = None,
) -> ImageFacts | ProbeFailure | Hashed:
    """:func:`probe_image` of an open file whose first bytes sniffed as an indexed
    format, in one read: the bytes that are hashed feed the decoder. When
    ``wanted(sha256)`` is false (the catalogue already knows the content), the
    file is only hashed: :class:`Hashed`. OSError is raised to the caller."""
    read = _read(handle, name, filesize, wanted)
    if not isinstance(read, tuple):
        return read
    source, fmt, sha256, filesize = read
    # The thumbnail is the largest picture needed now (the pHash is taken from
    # it too): decoded straight to its size, JPEGs by a draft.
    decoded = _decode(source, name, fmt, sha256, filesize, thumbnail_size, max_pixels, True,
                      THUMBNAIL_REDUCING_GAP)
    if isinstance(decoded, ProbeFailure):
        return decoded
    phash = _phash(decoded.preview)
    has_thumbnail = False
    if thumbnail_dir is not None:
        target = thumbnail_path(thumbnail_dir, decoded.sha256)
        try:
            write_thumbnail(decoded.preview, target, thumbnail_size)
            has_thumbnail = True
        except OSError:
            has_thumbnail = target.exists()
    return ImageFacts(
        sha256=decoded.sha256,
        filesize=decoded.filesize,
        format=decoded.format,
        width=decoded.width,
        height=decoded.height,
        frames=decoded.frames,
        animated=decoded.frames > 1 and decoded.format in _ANIMATABLE,
        phash=phash,
        phash_version=PHASH_VERSION,
        thumbnail=has_thumbnail,
    )


def decode_image(
    path: str | os.PathLike[str],
    *,
    preview_size: int | Callable[[int, int], int] = 512,
    max_pixels: int = 100_000_000,
    draft: bool = True,
) -> DecodedImage | ProbeFailure:
    """Read, hash and safely decode a file; see the module docstring for the rules.

    ``preview_size`` bounds the preview's longer side; a function of the
    image's (width, height) picks it once the header is read (a tall strip
    needs a longer side than a page does).

    ``draft`` lets the JPEG decoder scale by 1/2–1/8 while decoding (after the
    real size was read from the header): the preview needs no more, and big
    JPEGs decode several times faster.
    """
    def decode(handle: BinaryIO, name: str, filesize: int) -> DecodedImage | ProbeFailure:
        read = _read(handle, name, filesize, None)
        assert isinstance(read, tuple)  # every content is wanted
        source, fmt, sha256, filesize = read
        return _decode(source, name, fmt, sha256, filesize, preview_size, max_pixels, draft,
                       MODEL_REDUCING_GAP)

    return _with_image_file(path, decode)


def _with_image_file(
    path: str | os.PathLike[str],
    work: Callable[[BinaryIO, str, int], _Found],
) -> _Found | ProbeFailure:
    """``work(handle, name, size)`` on the opened file when its first bytes are an
    indexed format; otherwise, or when it cannot be read, why not."""
    name = os.fspath(path)
    filesize = 0
    try:
        with open_regular(path) as handle:
            filesize = os.fstat(handle.fileno()).st_size
            refused = _refuse(name, handle.read(SNIFF_SIZE), filesize)
            return refused if refused is not None else work(handle, name, filesize)
    except OSError as exc:
        return _unreadable(name, filesize, exc)


def _refuse(name: str, head: bytes, filesize: int) -> ProbeFailure | None:
    """Why a file whose first bytes are ``head`` is not indexed, or None."""
    if not head:
        return ProbeFailure(
            _EMPTY_SHA256, 0, "empty",
            f"{name} is empty (0 bytes), probably an interrupted download or copy; "
            "download or copy it again, or delete it.",
        )
    if sniff_format(head) is None:
        return ProbeFailure(
            None, filesize, "not-image",
            f"{name} is not an image PxIMSE indexes: {_describe_content(head)}. "
            "Only PNG, JPEG, GIF, WebP, BMP, TIFF and AVIF files are indexed.",
        )
    return None


def _unreadable(name: str, filesize: int, exc: OSError) -> ProbeFailure:
    return ProbeFailure(
        None, filesize, "unreadable",
        f"{name} could not be read ({exc.strerror or exc}); check that it still "
        "exists, that it is a file, and that PxIMSE has permission to read it.",
    )


def _read(handle: BinaryIO, name: str, filesize: int, wanted: Callable[[str], bool] | None
          ) -> tuple[BinaryIO, str, str, int] | Hashed:
    """Hash the file (whole in memory up to IN_MEMORY_LIMIT): ``(source to decode
    from, format, sha256, size)``, or :class:`Hashed` when its content is not wanted."""
    handle.seek(0)
    if filesize <= IN_MEMORY_LIMIT:
        data = handle.read()
        sha256, filesize = hashlib.sha256(data).hexdigest(), len(data)
        source: BinaryIO = io.BytesIO(data)
        head = data[:SNIFF_SIZE]
    else:
        head = handle.read(SNIFF_SIZE)
        handle.seek(0)
        sha256, filesize = _hash_stream(handle)
        handle.seek(0)
        source = handle
    fmt = sniff_format(head)
    if fmt is None:  # it changed since it was sniffed
        raise OSError(f"{name} changed while it was read")
    if wanted is not None and not wanted(sha256):
        return Hashed(sha256, filesize, fmt)
    return source, fmt, sha256, filesize


def _decode(
    source: BinaryIO,
    name: str,
    fmt: str,
    sha256: str,
    filesize: int,
    preview_size: int | Callable[[int, int], int],
    max_pixels: int,
    draft: bool,
    reducing_gap: float,
) -> DecodedImage | ProbeFailure:
    label = _FORMAT_LABEL[fmt]

    def failure(reason: str, message: str) -> ProbeFailure:
        return ProbeFailure(sha256, filesize, reason, message)

    def bad_data(exc: BaseException) -> ProbeFailure:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise exc  # a real I/O error while decoding a big file from disk: "unreadable"
        detail = one_line(str(exc)) or type(exc).__name__  # no "<_io.BytesIO object…>"
        if "truncated" in detail.lower() or _container_truncated(source, fmt, filesize):
            return failure(
                "truncated",
                f"{name} is an incomplete {label} file ({filesize} bytes; the data stops "
                f"early: {detail}); it was probably cut off while downloading or copying, "
                "so download or copy it again.",
            )
        if fmt == "avif" and isinstance(exc, UnidentifiedImageError) and not _can_read_avif():
            return failure(
                "unsupported",
                f"{name} is an AVIF image but this Pillow build cannot decode AVIF; "
                "upgrade Pillow (11.3 or later includes it).",
            )
        return failure(
            "corrupt",
            f"{name} starts like a {label} file but its data is damaged ({detail}); "
            "download or export it again.",
        )

    def too_large(width: int | None, height: int | None, exc: BaseException | None) -> ProbeFailure:
        if width is not None and height is not None:
            size = f"{width} × {height} pixels ({width * height / 1e6:,.0f} megapixels)"
        else:
            match = re.search(r"\((\d+) pixels\)", str(exc))
            size = f"{int(match.group(1)) / 1e6:,.0f} megapixels" if match else "too many pixels"
        return failure(
            "too-large",
            f"{name} is a {label} of {size}, over the limit of {max_pixels / 1e6:,.0f} "
            "megapixels, so it was not decoded (it may be a decompression bomb); raise "
            "max_pixels in the configuration if the image is genuine.",
        )

    with warnings.catch_warnings():
        # Pillow warns about bombs (our own check decides) and about odd metadata:
        # neither should print from a worker.
        warnings.simplefilter("ignore")
        try:
            image = Image.open(source, formats=[_PILLOW_FORMAT[fmt]])
        except Image.DecompressionBombError as exc:
            return too_large(*_header_dimensions(source, fmt), exc)
        except _DECODE_ERRORS as exc:
            return bad_data(exc)
        with image:
            width, height = image.size
            if width * height > max_pixels:
                return too_large(width, height, None)
            if callable(preview_size):
                preview_size = max(1, preview_size(width, height))
            try:
                frames = getattr(image, "n_frames", 1)
                if draft and fmt == "jpeg":  # to the preview's own size, not its box
                    image.draft("RGB", _fit(width, height, preview_size))
                image.load()
                orientation = _orientation(image)
                preview = _preview(image, preview_size, orientation, reducing_gap)
            except Image.DecompressionBombError as exc:
                return too_large(width, height, exc)
            except _DECODE_ERRORS as exc:
                return bad_data(exc)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return DecodedImage(sha256, filesize, fmt, width, height, frames, preview)


def _fit(width: int, height: int, box: int) -> tuple[int, int]:
    """``width`` x ``height`` shrunk to fit ``box`` x ``box`` (never enlarged)."""
    scale = min(1.0, box / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation, 1 when absent or unreadable: broken metadata is no reason to
    reject the pixels."""
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except _DECODE_ERRORS:
        return 1
    return value if isinstance(value, int) and value in _TRANSPOSE else 1


def _preview(image: Image.Image, box: int, orientation: int, reducing_gap: float
             ) -> Image.Image:
    """The loaded first frame as a small RGB/RGBA image, shrunk before it is rotated."""
    frame: Image.Image = image
    if frame.mode in ("I", "F") or frame.mode.startswith("I;16"):
        frame = _to_8bit(frame)
    has_alpha = frame.mode in _ALPHA_MODES or "transparency" in frame.info
    target_mode = "RGBA" if has_alpha else "RGB"
    if frame.mode != target_mode:
        frame = frame.convert(target_mode)
    size = _fit(*frame.size, box)
    if size != frame.size:
        frame = frame.resize(size, Image.Resampling.LANCZOS, reducing_gap=reducing_gap)
    if orientation in _TRANSPOSE:
        frame = frame.transpose(_TRANSPOSE[orientation])
    if frame is image:
        frame = image.copy()
    # Drop the EXIF (its orientation is applied now) and other metadata; keep the colours.
    icc_profile = image.info.get("icc_profile")
    frame.info = {"icc_profile": icc_profile} if icc_profile else {}
    return frame


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit and float greyscale to L by scaling; Pillow's own convert clips at 255."""
    if image.mode == "F":
        low, high = cast(tuple[float, float], image.getextrema())  # one band
        span = (high - low) or 1.0
        return image.point(lambda v: (v - low) * (255.0 / span)).convert("L")
    sixteen_bit = image.mode.startswith("I;16")
    if sixteen_bit:
        image = image.convert("I")
    # Mode I may hold 8-bit values (a converted L image): leave those as they are.
    if not sixteen_bit and cast(tuple[int, int], image.getextrema())[1] <= 255:
        return image.convert("L")
    return image.point(lambda v: v * (255.0 / 65535.0)).convert("L")


def _phash(preview: Image.Image) -> int:
    import imagehash  # lazily: it pulls in scipy, which an idle daemon does not need

    if preview.mode == "RGBA":
        flat = Image.new("RGB", preview.size, (255, 255, 255))
        flat.paste(preview, mask=preview.getchannel("A"))
        preview = flat
    unsigned = int(str(imagehash.phash(preview)), 16)
    return unsigned - (1 << 64) if unsigned >= 1 << 63 else unsigned


def _hash_stream(handle: BinaryIO) -> tuple[str, int]:
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    total = 0
    while n := handle.readinto(view):  # type: ignore[attr-defined]
        digest.update(view[:n])
        total += n
    return digest.hexdigest(), total


def _ftyp_brands(head: bytes) -> set[str]:
    """Major and compatible brands of an ISO-BMFF ``ftyp`` box (AVIF, HEIF, MP4)."""
    if head[4:8] != b"ftyp":
        return set()
    end = min(int.from_bytes(head[:4], "big"), len(head))
    brands = {head[8:12]} | {head[i:i + 4] for i in range(16, end - 3, 4)}
    return {b.decode("latin-1") for b in brands}


def _describe_content(head: bytes) -> str:
    """What a non-indexed file most likely is, for the failure message."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    brands = _ftyp_brands(head)
    known = [
        (head.startswith(b"8BPS"), "a Photoshop document (PSD)"),
        (bool(brands & {"heic", "heix", "hevc", "heim", "heis", "mif1", "msf1"}),
         "a HEIF/HEIC image, which Pillow cannot decode without a plugin"),
        (head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL ")), "a JPEG XL image"),
        (head.startswith((b"\x00\x00\x00\x0cjP  ", b"\xff\x4f\xff\x51")), "a JPEG 2000 image"),
        (bool(brands), "a video or other ISO media file"),
        (head.startswith(b"\x1a\x45\xdf\xa3"), "a WebM/Matroska video"),
        (head.startswith(b"%PDF"), "a PDF document"),
        (head.startswith(b"PK\x03\x04"),
         "a ZIP archive (Pixiv ugoira animations are downloaded as ZIP)"),
        (head.startswith((b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!")), "a compressed archive"),
        (text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")),
         "an HTML page, often a saved error page from a failed download"),
        (text.startswith((b"<svg", b"<?xml")), "an SVG or other XML document"),
        (text.startswith((b"{", b"[")), "JSON or other text"),
    ]
    for matched, what in known:
        if matched:
            return f"it is {what}"
    if _looks_like_text(head):
        return "it is a text file"
    return "its first bytes match no image format"


def _looks_like_text(head: bytes) -> bool:
    for cut in range(4):  # the 64-byte read may split a multi-byte UTF-8 character
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return all(c.isprintable() or c in "\t\r\n" for c in text)
    return False


def _container_truncated(source: BinaryIO, fmt: str, filesize: int) -> bool:
    """Whether the container says the file should be longer than it is.

    Pillow's WebP and AVIF decoders report a cut-off file only as "cannot
    decode"; the RIFF size field and the ISO-BMFF box sizes tell the truth.
    """
    try:
        if fmt == "webp":
            source.seek(4)
            return int.from_bytes(source.read(4), "little") + 8 > filesize
        if fmt == "avif":
            offset = 0
            while offset < filesize:
                source.seek(offset)
                header = source.read(16)
                if len(header) < 8:
                    return True
                size = int.from_bytes(header[:4], "big")
                if size == 1:
                    if len(header) < 16:
                        return True
                    size = int.from_bytes(header[8:16], "big")
                elif size == 0:  # the last box runs to the end of the file
                    return False
                if size < 8:
                    return False  # nonsense, not truncation
                offset += size
            return offset > filesize
    except (OSError, ValueError):
        return False
    return False


def _header_dimensions(source: BinaryIO, fmt: str) -> tuple[int | None, int | None]:
    """Width and height from the fixed-offset header fields, for a too-large message
    when Pillow itself refused the file before telling us its size."""
    try:
        source.seek(0)
        head = source.read(32)
        if fmt == "png" and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        if fmt == "gif":
            return struct.unpack("<HH", head[6:10])
        if fmt == "bmp":
            if int.from_bytes(head[14:18], "little") == 12:
                return struct.unpack("<HH", head[18:22])
            width, height = struct.unpack("<ii", head[18:26])
            return abs(width), abs(height)
        if fmt == "webp" and head[12:16] == b"VP8X":
            return (
                1 + int.from_bytes(head[24:27], "little"),
                1 + int.from_bytes(head[27:30], "little"),
            )
    except (OSError, ValueError, struct.error):
        pass
    return None, None


def _can_read_avif() -> bool:
    from PIL import features

    return bool(features.check_module("avif"))
