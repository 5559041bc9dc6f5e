"""Embedding a list in batches: what both CLIP adapters do with images and texts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

__all__ = ["embed_in_batches", "unit_rows"]

T = TypeVar("T")


def embed_in_batches(items: Sequence[T], batch_size: int, dimensions: int,
                     embed: Callable[[Sequence[T]], np.ndarray]) -> np.ndarray:
    """``embed`` on each run of ``batch_size`` items, the rows stacked; an empty
    list gives an empty ``(0, dimensions)`` array."""
    if not items:
        return np.zeros((0, dimensions), dtype=np.float32)
    return np.concatenate([embed(items[start : start + batch_size])
                           for start in range(0, len(items), batch_size)])


def unit_rows(array: Any) -> np.ndarray:
    """Float32 rows of unit length (normalised in float32: fp16 norms lose digits)."""
    array = np.asarray(array, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return np.asarray(array / np.maximum(norms, 1e-12), dtype=np.float32)
