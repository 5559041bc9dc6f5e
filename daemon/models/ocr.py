"""OCR through RapidOCR (PP-OCR models on onnxruntime), offline.

``RapidOcrEngine`` reads Chinese, Japanese (horizontal lines and vertical
columns, as in manga speech bubbles) and English with the detection,
direction and recognition models that ship inside the ``rapidocr`` wheel. It
points RapidOCR at those files explicitly, so nothing is ever downloaded: the
recognition model carries its own character list, and no visualisation font
is asked for.

Vertical text needs no special setting: RapidOCR turns every crop whose height
is at least 1.5 times its width a quarter turn before recognition, and the
PP-OCRv6 recogniser reads such turned columns of kana and kanji (measured in
``tests/test_ocr_engine.py``).

Long images are read in overlapping tiles. RapidOCR shrinks any image to 2000
px on its long side and then enlarges the short side to 736 px for its
detector: a 720×30000 webtoon became a 48×2000 sliver, blown up to 736×30666
(gigabytes of activations, and no legible text). A page-shaped image is read
whole; a longer one is cut along its length into tiles at most
:data:`TILE_ASPECT` times as long as wide and :data:`TILE_LONG` px long, each
overlapping the next by a quarter, so every line fits whole in some tile. A
line is kept from the tile whose middle part (its own share, without the
overlap) holds the line's centre, so nothing is read twice, and its box is
given in the whole image's coordinates. Memory is that of one tile, whatever
the image's length.

Construction is cheap (no import of rapidocr, onnxruntime or OpenCV, no file
read); the sessions are made on the first ``read`` and the weights' digest
on the first look at ``model_id``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pximse.models import OcrLine

__all__ = ["RapidOcrEngine", "DEFAULT_MIN_CONFIDENCE", "Tile", "default_intra_op_threads",
           "tiles"]

logger = logging.getLogger(__name__)

#: Lines whose recognition confidence is below this are dropped (as the
#: original PxIMSE did).
DEFAULT_MIN_CONFIDENCE = 0.7

# The models in the rapidocr wheel's ``models/`` folder, in digest order.
_DET_MODEL = "PP-OCRv6_det_small.onnx"
_CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"
_REC_MODEL = "PP-OCRv6_rec_small.onnx"
_MODEL_FILES = (_DET_MODEL, _CLS_MODEL, _REC_MODEL)

_DEVICES = ("auto", "cpu", "cuda")

TILE_ASPECT = 3.0
"""A tile is at most this many times longer than wide (RapidOCR's detector
enlarges the short side to 736 px: the tile's pixels stay near 2 MP)."""
TILE_LONG = 2000
"""A tile's long side at most (RapidOCR shrinks anything longer)."""
MIN_ACROSS = 8
"""An image thinner than this holds no legible text."""
BLANK_SPREAD = 6
"""A tile whose values all lie within this of each other is skipped."""


def default_intra_op_threads() -> int:
    """Threads one onnxruntime session uses inside an operator: half the cores, 1 to 4.

    OCR shares the machine with the other models and with image decoding, and
    onnxruntime's intra-op threads spin while they wait: on a busy two-core
    machine one thread read pages 2.6x faster than two (``bench/ocr_engine.py``
    under load: 1.1 s against 2.9 s per 1000x1400 page). Two threads pay off
    only when OCR has the cores to itself; pass ``intra_op_threads`` then.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores // 2))


def _models_dir() -> Path:
    """The rapidocr wheel's model folder, found without importing rapidocr."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "rapidocr is not installed: it is part of PxIMSE's installation "
            "(pip install pximse)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class RapidOcrEngine:
    """An :class:`~pximse.models.OcrEngine` on RapidOCR's shipped PP-OCR models.

    ``device`` is ``"auto"`` (CUDA when onnxruntime offers it, else the CPU),
    ``"cpu"`` or ``"cuda"`` (which falls back to the CPU, with a warning, when
    onnxruntime has no CUDA provider). ``intra_op_threads`` defaults to
    :func:`default_intra_op_threads`.

    One engine may be shared between threads: ``read`` calls are serialised
    by a lock (RapidOCR keeps per-call settings on the object), and each call
    uses ``intra_op_threads`` cores inside onnxruntime.
    """

    def __init__(
        self,
        *,
        device: str = "auto",
        intra_op_threads: int | None = None,
        models_dir: Path | None = None,
        data_dir: Path | None = None,
    ) -> None:
        if device not in _DEVICES:
            raise ValueError(f"device must be one of {', '.join(_DEVICES)}, not {device!r}")
        if intra_op_threads is not None and intra_op_threads < 1:
            raise ValueError(f"intra_op_threads must be at least 1, not {intra_op_threads}")
        self._requested_device = device
        self._intra_op_threads = intra_op_threads
        self._models_dir = models_dir
        self._data_dir = data_dir
        self._ocr: Any = None
        self._device: str | None = None
        self._model_id: str | None = None
        self._lock = threading.Lock()

    # -- Model protocol ---------------------------------------------------

    @property
    def model_id(self) -> str:
        """``rapidocr-<version>:`` and 12 hex digits of the models' SHA-256.

        The digest is kept in the data folder's digest cache (when one is given)
        for as long as the model files stay the same, so reading the id costs no
        read of the models after the first time.
        """
        if self._model_id is None:
            from pximse.models.weights import digest_cache

            paths = self._model_paths()
            stats = [path.stat() for path in paths]
            stamp = [[str(p) for p in paths], [s.st_size for s in stats],
                     [s.st_mtime_ns for s in stats]]
            digest = digest_cache(self._data_dir).remember(
                "rapidocr", stamp, lambda: _models_digest(paths))
            version = importlib.metadata.version("rapidocr")
            self._model_id = f"rapidocr-{version}:{digest[:12]}"
        return self._model_id

    def describe_runtime(self) -> dict[str, Any]:
        return {"runtime": "onnxruntime", "device": self.device,
                "threads": self._intra_op_threads or default_intra_op_threads()}

    @property
    def device(self) -> str:
        """``cuda:0`` or ``cpu``: where the sessions run (or will run)."""
        if self._device is None:
            self._device = self._resolve_device()
        return self._device

    # -- OcrEngine protocol -----------------------------------------------

    def read(
        self, images: Sequence[Any], *, min_confidence: float = DEFAULT_MIN_CONFIDENCE
    ) -> list[list[OcrLine]]:
        """The lines of text in each image, in RapidOCR's reading order.

        ``images`` are PIL images (any mode; transparency is laid on white) or
        ``uint8`` RGB arrays of shape ``(h, w, 3)``. Lines whose confidence is
        below ``min_confidence`` are left out.
        """
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be within [0, 1], not {min_confidence}")
        results: list[list[OcrLine]] = []
        with self._lock:
            ocr = self._load()
            for image in images:
                lines: list[OcrLine] = []
                windows = tiles(*_size(image))
                for tile in windows:
                    window = _to_bgr(_crop(image, tile.box))
                    if len(windows) > 1 and _blank(window):
                        continue  # a gutter between panels: no text to look for
                    found = _lines(ocr(window), min_confidence)
                    lines += [line for line in map(tile.to_image, found) if tile.owns(line)]
                results.append(lines)
        return results

    # -- internals --------------------------------------------------------

    def _model_paths(self) -> list[Path]:
        folder = self._models_dir if self._models_dir is not None else _models_dir()
        paths = [folder / name for name in _MODEL_FILES]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(
                "RapidOCR's shipped models are missing (reinstall rapidocr): " + ", ".join(missing)
            )
        return paths

    def _resolve_device(self) -> str:
        if self._requested_device == "cpu":
            return "cpu"
        import onnxruntime

        has_cuda = (
            "CUDAExecutionProvider" in onnxruntime.get_available_providers()
            and onnxruntime.get_device() == "GPU"
        )
        if has_cuda:
            return "cuda:0"
        if self._requested_device == "cuda":
            logger.warning("OCR: onnxruntime offers no CUDA provider; running on the CPU")
        return "cpu"

    def _load(self) -> Any:
        """The RapidOCR object with its three sessions made (under ``_lock``)."""
        if self._ocr is not None:
            return self._ocr
        det, cls, rec = (str(p) for p in self._model_paths())
        threads = self._intra_op_threads or default_intra_op_threads()
        use_cuda = self.device.startswith("cuda")

        from rapidocr import RapidOCR

        ocr = RapidOCR(
            params={
                # Every line comes back; ``read`` applies its own threshold.
                "Global.text_score": 0.0,
                "Global.log_level": "error",
                # Explicit files: RapidOCR downloads only when it has none.
                "Det.model_path": det,
                "Cls.model_path": cls,
                "Rec.model_path": rec,
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                "EngineConfig.onnxruntime.use_cuda": use_cuda,
            }
        )
        # RapidOCR makes each session on first use; make them now so that a
        # broken install fails here, once, rather than halfway through a page.
        for loader in ("_load_det_model", "_load_cls_model", "_load_rec_model"):
            getattr(ocr, loader, lambda: None)()
        logger.info(
            "OCR: RapidOCR %s on %s, %d intra-op thread(s), models from %s",
            importlib.metadata.version("rapidocr"),
            self.device,
            threads,
            Path(det).parent,
        )
        self._ocr = ocr
        return ocr


def _models_digest(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(b"\0")
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Tile:
    """One window of an image: ``box`` (left, top, right, bottom); ``own`` the
    span along the cut axis whose lines this tile keeps."""

    box: tuple[int, int, int, int]
    vertical: bool  # cut along the height (a tall strip)
    own: tuple[float, float]

    def to_image(self, line: OcrLine) -> OcrLine:
        left, top = self.box[0], self.box[1]
        return OcrLine(line.text, tuple((x + left, y + top) for x, y in line.box),
                       line.confidence)

    def owns(self, line: OcrLine) -> bool:
        centre = sum(p[1 if self.vertical else 0] for p in line.box) / len(line.box)
        return self.own[0] <= centre < self.own[1]


def tiles(width: int, height: int) -> list[Tile]:
    """The tiles an image of ``width`` × ``height`` is read in: itself when it is
    no longer than TILE_ASPECT times its width, none when it is too thin to
    hold a letter."""
    vertical = height >= width
    across, along = (width, height) if vertical else (height, width)
    if across < MIN_ACROSS:
        return []
    if along <= TILE_ASPECT * across:
        return [Tile((0, 0, width, height), vertical, (float("-inf"), float("inf")))]
    length = min(TILE_LONG, round(TILE_ASPECT * across))
    overlap = length // 4
    step = length - overlap
    starts = list(range(0, along - length, step)) + [along - length]
    windows: list[Tile] = []
    for index, start in enumerate(starts):
        end = start + length
        # Each tile keeps the lines centred in its share: from the middle of the
        # overlap with the tile before to the middle of the one with the tile after.
        low = float("-inf") if index == 0 else (start + starts[index - 1] + length) / 2
        high = float("inf") if index == len(starts) - 1 else (starts[index + 1] + end) / 2
        box = (0, start, width, end) if vertical else (start, 0, end, height)
        windows.append(Tile(box, vertical, (low, high)))
    return windows


def _blank(window: np.ndarray) -> bool:
    """One flat colour (a strip's gutter), where no detector finds anything."""
    return bool(int(window.max()) - int(window.min()) <= BLANK_SPREAD)


def _size(image: Any) -> tuple[int, int]:
    if isinstance(image, np.ndarray):
        return int(image.shape[1]), int(image.shape[0])
    return image.size  # type: ignore[no-any-return]


def _crop(image: Any, box: tuple[int, int, int, int]) -> Any:
    left, top, right, bottom = box
    if (left, top, right, bottom) == (0, 0, *_size(image)):
        return image
    if isinstance(image, np.ndarray):
        return image[top:bottom, left:right]
    return image.crop(box)


def _to_bgr(image: Any) -> np.ndarray:
    """A contiguous ``uint8`` BGR array, the layout RapidOCR takes for arrays."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(
                f"OCR takes uint8 RGB arrays of shape (h, w, 3), not {image.dtype} {image.shape}"
            )
        return np.ascontiguousarray(image[:, :, ::-1])

    from PIL import Image

    if not isinstance(image, Image.Image):
        raise TypeError(f"OCR takes PIL images or RGB arrays, not {type(image).__name__}")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        # Transparent pixels often hold black: lay them on white instead.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image)[:, :, ::-1])


def _lines(result: Any, min_confidence: float) -> list[OcrLine]:
    boxes = getattr(result, "boxes", None)
    texts = getattr(result, "txts", None)
    scores = getattr(result, "scores", None)
    if boxes is None or texts is None or scores is None:
        return []
    lines = []
    for box, text, score in zip(boxes, texts, scores, strict=True):
        confidence = float(score)
        if confidence < min_confidence or not text.strip():
            continue
        points = tuple((float(x), float(y)) for x, y in np.asarray(box).reshape(-1, 2))
        lines.append(OcrLine(text=text, box=points, confidence=confidence))
    return lines
