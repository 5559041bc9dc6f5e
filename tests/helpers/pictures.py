"""The pictures the tests draw, as a file's bytes."""

from __future__ import annotations

import io

from conftest import draw_picture


def png_bytes(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    draw_picture(seed, size).save(out, format="PNG")
    return out.getvalue()
