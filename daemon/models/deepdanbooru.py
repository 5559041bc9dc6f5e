"""KichangKim's DeepDanbooru v3 tagger on TensorFlow/Keras 3, in its own process.

The release zip (``deepdanbooru-v3-20211112-sgd-e28.zip`` on
github.com/KichangKim/DeepDanbooru/releases) holds ``model-resnet_custom_v3.h5``
(a whole model saved by Keras 2), ``tags.txt`` (one tag per line, in output
order) and ``project.json`` (``image_width``/``image_height``: 512, ``model``:
``resnet_custom_v3``). Keras 3 cannot rebuild a model from a Keras 2 file's
config, so :func:`build_resnet_custom_v3` builds the same graph — following the
``deepdanbooru`` package's ``model/resnet.py`` (``create_resnet_custom_v3``,
``resnet_original_bottleneck_model``) and ``model/layers`` — and
:class:`DeepDanbooruRunner` loads the weights into it from the ``.h5``. Keras 3
reads a Keras 2 ``.h5`` with ``model.load_weights(path)``: the layers that have
weights are matched by their order in the file, not by name (Keras 3 numbers its
automatic layer names differently), which is why the builder creates the layers
in exactly the original order.

Preprocessing follows ``deepdanbooru.data.load_image_for_evaluate``:

* RGB (``decode_png(channels=3)``: alpha is dropped, not composited);
* resized to fit ``image_width`` x ``image_height`` keeping the aspect ratio
  (sides rounded, as ``tf.image.resize(preserve_aspect_ratio=True)`` does),
  by area averaging (TF's ``AREA``; Pillow's ``BOX`` here);
* centred on the target by ``transform_and_pad_image``: a translation by
  ``(target - side) / 2`` with bilinear sampling and edge padding, so a margin
  repeats the image's border pixels (and a half-pixel offset averages
  neighbours), then scaled to 0..1 as float32.

TensorFlow is never imported in the daemon's process: importing it beside torch
and torchvision crashes (see :mod:`pximse.models.worker`), so the graph runs in a
:class:`~pximse.models.worker.ModelWorker` child. The parent resizes (Pillow,
uint8) and sends the arrays; the child pads, scales and runs the model; the
parent turns scores into tags. ``model_id`` is computed in the parent from the
files' digest, without starting the child.

What :meth:`DeepDanbooruTagger.tag` returns per image: every tag of
``tags.txt`` scoring at least ``min_score`` (0.05), under its own name — the
release's ``rating:safe``/``rating:questionable``/``rating:explicit`` keep
theirs — plus the top ``rating:`` tag even below the floor, so that every image
has a rating (as the WD14 taggers do).
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pximse.models.base import InferenceModel, WeightsSource
from pximse.models.weights import WeightsFile, WeightsSpec, WeightsUnavailable
from pximse.models.worker import ModelWorker, WorkerSpec

__all__ = [
    "DEFAULT_MIN_SCORE",
    "DeepDanbooruRunner",
    "DeepDanbooruTagger",
    "MODEL_FILE",
    "NAME",
    "PROJECT_FILE",
    "TAGS_FILE",
    "V3_FILTERS",
    "V3_REPEATS",
    "build_resnet_custom_v3",
    "deepdanbooru_spec",
    "fit_image",
    "load_tags",
    "pad_and_scale",
    "prepare_image",
    "read_project",
]

log = logging.getLogger(__name__)

NAME = "deepdanbooru-v3"
MODEL_FILE = "model-resnet_custom_v3.h5"
TAGS_FILE = "tags.txt"
PROJECT_FILE = "project.json"
DEFAULT_MIN_SCORE = 0.05
DEFAULT_IMAGE_SIZE = 512
RELEASE = (
    "https://github.com/KichangKim/DeepDanbooru/releases "
    "(deepdanbooru-v3-20211112-sgd-e28.zip)"
)

#: Output channels and repeated blocks per stage of ``resnet_custom_v3``.
V3_FILTERS = (256, 512, 1024, 1024, 2048, 4096)
V3_REPEATS = (2, 7, 19, 19, 2, 2)

#: Quiet TensorFlow's start-up chatter in the child; no GPU (tensorflow-cpu).
_CHILD_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}


def deepdanbooru_spec(name: str = NAME) -> WeightsSpec:
    """The three files from the release zip; they come zipped, so none has a URL."""
    return WeightsSpec(
        name=name,
        files=(WeightsFile(MODEL_FILE), WeightsFile(TAGS_FILE), WeightsFile(PROJECT_FILE)),
    )


def load_tags(path: Path) -> tuple[str, ...]:
    """``tags.txt``: one tag per line, in output order (blank lines skipped)."""
    with Path(path).open(encoding="utf-8") as f:
        return tuple(line.strip() for line in f if line.strip())


def read_project(path: Path) -> tuple[int, int, str]:
    """``(width, height, model type)`` from ``project.json``."""
    with Path(path).open(encoding="utf-8") as f:
        project = json.load(f)
    width = int(project.get("image_width", DEFAULT_IMAGE_SIZE))
    height = int(project.get("image_height", DEFAULT_IMAGE_SIZE))
    return width, height, str(project.get("model", "resnet_custom_v3"))


# -- preprocessing (numpy and Pillow only: runs in the parent and the child) --


def fit_image(image: Image.Image | np.ndarray, width: int, height: int) -> np.ndarray:
    """RGB uint8 ``(h, w, 3)``, resized by area to fit ``width`` x ``height``, aspect kept."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    scale = min(width / rgb.width, height / rgb.height)
    size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    if size != rgb.size:
        rgb = rgb.resize(size, Image.Resampling.BOX)
    return np.asarray(rgb, dtype=np.uint8)


def _shift_axis(array: np.ndarray, axis: int, target: int) -> np.ndarray:
    """Centre ``array`` along ``axis`` in ``target`` samples: bilinear, edges repeated."""
    size = array.shape[axis]
    source = np.arange(target, dtype=np.float64) - (target - size) / 2.0
    low = np.floor(source)
    frac = source - low
    low_i = np.clip(low.astype(np.intp), 0, size - 1)
    high_i = np.clip(low.astype(np.intp) + 1, 0, size - 1)
    shape = [1] * array.ndim
    shape[axis] = target
    frac = frac.reshape(shape)
    return (1.0 - frac) * np.take(array, low_i, axis=axis) + frac * np.take(
        array, high_i, axis=axis
    )


def pad_and_scale(fitted: np.ndarray, width: int, height: int) -> np.ndarray:
    """``(height, width, 3)`` float32 in 0..1: ``fitted`` centred, margins edge-padded."""
    array = fitted.astype(np.float64)
    if array.shape[0] != height:
        array = _shift_axis(array, 0, height)
    if array.shape[1] != width:
        array = _shift_axis(array, 1, width)
    return (array / 255.0).astype(np.float32)


def prepare_image(image: Image.Image | np.ndarray, width: int, height: int) -> np.ndarray:
    """One image as DeepDanbooru expects it (both steps above)."""
    return pad_and_scale(fit_image(image, width, height), width, height)


# -- the graph (imports TensorFlow: call only in the model's own process) --


def build_resnet_custom_v3(
    image_size: tuple[int, int] | int,
    n_tags: int,
    *,
    width: float = 1.0,
    repeats: Sequence[int] = V3_REPEATS,
) -> Any:
    """The ``resnet_custom_v3`` Keras model, layers in the original's creation order.

    ``width`` scales every stage's channels (1.0 is the release's), ``repeats``
    the blocks per stage: the tests build a tiny graph of the same shape. Input
    ``(height, width, 3)`` float32 in 0..1, output ``(n_tags,)`` sigmoid scores.
    """
    import keras
    from keras import layers

    height, width_px = (image_size, image_size) if isinstance(image_size, int) else image_size
    filters = [max(4, int(round(f * width))) for f in V3_FILTERS]

    def conv(x: Any, n: int, kernel: int, strides: int = 1) -> Any:
        return layers.Conv2D(
            n, kernel, strides=strides, padding="same", use_bias=False,
            kernel_initializer="he_normal",
        )(x)

    def conv_bn(x: Any, n: int, kernel: int, strides: int = 1, gamma: str = "ones") -> Any:
        return layers.BatchNormalization(gamma_initializer=gamma)(conv(x, n, kernel, strides))

    def conv_bn_relu(x: Any, n: int, kernel: int, strides: int = 1) -> Any:
        return layers.Activation("relu")(conv_bn(x, n, kernel, strides))

    def bottleneck(x: Any, out: int) -> Any:
        y = conv_bn_relu(x, out // 4, 1)
        y = conv_bn_relu(y, out // 4, 3)
        y = conv_bn(y, out, 1, gamma="zeros")
        return layers.Activation("relu")(layers.Add()([y, x]))

    def bottleneck_down(x: Any, out: int, strides: int) -> Any:
        # Residual branch first, then the projection shortcut: the original's order.
        y = conv_bn_relu(x, out // 4, 1)
        y = conv_bn_relu(y, out // 4, 3, strides)
        y = conv_bn(y, out, 1, gamma="zeros")
        shortcut = conv_bn(x, out, 1, strides)
        return layers.Activation("relu")(layers.Add()([y, shortcut]))

    inputs = keras.Input(shape=(height, width_px, 3), dtype="float32")
    x = conv_bn_relu(inputs, filters[0] // 4, 7, 2)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    for stage, (out, count) in enumerate(zip(filters, repeats, strict=True)):
        x = bottleneck_down(x, out, 2 if stage > 0 else 1)
        for _ in range(count):
            x = bottleneck(x, out)
    x = conv(x, n_tags, 1)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Activation("sigmoid", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="resnet_custom_v3")


class DeepDanbooruRunner:
    """The child-side adapter: builds the graph, loads the ``.h5``, scores batches."""

    def __init__(
        self,
        model_path: str,
        tags_path: str,
        project_path: str,
        *,
        width: float = 1.0,
        repeats: Sequence[int] = V3_REPEATS,
    ) -> None:
        import tensorflow as tf

        image_width, image_height, model_type = read_project(Path(project_path))
        if model_type != "resnet_custom_v3":
            raise ValueError(f"{project_path}: model {model_type!r}, expected resnet_custom_v3")
        self.image_width, self.image_height = image_width, image_height
        self.n_tags = len(load_tags(Path(tags_path)))
        self.model = build_resnet_custom_v3(
            (image_height, image_width), self.n_tags, width=width, repeats=repeats
        )
        try:
            self.model.load_weights(model_path)
        except ValueError as e:
            raise ValueError(
                f"{model_path} does not fit resnet_custom_v3 with {self.n_tags} tags "
                f"from {tags_path} (are the files from the same release?): {e}"
            ) from e
        # One traced graph for every batch size: ~1.7x the images/s of calling
        # the Keras model eagerly on this CPU (measured in bench/deepdanbooru_model.py).
        self._forward = tf.function(
            lambda batch: self.model(batch, training=False),
            input_signature=[tf.TensorSpec([None, image_height, image_width, 3], tf.float32)],
        )
        self.info = {
            "device": "cpu",
            "tensorflow": tf.__version__,
            "image_width": image_width,
            "image_height": image_height,
        }

    def scores(self, fitted: Sequence[np.ndarray]) -> np.ndarray:
        """``(n, n_tags)`` float32 scores for images already passed through :func:`fit_image`."""
        batch = np.stack([pad_and_scale(a, self.image_width, self.image_height) for a in fitted])
        return np.asarray(self._forward(batch.astype(np.float32, copy=False)), dtype=np.float32)


class DeepDanbooruTagger(InferenceModel):
    """DeepDanbooru v3 behind the ImageTagger protocol; TensorFlow runs in a child process.

    Loading starts the child (TensorFlow import, graph, weights: seconds);
    unloading (``close``, or idle unload) stops it, which gives its memory back.
    ``width``/``repeats`` shrink the graph for tests and must stay at their
    defaults for the release weights.
    """

    def __init__(
        self,
        source: WeightsSource,
        name: str = NAME,
        *,
        device: str | None = None,
        idle_unload_s: float | None = None,
        width: float = 1.0,
        repeats: Sequence[int] = V3_REPEATS,
    ) -> None:
        if importlib.util.find_spec("tensorflow") is None:
            raise ImportError(
                "the DeepDanbooru tagger needs TensorFlow: pip install 'pximse[deepdanbooru]'"
            )
        if device not in (None, "cpu"):
            log.warning("%s runs on tensorflow-cpu: ignoring device %s", name, device)
        super().__init__(
            deepdanbooru_spec(name), source, device="cpu", idle_unload_s=idle_unload_s
        )
        self.width = width
        self.repeats = tuple(repeats)
        self._worker: ModelWorker | None = None
        self._tags: tuple[str, ...] | None = None
        self._rating: np.ndarray | None = None
        self._image_size = (DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE)

    @property
    def files(self) -> dict[str, Path]:
        try:
            return super().files
        except WeightsUnavailable as e:
            raise WeightsUnavailable(
                f"{e} (all three are in the DeepDanbooru v3 release zip from {RELEASE}; "
                "unzip it there)"
            ) from e

    @property
    def worker(self) -> ModelWorker | None:
        """The running child's handle (None until loaded)."""
        return self._worker

    def _load(self, files: Mapping[str, Path], device: str) -> str:
        tags = load_tags(files[TAGS_FILE])
        image_width, image_height, _ = read_project(files[PROJECT_FILE])
        worker = ModelWorker(
            WorkerSpec(
                factory="pximse.models.deepdanbooru:DeepDanbooruRunner",
                kwargs={
                    "model_path": str(files[MODEL_FILE]),
                    "tags_path": str(files[TAGS_FILE]),
                    "project_path": str(files[PROJECT_FILE]),
                    "width": self.width,
                    "repeats": self.repeats,
                },
                env=_CHILD_ENV,
                name=self.name,
            )
        )
        worker.start()
        self._worker = worker
        self._tags = tags
        self._rating = np.array(
            [i for i, t in enumerate(tags) if t.startswith("rating:")], dtype=np.intp
        )
        self._image_size = (image_width, image_height)
        return str(worker.info.get("device", "cpu"))

    def _release(self) -> None:
        if self._worker is not None:
            self._worker.close()
        self._worker = None
        self._tags = None
        self._rating = None

    def close(self) -> None:
        self.unload()

    def scores(self, images: Sequence[Any]) -> np.ndarray:
        """``(n, n_tags)`` raw scores, in ``tags.txt`` order."""
        return self._scores(images)[0]

    def _scores(self, images: Sequence[Any]) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
        with self._in_use():
            worker, tags, rating = self._worker, self._tags, self._rating
            assert worker is not None and tags is not None and rating is not None
            width, height = self._image_size
            fitted = [fit_image(image, width, height) for image in images]
            scores = np.asarray(worker.call("scores", fitted), dtype=np.float32)
        return scores, tags, rating

    def tag(
        self, images: Sequence[Any], *, min_score: float = DEFAULT_MIN_SCORE
    ) -> list[Mapping[str, float]]:
        """Tag -> score for each image (PIL any mode, or RGB uint8 arrays)."""
        if not images:
            return []
        scores, tags, rating = self._scores(images)
        if scores.shape[1] != len(tags):
            raise ValueError(f"{self.name} scored {scores.shape[1]} tags, tags.txt has {len(tags)}")
        results: list[Mapping[str, float]] = []
        for row in scores:
            keep = np.flatnonzero(row >= min_score)
            result = {tags[i]: float(row[i]) for i in keep}
            if rating.size:
                top = int(rating[np.argmax(row[rating])])
                result[tags[top]] = float(row[top])
            results.append(result)
        return results
