"""Safe image probing: every fixture is built here with Pillow, in tmp_path."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import subprocess
import sys
import time
import warnings
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, features

from pximse.library import probe as probe_module
from pximse.library.probe import (
    ImageFacts,
    ProbeFailure,
    probe_image,
    sha256_file,
    sniff_format,
)
from pximse.library.thumbnails import make_thumbnail_from_file, thumbnail_path, write_thumbnail

AVIF = pytest.mark.skipif(
    not features.check("avif"), reason="this Pillow build cannot write AVIF"
)


def picture(size: tuple[int, int] = (320, 240), variant: int = 0) -> Image.Image:
    """A picture with large shapes, so perceptual hashes mean something."""
    im = Image.new("RGB", size, (235, 230, 220) if variant == 0 else (20, 40, 90))
    draw = ImageDraw.Draw(im)
    w, h = size
    if variant == 0:
        draw.ellipse((w * 0.1, h * 0.15, w * 0.55, h * 0.85), fill=(200, 40, 60))
        draw.rectangle((w * 0.6, h * 0.1, w * 0.9, h * 0.5), fill=(30, 90, 200))
        draw.line((0, h, w, 0), fill=(10, 10, 10), width=max(2, w // 40))
    else:
        draw.polygon([(w * 0.5, h * 0.05), (w * 0.95, h * 0.95), (w * 0.05, h * 0.95)],
                     fill=(250, 220, 40))
        draw.rectangle((0, 0, w * 0.3, h * 0.3), fill=(240, 240, 240))
    return im


def save(im: Image.Image, path: Path, fmt: str, **params) -> Path:
    im.save(path, fmt, **params)
    return path


def hamming(a: int, b: int) -> int:
    return ((a ^ b) & (2**64 - 1)).bit_count()


def expect_facts(result: ImageFacts | ProbeFailure) -> ImageFacts:
    assert isinstance(result, ImageFacts), result
    return result


def expect_failure(result: ImageFacts | ProbeFailure, reason: str) -> ProbeFailure:
    assert isinstance(result, ProbeFailure), result
    assert result.reason == reason, result
    assert result.message
    return result


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


# --- formats -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "suffix", "expected", "params"),
    [
        ("PNG", ".png", "png", {}),
        ("JPEG", ".jpg", "jpeg", {"quality": 90}),
        ("GIF", ".gif", "gif", {}),
        ("WEBP", ".webp", "webp", {"quality": 90}),
        ("BMP", ".bmp", "bmp", {}),
        ("TIFF", ".tif", "tiff", {}),
        pytest.param("AVIF", ".avif", "avif", {}, marks=AVIF),
    ],
)
def test_still_images_give_their_facts(tmp_path, fmt, suffix, expected, params):
    path = save(picture((320, 240)), tmp_path / f"still{suffix}", fmt, **params)
    facts = expect_facts(probe_image(path, tmp_path / "thumbs"))
    assert facts.format == expected
    assert (facts.width, facts.height) == (320, 240)
    assert (facts.frames, facts.animated) == (1, False)
    assert facts.filesize == path.stat().st_size
    assert facts.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert -(2**63) <= facts.phash < 2**63
    assert facts.thumbnail


def frames_of(count: int) -> list[Image.Image]:
    return [picture((200, 150), variant=i % 2).rotate(i * 20) for i in range(count)]


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("GIF", "gif"), ("WEBP", "webp"), ("PNG", "png"),
     pytest.param("AVIF", "avif", marks=AVIF)],
)
def test_animated_images_count_their_frames(tmp_path, fmt, expected):
    first, *rest = frames_of(3)
    path = tmp_path / f"anim.{expected}"
    first.save(path, fmt, save_all=True, append_images=rest, duration=100, loop=0)
    facts = expect_facts(probe_image(path, None))
    assert (facts.format, facts.frames, facts.animated) == (expected, 3, True)
    assert (facts.width, facts.height) == (200, 150)
    assert facts.thumbnail is False  # no thumbnail folder given


def test_multipage_tiff_has_frames_but_is_not_animated(tmp_path):
    first, *rest = frames_of(2)
    path = tmp_path / "pages.tif"
    first.save(path, "TIFF", save_all=True, append_images=rest)
    facts = expect_facts(probe_image(path, None))
    assert (facts.frames, facts.animated) == (2, False)


@pytest.mark.parametrize(
    ("fmt", "name", "expected"),
    [("PNG", "really_png.jpg", "png"), ("JPEG", "really_jpeg.png", "jpeg"),
     ("WEBP", "really_webp.gif", "webp")],
)
def test_format_comes_from_content_not_name(tmp_path, fmt, name, expected):
    path = save(picture(), tmp_path / name, fmt)
    assert expect_facts(probe_image(path, None)).format == expected


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "1", "I;16"])
def test_unusual_modes_decode(tmp_path, mode):
    fmt = "JPEG" if mode == "CMYK" else "TIFF" if mode == "1" else "PNG"
    im = picture().convert("L" if mode == "I;16" else mode)
    if mode == "I;16":
        im = im.convert("I").point(lambda v: v * 257).convert("I;16")  # a 16-bit PNG
    path = save(im, tmp_path / f"mode.{fmt.lower()}", fmt)
    facts = expect_facts(probe_image(path, tmp_path / "thumbs"))
    grey = expect_facts(probe_image(save(picture().convert("L"), tmp_path / "l.png", "PNG"), None))
    if mode != "CMYK":  # 16-bit and 1-bit scale sensibly: not clipped to white
        assert hamming(facts.phash, grey.phash) <= 10


def test_grayscale_jpeg_with_draft(tmp_path):
    path = save(picture((2000, 1500)).convert("L"), tmp_path / "grey.jpg", "JPEG")
    facts = expect_facts(probe_image(path, tmp_path / "thumbs"))
    assert (facts.width, facts.height) == (2000, 1500)


# --- failures -------------------------------------------------------------------------------


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.touch()
    failure = expect_failure(probe_image(path, tmp_path), "empty")
    assert failure.filesize == 0
    assert failure.sha256 == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"just some notes\nsecond line\n" * 10, "text"),
        ("ありがとう、メモです\n".encode() * 10, "text"),
        (b"<!DOCTYPE html><html><body>403 Forbidden</body></html>", "HTML"),
        (b"PK\x03\x04" + b"\x00" * 100, "ZIP"),
        (b"8BPS\x00\x01" + b"\x00" * 100, "Photoshop"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, "HEIC"),
        (b"BM this line starts like a bitmap but is prose" * 3, "text"),
        (bytes(range(256)), "no image format"),
    ],
)
def test_non_images_are_not_image(tmp_path, content, words):
    path = tmp_path / "fake.png"
    path.write_bytes(content)
    failure = expect_failure(probe_image(path, tmp_path), "not-image")
    assert failure.sha256 is None  # only the first 64 bytes were read
    assert failure.filesize == len(content)
    assert words in failure.message


@pytest.mark.parametrize(
    ("fmt", "params"),
    [("JPEG", {"quality": 90}), ("PNG", {}), ("GIF", {}), ("WEBP", {}), ("BMP", {}),
     ("TIFF", {}), pytest.param("AVIF", {}, marks=AVIF)],
)
def test_truncated_files(tmp_path, fmt, params):
    buffer = io.BytesIO()
    picture((400, 300)).save(buffer, fmt, **params)
    data = buffer.getvalue()
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    failure = expect_failure(probe_image(path, tmp_path / "thumbs"), "truncated")
    assert failure.sha256 == hashlib.sha256(data[: len(data) // 2]).hexdigest()
    assert not (tmp_path / "thumbs").exists()


def test_garbage_after_png_magic_is_corrupt(tmp_path):
    path = tmp_path / "garbage.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes((i * 37 + 11) % 256 for i in range(4000)))
    expect_failure(probe_image(path, tmp_path), "corrupt")


def test_garbage_after_jpeg_magic_is_corrupt(tmp_path):
    path = tmp_path / "garbage.jpg"
    path.write_bytes(b"\xff\xd8\xff" + b"this is not JPEG data at all. " * 100)
    expect_failure(probe_image(path, tmp_path), "corrupt")


def test_garbage_pixel_data_behind_a_valid_header_is_corrupt(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", b"definitely not a zlib stream" * 20) + png_chunk(b"IEND", b""))
    path = tmp_path / "badidat.png"
    path.write_bytes(data)
    expect_failure(probe_image(path, tmp_path), "corrupt")


def test_decompression_bomb_is_refused_from_the_header(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(b"\x00" * 10_000)) + png_chunk(b"IEND", b""))
    path = tmp_path / "bomb.png"
    path.write_bytes(data)
    started = time.perf_counter()
    failure = expect_failure(probe_image(path, tmp_path / "thumbs"), "too-large")
    assert time.perf_counter() - started < 1.0  # 30 GB of pixels were never allocated
    assert "100000 × 100000" in failure.message
    assert failure.sha256 == hashlib.sha256(data).hexdigest()


def test_max_pixels_is_checked_before_decoding(tmp_path):
    path = save(picture((200, 150)), tmp_path / "small.png", "PNG")
    failure = expect_failure(probe_image(path, None, max_pixels=10_000), "too-large")
    assert "200 × 150" in failure.message
    expect_facts(probe_image(path, None, max_pixels=30_000))


def test_a_directory_is_unreadable(tmp_path):
    expect_failure(probe_image(tmp_path, None), "unreadable")


def test_a_vanished_file_is_unreadable(tmp_path):
    failure = expect_failure(probe_image(tmp_path / "gone.png", None), "unreadable")
    assert failure.sha256 is None


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="chmod 000 does not stop root (or this OS) from reading",
)
def test_a_file_without_permission_is_unreadable(tmp_path):
    path = save(picture(), tmp_path / "secret.png", "PNG")
    path.chmod(0)
    try:
        expect_failure(probe_image(path, None), "unreadable")
    finally:
        path.chmod(0o644)


def test_failures_print_and_warn_nothing(tmp_path, capfd):
    ihdr = struct.pack(">IIBBBBB", 10_000, 9_500, 8, 2, 0, 0, 0)  # between Pillow's limits
    bomb = tmp_path / "warn.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IEND", b""))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        expect_failure(probe_image(bomb, None, max_pixels=50_000_000), "too-large")
        (tmp_path / "t.jpg").write_bytes(b"hello")
        expect_failure(probe_image(tmp_path / "t.jpg", None), "not-image")
    assert caught == []
    assert capfd.readouterr() == ("", "")


# --- hashing --------------------------------------------------------------------------------


def test_sha256_matches_hashlib(tmp_path):
    path = tmp_path / "blob.bin"
    data = os.urandom(3 * (1 << 20) + 123)  # several 1 MiB chunks and a tail
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_big_files_are_streamed_with_the_same_results(tmp_path, monkeypatch):
    path = save(picture((300, 200)), tmp_path / "big.jpg", "JPEG", quality=95)
    in_memory = expect_facts(probe_image(path, None))
    monkeypatch.setattr(probe_module, "IN_MEMORY_LIMIT", 0)
    streamed = expect_facts(probe_image(path, None))
    assert streamed == in_memory
    cut = tmp_path / "bigcut.jpg"
    cut.write_bytes(path.read_bytes()[:3000])
    expect_failure(probe_image(cut, None), "truncated")


# --- perceptual hash ------------------------------------------------------------------------


def test_phash_survives_reencoding_and_tells_pictures_apart(tmp_path):
    png = expect_facts(probe_image(save(picture((800, 600)), tmp_path / "a.png", "PNG"), None))
    jpeg = expect_facts(probe_image(
        save(picture((800, 600)), tmp_path / "a.jpg", "JPEG", quality=95), None))
    small = expect_facts(probe_image(
        save(picture((400, 300)), tmp_path / "a_small.webp", "WEBP", quality=80), None))
    other = expect_facts(probe_image(
        save(picture((800, 600), variant=1), tmp_path / "b.png", "PNG"), None))
    assert png.sha256 != jpeg.sha256
    assert hamming(png.phash, jpeg.phash) <= 4
    assert hamming(png.phash, small.phash) <= 6
    assert hamming(png.phash, other.phash) >= 16


def test_transparency_is_hashed_on_white(tmp_path):
    shape = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    ImageDraw.Draw(shape).ellipse((50, 80, 250, 220), fill=(0, 0, 0, 255))
    on_white = Image.new("RGB", (300, 300), "white")
    on_white.paste(shape, mask=shape.getchannel("A"))
    a = expect_facts(probe_image(save(shape, tmp_path / "alpha.png", "PNG"), None))
    b = expect_facts(probe_image(save(on_white, tmp_path / "white.png", "PNG"), None))
    p = expect_facts(probe_image(save(shape, tmp_path / "alpha.gif", "GIF"), None))
    assert hamming(a.phash, b.phash) <= 2
    assert hamming(p.phash, b.phash) <= 6


def test_imagehash_is_imported_lazily():
    code = ("import sys, pximse.library.probe; "
            "print('imagehash' in sys.modules, 'scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --- thumbnails -----------------------------------------------------------------------------


def test_thumbnail_is_a_sharded_webp_with_longest_side_256(tmp_path):
    path = save(picture((1200, 500)), tmp_path / "wide.jpg", "JPEG")
    facts = expect_facts(probe_image(path, tmp_path / "thumbs"))
    target = thumbnail_path(tmp_path / "thumbs", facts.sha256)
    assert target == tmp_path / "thumbs" / facts.sha256[:2] / f"{facts.sha256}.webp"
    with Image.open(target) as thumb:
        assert thumb.format == "WEBP"
        assert thumb.size == (256, 107)
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temp file left


def test_thumbnail_size_is_configurable_and_small_images_are_not_enlarged(tmp_path):
    big = expect_facts(probe_image(save(picture((900, 900)), tmp_path / "b.png", "PNG"),
                                   tmp_path / "t", thumbnail_size=128))
    small = expect_facts(probe_image(save(picture((100, 60)), tmp_path / "s.png", "PNG"),
                                     tmp_path / "t"))
    with Image.open(thumbnail_path(tmp_path / "t", big.sha256)) as thumb:
        assert thumb.size == (128, 128)
    with Image.open(thumbnail_path(tmp_path / "t", small.sha256)) as thumb:
        assert thumb.size == (100, 60)


def test_transparent_images_keep_alpha_in_the_thumbnail(tmp_path):
    im = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    ImageDraw.Draw(im).rectangle((100, 100, 200, 200), fill=(255, 0, 0, 255))
    facts = expect_facts(probe_image(save(im, tmp_path / "a.png", "PNG"), tmp_path / "t"))
    with Image.open(thumbnail_path(tmp_path / "t", facts.sha256)) as thumb:
        assert thumb.mode == "RGBA"
        assert thumb.getpixel((0, 0))[3] == 0


def test_exif_orientation_is_applied(tmp_path):
    stored = Image.new("RGB", (600, 200), (220, 0, 0))
    stored.paste((0, 0, 220), (300, 0, 600, 200))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = save(stored, tmp_path / "portrait.jpg", "JPEG", exif=exif.tobytes(), quality=95)
    facts = expect_facts(probe_image(path, tmp_path / "t"))
    assert (facts.width, facts.height) == (200, 600)  # as displayed
    with Image.open(thumbnail_path(tmp_path / "t", facts.sha256)) as thumb:
        assert thumb.size == (85, 256)
        top, bottom = thumb.convert("RGB").getpixel((42, 20)), thumb.getpixel((42, 236))
        assert top[0] > 150 > top[2]  # red on top
        assert bottom[2] > 150 > bottom[0]  # blue below


@pytest.mark.parametrize(
    "exif",
    [
        b"Exif\x00\x00garbage where a TIFF header should be",
        b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x05\x00" + b"\xff" * 30,
        # a well-formed IFD whose orientation is 9, which does not exist
        b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01"
        b"\x00\x09\x00\x00",
    ],
)
def test_broken_exif_does_not_reject_the_pixels(tmp_path, exif):
    path = save(picture((300, 100)), tmp_path / "exif.jpg", "JPEG", exif=exif)
    facts = expect_facts(probe_image(path, tmp_path / "t"))
    assert (facts.width, facts.height) == (300, 100)


def test_write_thumbnail_applies_exif_itself_and_skips_existing(tmp_path):
    stored = Image.new("RGB", (400, 100), "red")
    exif = Image.Exif()
    exif[0x0112] = 8
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", exif=exif.tobytes())
    target = tmp_path / "x" / "thumb.webp"
    with Image.open(buffer) as im:
        assert write_thumbnail(im, target, 256) is True
        with Image.open(target) as thumb:
            assert thumb.size == (64, 256)
        assert write_thumbnail(Image.new("RGB", (10, 10)), target, 256) is False
    with Image.open(target) as thumb:
        assert thumb.size == (64, 256)


def test_existing_thumbnail_is_not_rewritten(tmp_path):
    path = save(picture(), tmp_path / "a.png", "PNG")
    sha = sha256_file(path)
    target = thumbnail_path(tmp_path / "t", sha)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"sentinel")
    facts = expect_facts(probe_image(path, tmp_path / "t"))
    assert facts.thumbnail is True
    assert target.read_bytes() == b"sentinel"


def test_thumbnail_path_rejects_anything_but_a_sha256(tmp_path):
    for bad in ("../../etc/passwd", "AB" * 32, "ab" * 31, ""):
        with pytest.raises(ValueError):
            thumbnail_path(tmp_path, bad)


def test_make_thumbnail_from_file_regenerates_and_notices_changes(tmp_path):
    path = save(picture((640, 480)), tmp_path / "a.png", "PNG")
    sha = sha256_file(path)
    target = make_thumbnail_from_file(path, tmp_path / "t", sha, 200)
    assert target == thumbnail_path(tmp_path / "t", sha)
    with Image.open(target) as thumb:
        assert thumb.size == (200, 150)
    target.unlink()
    assert make_thumbnail_from_file(path, tmp_path / "t", sha) == target
    assert target.exists()

    save(picture((640, 480), variant=1), path, "PNG")
    other = "0" * 64
    changed = make_thumbnail_from_file(path, tmp_path / "t", other)
    assert isinstance(changed, ProbeFailure) and changed.reason == "changed"
    assert not thumbnail_path(tmp_path / "t", other).exists()

    path.write_bytes(b"")
    assert make_thumbnail_from_file(path, tmp_path / "t", other).reason == "empty"


# --- sniffing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg"),
        (b"GIF87a\x01\x00", "gif"),
        (b"GIF89a\x01\x00", "gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "webp"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
        (b"BM\x00\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00", "bmp"),
        (b"II*\x00\x08\x00\x00\x00", "tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "tiff"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "avif"),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf", "avif"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", None),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isomiso2", None),
        (b"", None),
        (b"hello world", None),
    ],
)
def test_sniff_format(head, expected):
    assert sniff_format(head) == expected
