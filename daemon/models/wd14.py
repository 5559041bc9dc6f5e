"""SmilingWolf's WD14 v3 taggers (``model.onnx`` + ``selected_tags.csv``) on onnxruntime.

Preprocessing follows the reference implementation, SmilingWolf's own Space
(huggingface.co/spaces/SmilingWolf/wd-tagger, ``app.py``, ``Predictor.prepare_image``;
the ``wdtagger`` package's ``pil_ensure_rgb``/``pil_pad_square`` do the same):

* composite any transparency onto white, then RGB;
* pad to a square with white, the image centred (offsets ``(side - w) // 2``);
* resize to the model's input size with bicubic resampling — the size is read
  from the ONNX input shape ``[batch, height, width, 3]``, not assumed;
* float32 in 0..255 (no normalisation), channels in BGR order, NHWC.

The ONNX graphs end in a sigmoid, so outputs are probabilities, one per row of
``selected_tags.csv`` (``tag_id,name,category,count``; category 9 = rating,
0 = general, 4 = character).

What :meth:`WD14Tagger.tag` returns for each image, and why:

* general tags under their Danbooru names (``long_hair``);
* character tags as ``character:<name>``;
* all four ratings as ``rating:<name>`` (``rating:general``, ``rating:sensitive``,
  ``rating:questionable``, ``rating:explicit``). The catalogue keeps every
  rating's score rather than only the winner, so that a query can ask for
  "explicit above 0.3" as well as for the top rating (the highest ``rating:``
  score), and a later change of rule needs no re-run. The top rating is always
  returned, even below the floor, so every image has one.

Every score at or above a low floor (``min_score``, 0.05 by default) is kept, so
that a user can move the threshold without re-running the model; per-category
thresholds are applied at query time, not here.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pximse.models.base import InferenceModel, ModelSession, OrtSession, WeightsSource
from pximse.models.images import flatten_on_white
from pximse.models.weights import WeightsFile, WeightsSpec, hub_url

__all__ = [
    "WD14Tagger",
    "WD14_MODELS",
    "DEFAULT_MIN_SCORE",
    "TagLabels",
    "load_labels",
    "prepare_image",
    "wd14_spec",
]

log = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
LABELS_FILE = "selected_tags.csv"
DEFAULT_MIN_SCORE = 0.05
DEFAULT_INPUT_SIZE = 448  # every v3 model's size, used only if the graph leaves it free

RATING, GENERAL, CHARACTER = 9, 0, 4

#: Short name -> Hugging Face repository of the v3 taggers.
WD14_MODELS: dict[str, str] = {
    "wd-vit-tagger-v3": "SmilingWolf/wd-vit-tagger-v3",
    "wd-swinv2-tagger-v3": "SmilingWolf/wd-swinv2-tagger-v3",
    "wd-convnext-tagger-v3": "SmilingWolf/wd-convnext-tagger-v3",
    "wd-vit-large-tagger-v3": "SmilingWolf/wd-vit-large-tagger-v3",
    "wd-eva02-large-tagger-v3": "SmilingWolf/wd-eva02-large-tagger-v3",
}


def wd14_spec(name: str, endpoint: str = "") -> WeightsSpec:
    """The files of a WD14 tagger; a name not in :data:`WD14_MODELS` has no URLs.

    No SHA-256 is pinned: each download is checked against the checksum the hub
    announces for the file, and the model id (a digest of the bytes actually
    used) is what tells versions apart.
    """
    repo = WD14_MODELS.get(name)

    def url(file: str) -> str | None:
        return None if repo is None else hub_url(repo, file, endpoint)

    return WeightsSpec(
        name=name,
        files=(
            WeightsFile(MODEL_FILE, url(MODEL_FILE)),
            WeightsFile(LABELS_FILE, url(LABELS_FILE)),
        ),
    )


@dataclass(frozen=True)
class TagLabels:
    """Output index -> catalogue key, split by category."""

    keys: tuple[str, ...]
    rating: np.ndarray  # indices into keys
    general: np.ndarray
    character: np.ndarray


def load_labels(path: Path) -> TagLabels:
    keys: list[str] = []
    rating: list[int] = []
    general: list[int] = []
    character: list[int] = []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"name", "category"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: no {', '.join(sorted(missing))} column")
        for index, row in enumerate(reader):
            name, category = row["name"], int(row["category"])
            if category == RATING:
                keys.append(f"rating:{name}")
                rating.append(index)
            elif category == CHARACTER:
                keys.append(f"character:{name}")
                character.append(index)
            else:
                # General, and any category a future tag list adds: kept under its name.
                keys.append(name)
                general.append(index)
    return TagLabels(
        keys=tuple(keys),
        rating=np.array(rating, dtype=np.intp),
        general=np.array(general, dtype=np.intp),
        character=np.array(character, dtype=np.intp),
    )


def prepare_image(image: Image.Image, size: int) -> np.ndarray:
    """One image as the WD14 models expect it: ``(size, size, 3)`` float32 BGR 0..255."""
    rgb = flatten_on_white(image)
    side = max(rgb.size)
    if rgb.size != (side, side):
        square = Image.new("RGB", (side, side), (255, 255, 255))
        square.paste(rgb, ((side - rgb.width) // 2, (side - rgb.height) // 2))
        rgb = square
    if side != size:
        rgb = rgb.resize((size, size), Image.Resampling.BICUBIC)
    array = np.asarray(rgb, dtype=np.float32)
    return np.ascontiguousarray(array[:, :, ::-1])


class WD14Tagger(InferenceModel):
    """A WD14 v3 tagger: ``tag(images)`` -> catalogue key -> score, per image."""

    def __init__(
        self,
        source: WeightsSource,
        name: str = "wd-vit-tagger-v3",
        *,
        device: str | None = None,
        idle_unload_s: float | None = None,
        intra_op_threads: int = 0,
        endpoint: str = "",
    ) -> None:
        super().__init__(wd14_spec(name, endpoint), source, device=device,
                         idle_unload_s=idle_unload_s)
        self.intra_op_threads = intra_op_threads
        self._session: ModelSession | None = None
        self._labels: TagLabels | None = None
        self._input_name = ""
        self._input_size = DEFAULT_INPUT_SIZE
        self._batch_one = False

    def _load(self, files: Mapping[str, Path], device: str) -> str:
        labels = load_labels(files[LABELS_FILE])
        session = OrtSession(files[MODEL_FILE], device, intra_op_threads=self.intra_op_threads)
        (graph_input,) = session.get_inputs()
        shape = graph_input.shape
        if len(shape) != 4 or shape[3] != 3:
            raise ValueError(f"{files[MODEL_FILE]}: expected an NHWC input, got shape {shape}")
        height = shape[1]
        self._input_size = height if isinstance(height, int) else DEFAULT_INPUT_SIZE
        self._batch_one = shape[0] == 1
        outputs = session.get_outputs()
        width = outputs[0].shape[-1]
        if isinstance(width, int) and width != len(labels.keys):
            raise ValueError(
                f"{files[MODEL_FILE]} scores {width} tags but {files[LABELS_FILE]} "
                f"lists {len(labels.keys)}: the two files are from different models"
            )
        self._input_name = graph_input.name
        self._labels = labels
        self._session = session
        return session.device

    def _release(self) -> None:
        self._session = None
        self._labels = None

    def describe_runtime(self) -> dict[str, Any]:
        return {"runtime": "onnxruntime", "device": self.device,
                "threads": self.intra_op_threads or "all"}

    def tag(
        self, images: Sequence[Any], *, min_score: float = DEFAULT_MIN_SCORE
    ) -> list[Mapping[str, float]]:
        """Tag -> score for each image (PIL, any mode), every score >= ``min_score``."""
        if not images:
            return []
        with self._in_use():
            session, labels = self._session, self._labels
            assert session is not None and labels is not None
            batch = np.stack([prepare_image(image, self._input_size) for image in images])
            if self._batch_one:
                scores = np.concatenate(
                    [
                        session.run({self._input_name: batch[i : i + 1]})[0]
                        for i in range(len(batch))
                    ]
                )
            else:
                scores = session.run({self._input_name: batch})[0]
        return [self._scores_to_tags(np.asarray(row), labels, min_score) for row in scores]

    @staticmethod
    def _scores_to_tags(row: np.ndarray, labels: TagLabels, min_score: float) -> dict[str, float]:
        keep = np.flatnonzero(row >= min_score)
        tags = {labels.keys[i]: float(row[i]) for i in keep}
        if labels.rating.size:
            top = int(labels.rating[np.argmax(row[labels.rating])])
            tags[labels.keys[top]] = float(row[top])
        return tags
