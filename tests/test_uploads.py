"""Query-image uploads: refused before they are read when no vector search can
run, limited while they stream, decoded a few at a time, straight to the size
the model needs, in bounded memory."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from pximse.api.app import create_app
from pximse.library import png_bands
from pximse.library.query_image import (
    QueryImageTooLarge,
    QueryImageUnreadable,
    decode_query_image,
)
from pximse.store.sqlite.catalog import SqliteCatalog

BOUNDARY = "pximse-test"


def _multipart_head(name: str = "image", filename: str = "q.png") -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; "
            f"filename=\"{filename}\"\r\nContent-Type: image/png\r\n\r\n").encode()


def _field(name: str, value: str) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
            f"{value}\r\n").encode()


class _Counted:
    """A request body sent in 1 MB chunks as the server asks for them (httpx's ASGI
    transport pulls each chunk when the app calls ``receive``)."""

    def __init__(self, head: bytes, megabytes: int) -> None:
        self.head = head
        self.megabytes = megabytes
        self.pulled = 0

    async def __aiter__(self) -> Any:
        yield self.head
        for _ in range(self.megabytes):
            self.pulled += 1
            yield b"\0" * (1 << 20)
        yield f"\r\n--{BOUNDARY}--\r\n".encode()


async def _post(app: Any, path: str, body: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8741") as client:
        return await client.post(path, content=body, headers={
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})


@pytest.fixture
def no_clip_app(library: Path, make_config, make_image):
    make_image(library / "a.png")
    config = make_config({"main": library}, '[models]\nclip = ""\n')
    catalog = SqliteCatalog(config.catalog_path)
    yield create_app(config, catalog)
    catalog.close()


def test_an_image_for_a_search_that_cannot_run_is_refused_unread(no_clip_app) -> None:
    body = _Counted(_multipart_head(), 40)
    answer = asyncio.run(_post(no_clip_app, "/api/search/image", body))
    assert answer.status_code == 503
    assert answer.json()["error"] == "vector_search_unavailable"
    assert body.pulled == 0  # not a byte of the image was asked for


def test_the_original_form_is_refused_at_its_image_not_before(no_clip_app) -> None:
    fields = _field("query", "") + _field("sort", "")
    plain = asyncio.run(_post(no_clip_app, "/api/query/", fields + f"--{BOUNDARY}--\r\n".encode()))
    assert plain.status_code == 200 and plain.json() == []  # an empty catalogue
    body = _Counted(fields + _multipart_head(), 40)
    answer = asyncio.run(_post(no_clip_app, "/api/query/", body))
    assert answer.status_code == 503
    assert body.pulled <= 1


def test_a_field_or_an_image_too_long_is_413_as_it_arrives(no_clip_app) -> None:
    class LongField(_Counted):
        async def __aiter__(self) -> Any:
            yield _field("query", "")[:-2]
            for _ in range(self.megabytes):
                self.pulled += 1
                yield b"a" * (1 << 20)

    body = LongField(b"", 40)
    answer = asyncio.run(_post(no_clip_app, "/api/query/", body))
    assert answer.status_code == 413 and body.pulled <= 2


def test_form_fields_are_checked_like_any_other_parameter(no_clip_app) -> None:
    async def post(fields: bytes) -> httpx.Response:
        return await _post(no_clip_app, "/api/query/", fields + f"--{BOUNDARY}--\r\n".encode())

    bad = asyncio.run(post(_field("limit", "0")))
    assert bad.status_code == 400 and bad.json()["problems"][0]["parameter"] == "limit"
    assert asyncio.run(post(_field("limit", ""))).status_code == 200  # empty: the default
    url = asyncio.run(post(_field("image", "http://example.org/a.png")))
    assert url.status_code == 400 and "never fetches" in url.json()["detail"]
    wrong = asyncio.run(_post(no_clip_app, "/api/query/", b"x"))
    assert wrong.status_code == 400


def test_at_most_a_few_query_images_are_decoded_at_once(no_clip_app, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    import anyio

    from pximse.api import routes_search

    running = 0
    most = 0
    lock = threading.Lock()

    def slow_decode(path: str, **options: Any) -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.3)
        with lock:
            running -= 1
        return "decoded"

    monkeypatch.setattr(routes_search, "load_query_image", slow_decode)
    monkeypatch.setattr(routes_search, "_run", lambda *a, **k: {"items": [], "total": 0})
    no_clip_app.state.clip.check_ready = lambda: None
    no_clip_app.state.decode_slots = anyio.CapacityLimiter(2)
    body = _multipart_head() + b"\x89PNG" + f"\r\n--{BOUNDARY}--\r\n".encode()

    async def six() -> list[httpx.Response]:
        return await asyncio.gather(*(_post(no_clip_app, "/api/search/image", body)
                                      for _ in range(6)))

    answers = asyncio.run(six())
    assert [a.status_code for a in answers] == [200] * 6
    assert most == 2


# -- decoding ------------------------------------------------------------------------------


def _gradient(mode: str, size: tuple[int, int]) -> Image.Image:
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    base = ((xx * 3 + yy * 5) % 256).astype(np.uint8)
    bands = [base, (255 - base).astype(np.uint8), ((xx + yy) % 256).astype(np.uint8),
             (base // 2).astype(np.uint8)]
    if mode == "P":
        return Image.fromarray(base, "L").convert("P")
    return Image.merge(mode, [Image.fromarray(b, "L") for b in bands[:len(mode)]])


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P"])
def test_a_big_png_decoded_in_bands_is_the_whole_decode_shrunk(
        mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(png_bands, "BAND_BYTES", 40_000)  # dozens of bands
    picture = _gradient(mode, (1303, 997))
    data = io.BytesIO()
    picture.save(data, "PNG", **({"transparency": 7} if mode == "P" else {}))
    got = png_bands.decode_png_in_bands(io.BytesIO(data.getvalue()), 448)
    whole = Image.open(io.BytesIO(data.getvalue()))
    whole = whole.convert("RGBA" if mode in ("RGBA", "LA", "P") else "RGB")
    expected = whole.reduce(1303 // 448).resize(got.size, Image.Resampling.LANCZOS)
    assert got.mode == expected.mode and got.size == (448, 343)
    assert np.array_equal(np.asarray(got), np.asarray(expected))


def test_a_banded_png_is_turned_as_its_exif_says(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(png_bands, "BAND_BYTES", 40_000)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to show
    _gradient("RGB", (1200, 600)).save(tmp_path / "turned.png", exif=exif.tobytes())
    with open(tmp_path / "turned.png", "rb") as handle:
        assert png_bands.decode_png_in_bands(handle, 448).size == (224, 448)


def _declared_png(path: Path, width: int, height: int) -> Path:
    """A small file that declares a big picture (the rows compress to almost nothing)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = zlib.compressobj(9)
    raw = b"".join(rows.compress(b"\0" + b"\x80" * (width * 3)) for _ in range(height))
    raw += rows.flush()
    path.write_bytes(png_bands.SIGNATURE
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    return path


def test_query_images_have_their_own_pixel_limit(tmp_path: Path) -> None:
    big = _declared_png(tmp_path / "big.png", 4000, 3000)
    assert big.stat().st_size < 200_000
    with pytest.raises(QueryImageTooLarge) as refused:
        decode_query_image(big, name="big.png", max_pixels=10_000_000)
    assert "12 megapixels" in str(refused.value) and "max_query_image_pixels" in str(
        refused.value)
    assert decode_query_image(big, name="big.png", max_pixels=20_000_000).size == (448, 336)


def test_a_format_decoded_whole_is_refused_when_it_would_take_too_much_memory(
        tmp_path: Path) -> None:
    gif = tmp_path / "wide.gif"
    Image.new("P", (7000, 7000), 3).save(gif)  # 49 MP: ~245 MB to decode and convert
    with pytest.raises(QueryImageTooLarge) as refused:
        decode_query_image(gif, name="wide.gif", max_pixels=100_000_000)
    assert "JPEG" in str(refused.value) and "MB" in str(refused.value)
    small = tmp_path / "small.gif"
    Image.new("P", (900, 600), 3).save(small)
    assert decode_query_image(small, name="small.gif", max_pixels=100_000_000).size == (448, 299)


def test_broken_query_images_say_what_is_wrong(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("hello")
    with pytest.raises(QueryImageUnreadable, match="not a picture"):
        decode_query_image(text, name="notes.png", max_pixels=1_000_000)
    cut = _declared_png(tmp_path / "cut.png", 4000, 3000)
    cut.write_bytes(cut.read_bytes()[:-40])
    with pytest.raises(QueryImageUnreadable) as broken:
        decode_query_image(cut, name="cut.png", max_pixels=100_000_000)
    assert "cut.png" in str(broken.value) and str(tmp_path) not in str(broken.value)
