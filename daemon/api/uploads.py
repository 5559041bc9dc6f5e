"""Reading a search form with a query image: cheap to refuse, bounded to accept.

FastAPI reads a whole form, and spools its files to disk, before a route's
code runs; a query image would then be paid for in full even when the search
it is for cannot run. So the two routes that take an image read their form
here, as it streams in (python-multipart, the parser Starlette uses):

* the text fields are kept in memory, each at most :data:`MAX_FIELD_BYTES`;
* when the image's first bytes arrive, ``before_image`` runs first (the route
  checks there that a vector search can run, and answers 503 before reading
  on), then the image goes to a temporary file (deleted when the request is
  done) that refuses to grow past :data:`MAX_IMAGE_BYTES` (413);
* the whole body is also counted by :class:`~pximse.api.guards.BodyLimit`.

Decoding then waits for one of a few slots (:func:`decode_slots`, about one
per CPU) and runs in a worker thread, in bounded memory
(:mod:`pximse.library.query_image`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import parse_qsl

import anyio
from fastapi import HTTPException, Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

__all__ = ["MAX_IMAGE_BYTES", "SearchForm", "decode_slots", "read_search_form"]

MAX_IMAGE_BYTES = 50 << 20
"""The largest query image accepted."""
MAX_FIELD_BYTES = 64 << 10
MAX_FIELDS = 32


@dataclass
class SearchForm:
    fields: dict[str, str] = field(default_factory=dict)
    image: IO[bytes] | None = None
    image_name: str = ""
    image_size: int = 0

    def image_path(self) -> str | None:
        """The uploaded image's temporary file (for the decoder), or None without one."""
        if self.image is None:
            return None
        self.image.flush()
        return str(self.image.name)

    def close(self) -> None:
        if self.image is not None:
            self.image.close()
            self.image = None


def decode_slots(app_state: Any) -> anyio.CapacityLimiter:
    """The app's limit on query images decoded at once: about one per CPU."""
    limiter = getattr(app_state, "decode_slots", None)
    if limiter is None:
        limiter = app_state.decode_slots = anyio.CapacityLimiter(max(1, os.cpu_count() or 1))
    return limiter


async def read_search_form(request: Request, *, image_field: str = "image",
                           before_image: Callable[[], Awaitable[None]] | None = None
                           ) -> SearchForm:
    """The form of ``request`` (multipart, or URL-encoded without an image)."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type == b"application/x-www-form-urlencoded":
        body = await request.body()  # small: BodyLimit counted it
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise HTTPException(status_code=400, detail="the form is not UTF-8") from None
        return SearchForm(fields=dict(pairs[:MAX_FIELDS]))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise HTTPException(status_code=400, detail="send the form as multipart/form-data "
                                                    "(or URL-encoded, without an image)")
    reader = _MultipartReader(image_field, before_image)
    parser = MultipartParser(options[b"boundary"], reader.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            await reader.handle_events()
        parser.finalize()
        await reader.handle_events()
    except MultipartParseError as exc:
        reader.form.close()
        raise HTTPException(status_code=400,
                            detail=f"the form is not valid multipart data ({exc})") from None
    except BaseException:
        reader.form.close()
        raise
    return reader.form


class _MultipartReader:
    """Turns python-multipart's callbacks into fields and one spooled image."""

    def __init__(self, image_field: str,
                 before_image: Callable[[], Awaitable[None]] | None) -> None:
        self.image_field = image_field
        self.before_image = before_image
        self.form = SearchForm()
        self.events: list[tuple[str, bytes]] = []
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._is_image = False
        self._checked = False
        self._value = bytearray()

    def callbacks(self) -> Any:
        def data_event(kind: str) -> Callable[[bytes, int, int], None]:
            return lambda data, start, end: self.events.append((kind, data[start:end]))

        def mark(kind: str) -> Callable[[], None]:
            return lambda: self.events.append((kind, b""))

        return {
            "on_part_begin": mark("part_begin"),
            "on_part_data": data_event("part_data"),
            "on_part_end": mark("part_end"),
            "on_header_field": data_event("header_field"),
            "on_header_value": data_event("header_value"),
            "on_header_end": mark("header_end"),
            "on_headers_finished": mark("headers_finished"),
        }

    async def handle_events(self) -> None:
        events, self.events = self.events, []
        for kind, data in events:
            if kind == "part_begin":
                self._headers, self._header_field, self._header_value = {}, b"", b""
                self._value.clear()
            elif kind == "header_field":
                self._header_field += data
            elif kind == "header_value":
                self._header_value += data
            elif kind == "header_end":
                self._headers[self._header_field.lower()] = self._header_value
                self._header_field, self._header_value = b"", b""
            elif kind == "headers_finished":
                self._begin_part()
            elif kind == "part_data":
                await self._part_data(data)
            elif kind == "part_end":
                self._end_part()

    def _begin_part(self) -> None:
        disposition, options = parse_options_header(
            self._headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in options:
            raise HTTPException(status_code=400, detail="a form part without a name")
        self._name = options[b"name"].decode("utf-8", "replace")
        self._is_image = self._name == self.image_field and b"filename" in options
        if self._is_image:
            if self.form.image is not None:
                raise HTTPException(status_code=400, detail="send one image")
            self.form.image_name = options[b"filename"].decode("utf-8", "replace")
        elif len(self.form.fields) >= MAX_FIELDS:
            raise HTTPException(status_code=400, detail="too many form fields")

    async def _part_data(self, data: bytes) -> None:
        if not data:
            return
        if not self._is_image:
            self._value += data
            if len(self._value) > MAX_FIELD_BYTES:
                raise HTTPException(status_code=413, detail=f"the form field {self._name!r} "
                                    f"is longer than {MAX_FIELD_BYTES >> 10} KB")
            return
        if not self._checked:
            self._checked = True
            if self.before_image is not None:
                await self.before_image()  # before any more of the image is read
            self.form.image = tempfile.NamedTemporaryFile(  # noqa: SIM115 (the form's)
                prefix="pximse-query-")
        assert self.form.image is not None
        self.form.image_size += len(data)
        if self.form.image_size > MAX_IMAGE_BYTES:
            raise HTTPException(status_code=413, detail=f"the image is larger than "
                                                        f"{MAX_IMAGE_BYTES >> 20} MB")
        self.form.image.write(data)

    def _end_part(self) -> None:
        if not self._is_image:
            try:
                self.form.fields[self._name] = self._value.decode("utf-8")
            except UnicodeDecodeError:
                raise HTTPException(status_code=400, detail=f"the form field {self._name!r} "
                                                            "is not UTF-8 text") from None
        self._value.clear()
        self._is_image = False
