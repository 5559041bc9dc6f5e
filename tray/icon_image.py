"""The icon's picture for each state, drawn with Pillow.

A rounded square whose colour says the state at a glance, and a white glyph:
a magnifying glass (idle, indexing), two bars (paused), an exclamation mark
(error). While indexing, a bar along the bottom fills with the progress.
"""

from __future__ import annotations

from PIL import Image, ImageDraw

from pximse.tray.state import Kind, TrayState

__all__ = ["COLOURS", "draw_icon"]

COLOURS: dict[Kind, tuple[int, int, int]] = {
    "idle": (52, 101, 200),
    "indexing": (30, 150, 100),
    "paused": (128, 128, 128),
    "error": (205, 50, 50),
}
WHITE = (255, 255, 255, 255)
TRACK = (0, 0, 0, 110)


def draw_icon(state: TrayState, size: int = 64) -> Image.Image:
    """The RGBA picture for ``state``, ``size`` pixels square."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    unit = size / 64
    draw.rounded_rectangle((0, 0, size - 1, size - 1), radius=round(12 * unit),
                           fill=(*COLOURS[state.kind], 255))
    if state.kind == "paused":
        for left in (20, 37):
            draw.rectangle(_box(unit, left, 16, left + 7, 48), fill=WHITE)
    elif state.kind == "error":
        draw.rectangle(_box(unit, 28, 12, 36, 38), fill=WHITE)
        draw.ellipse(_box(unit, 27, 44, 37, 54), fill=WHITE)
    else:
        top = 8 if state.kind == "indexing" else 12
        draw.ellipse(_box(unit, 12, top, 40, top + 28), outline=WHITE,
                     width=max(1, round(6 * unit)))
        draw.line(_box(unit, 36, top + 24, 50, top + 38), fill=WHITE,
                  width=max(1, round(8 * unit)))
    if state.kind == "indexing":
        draw.rectangle(_box(unit, 8, 52, 56, 58), fill=TRACK)
        if state.progress is not None:
            fill = max(0.0, min(1.0, state.progress))
            if fill > 0:
                draw.rectangle(_box(unit, 8, 52, 8 + 48 * fill, 58), fill=WHITE)
    return image


def _box(unit: float, x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
    """A box given on a 64-pixel grid, scaled to the icon's size."""
    return round(x0 * unit), round(y0 * unit), round(x1 * unit), round(y1 * unit)
