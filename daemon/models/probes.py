"""Test pictures for checking a model: drawn here, the same every time.

``pximse models verify`` embeds them with CLIP in int8 and in float32 to say how
close the two are, and ``bench/clip_runtime.py`` times the runtimes on them.
Shapes, gradients and text-like strokes in varied colours and sizes, so that
the images differ from one another as a library's do.
"""

from __future__ import annotations

import random

from PIL import Image, ImageDraw

__all__ = ["probe_images"]


def probe_images(count: int, size: tuple[int, int] = (320, 240), seed: int = 0
                 ) -> list[Image.Image]:
    rng = random.Random(seed)
    images = []
    for _ in range(count):
        width, height = size
        image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
        draw = ImageDraw.Draw(image)
        for _ in range(rng.randrange(4, 12)):
            x0, y0 = rng.randrange(width), rng.randrange(height)
            x1, y1 = x0 + rng.randrange(10, width // 2), y0 + rng.randrange(10, height // 2)
            colour = tuple(rng.randrange(256) for _ in range(3))
            shape = rng.choice(("rectangle", "ellipse", "line"))
            if shape == "line":
                draw.line((x0, y0, x1, y1), fill=colour, width=rng.randrange(1, 8))
            else:
                getattr(draw, shape)((x0, y0, x1, y1), fill=colour)
        images.append(image)
    return images
