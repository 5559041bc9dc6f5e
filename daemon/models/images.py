"""What every model adapter does to a decoded image first: make it RGB.

Illustrations are often transparent PNGs whose hidden pixels are black or
noise, so transparency is composited onto white (as the WD14 reference and
open_clip users do) rather than dropped; 16-bit and float greyscale is scaled
into 8 bits.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["flatten_on_white"]

_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_WIDE_MODES = ("I;16", "I;16B", "I;16L", "I", "F")


def flatten_on_white(image: Image.Image) -> Image.Image:
    """RGB, with any transparency composited onto white."""
    if image.mode == "RGB":
        return image
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    if image.mode in _WIDE_MODES:
        array = np.asarray(image, dtype=np.float64)
        peak = array.max() if array.size else 0.0
        scale = 255.0 / peak if peak > 255 else 1.0
        image = Image.fromarray(np.clip(array * scale, 0, 255).astype(np.uint8), "L")
    return image.convert("RGB")
