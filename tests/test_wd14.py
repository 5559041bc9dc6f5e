"""The WD14 tagger adapter, run for real on onnxruntime with a tiny tagger built here.

The tiny model has the real interface — one NHWC float32 input named like the
real models' (``input_1:0``, ``[batch, H, W, 3]``), one ``[batch, n_tags]`` output
of probabilities — and computes ``sigmoid(mean_over_pixels(bgr) @ W + b)``, so
the test can work out every expected score with numpy.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from helpers.wd14_model import NAME, ROWS, build_model, make_weights
from PIL import Image

from pximse.models.base import WeightsSource
from pximse.models.wd14 import DEFAULT_MIN_SCORE, WD14Tagger, prepare_image
from pximse.models.weights import WeightsUnavailable, cache_dir

KEYS = [
    "rating:general",
    "rating:sensitive",
    "rating:questionable",
    "rating:explicit",
    "1girl",
    "red_theme",
    "blue_theme",
    "never_sure",
    "character:hatsune_miku",
    "character:rin_(blue)",
]
RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def expected_scores(pixels_rgb: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """What the tiny model gives for an already square, already sized RGB array."""
    bgr = pixels_rgb.astype(np.float32)[..., ::-1]
    mean = bgr.reshape(-1, 3).mean(axis=0)
    return 1.0 / (1.0 + np.exp(-(mean @ w + b)))


def expected_tags(scores: np.ndarray, min_score: float = DEFAULT_MIN_SCORE) -> dict[str, float]:
    tags = {KEYS[i]: float(s) for i, s in enumerate(scores) if s >= min_score}
    top = int(np.argmax(scores[:4]))
    tags[KEYS[top]] = float(scores[top])
    return tags


def assert_tags_close(got: dict[str, float], want: dict[str, float]) -> None:
    assert set(got) == set(want)
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-5), key


def solid(color: tuple[int, int, int], size: tuple[int, int] = (8, 8)) -> Image.Image:
    return Image.new("RGB", size, color)


@pytest.fixture
def weights() -> tuple[np.ndarray, np.ndarray]:
    return make_weights()


@pytest.fixture
def local_model(tmp_path: Path, weights: tuple[np.ndarray, np.ndarray]) -> Path:
    return build_model(tmp_path / "local" / NAME, *weights)


@pytest.fixture
def tagger(tmp_path: Path, local_model: Path) -> WD14Tagger:
    return WD14Tagger(WeightsSource(tmp_path / "data", local_path=local_model), NAME)


def test_keys_and_categories(tagger: WD14Tagger) -> None:
    (tags,) = tagger.tag([solid(RED)], min_score=0.0)
    assert list(tags) == KEYS
    assert all(0.0 <= s <= 1.0 for s in tags.values())


def test_red_and_blue_get_the_scores_the_model_implies(
    tagger: WD14Tagger, weights: tuple[np.ndarray, np.ndarray]
) -> None:
    red, blue = tagger.tag([solid(RED), solid(BLUE)])
    red_want = expected_scores(np.full((8, 8, 3), RED), *weights)
    blue_want = expected_scores(np.full((8, 8, 3), BLUE), *weights)
    assert_tags_close(dict(red), expected_tags(red_want))
    assert_tags_close(dict(blue), expected_tags(blue_want))
    assert red["red_theme"] > 0.9 and blue["blue_theme"] > 0.9
    assert "blue_theme" not in red and "red_theme" not in blue  # under the floor
    assert "never_sure" not in red and "never_sure" not in blue
    assert sum(k.startswith("rating:") for k in red) >= 1


def test_top_rating_kept_below_the_floor(tagger: WD14Tagger) -> None:
    (tags,) = tagger.tag([solid(RED)], min_score=1.0)
    ratings = [k for k in tags if k.startswith("rating:")]
    assert len(ratings) == 1 and len(tags) == 1


def test_batch_equals_one_by_one(tagger: WD14Tagger) -> None:
    rng = np.random.default_rng(1)
    images = [
        Image.fromarray(rng.integers(0, 256, (h, 8, 3), dtype=np.uint8)) for h in (8, 5, 8, 3)
    ]
    batch = tagger.tag(images)
    for image, together in zip(images, batch, strict=True):
        (alone,) = tagger.tag([image])
        assert_tags_close(dict(together), dict(alone))


def test_pad_with_white_centred(tagger: WD14Tagger, weights: tuple[np.ndarray, np.ndarray]) -> None:
    (tags,) = tagger.tag([solid(RED, size=(8, 4))])  # wide: 2 white rows above and below
    square = np.full((8, 8, 3), WHITE)
    square[2:6] = RED
    assert_tags_close(dict(tags), expected_tags(expected_scores(square, *weights)))
    prepared = prepare_image(solid(RED, size=(8, 4)), 8)
    assert prepared.shape == (8, 8, 3) and prepared.dtype == np.float32
    assert prepared[0, 0].tolist() == [255.0, 255.0, 255.0]
    assert prepared[4, 4].tolist() == [0.0, 0.0, 255.0]  # BGR


def test_input_size_comes_from_the_graph(
    tmp_path: Path, weights: tuple[np.ndarray, np.ndarray]
) -> None:
    folder = build_model(tmp_path / "big", *weights, size=16)
    tagger = WD14Tagger(WeightsSource(tmp_path, local_path=folder), NAME)
    (small, large) = tagger.tag([solid(BLUE, size=(8, 8)), solid(BLUE, size=(40, 40))])
    want = expected_tags(expected_scores(np.full((16, 16, 3), BLUE), *weights))
    assert_tags_close(dict(small), want)
    assert_tags_close(dict(large), want)


def test_alpha_and_palette_on_white(tagger: WD14Tagger) -> None:
    (white,) = tagger.tag([solid(WHITE)])
    (red,) = tagger.tag([solid(RED)])
    clear = Image.new("RGBA", (8, 8), (*RED, 0))
    opaque = Image.new("RGBA", (8, 8), (*RED, 255))
    gray_alpha = Image.new("LA", (8, 8), (0, 0))
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([*RED, *BLUE])
    palette.info["transparency"] = 1  # index 1 (blue) is see-through: white
    red_palette = Image.new("P", (8, 8), 0)
    red_palette.putpalette([*RED, *BLUE])
    got = tagger.tag([clear, opaque, gray_alpha, palette, red_palette, solid(RED).convert("L")])
    assert_tags_close(dict(got[0]), dict(white))
    assert_tags_close(dict(got[1]), dict(red))
    assert_tags_close(dict(got[2]), dict(white))
    assert_tags_close(dict(got[3]), dict(white))
    assert_tags_close(dict(got[4]), dict(red))
    assert set(got[5]) <= set(KEYS)


def test_loaded_from_the_cache_folder(
    tmp_path: Path, weights: tuple[np.ndarray, np.ndarray]
) -> None:
    build_model(cache_dir(tmp_path, NAME), *weights)
    tagger = WD14Tagger(WeightsSource(tmp_path), NAME)
    (tags,) = tagger.tag([solid(RED)])
    assert_tags_close(dict(tags), expected_tags(expected_scores(np.full((8, 8, 3), RED), *weights)))
    assert tagger.files["model.onnx"] == cache_dir(tmp_path, NAME) / "model.onnx"


def test_missing_files_say_what_to_do(tmp_path: Path) -> None:
    tagger = WD14Tagger(WeightsSource(tmp_path), NAME)
    with pytest.raises(WeightsUnavailable) as err:
        tagger.tag([solid(RED)])
    folder = tmp_path / "models" / NAME
    assert f"put model.onnx and selected_tags.csv in {folder}" in str(err.value)
    assert "or set models.allow_download = true" in str(err.value)
    with pytest.raises(WeightsUnavailable):
        _ = tagger.model_id


def test_model_id_follows_the_weights(
    tmp_path: Path, tagger: WD14Tagger, weights: tuple[np.ndarray, np.ndarray]
) -> None:
    name, digest = tagger.model_id.split(":")
    assert name == NAME and len(digest) == 12
    assert not tagger.loaded  # the id needs the files, not the runtime
    same = build_model(tmp_path / "same", *weights)
    other = build_model(tmp_path / "other", *make_weights(seed=7))
    assert WD14Tagger(WeightsSource(tmp_path, local_path=same), NAME).model_id == tagger.model_id
    assert WD14Tagger(WeightsSource(tmp_path, local_path=other), NAME).model_id != tagger.model_id


def test_lazy_load_unload_and_device(tagger: WD14Tagger) -> None:
    assert not tagger.loaded
    assert tagger.device in ("cpu", "cuda:0")
    assert tagger.tag([]) == []
    assert not tagger.loaded
    tagger.tag([solid(RED)])
    assert tagger.loaded
    tagger.unload()
    assert not tagger.loaded
    assert len(tagger.tag([solid(BLUE)])[0]) > 0


def test_idle_unload(tmp_path: Path, local_model: Path) -> None:
    tagger = WD14Tagger(WeightsSource(tmp_path, local_path=local_model), NAME, idle_unload_s=0.05)
    tagger.tag([solid(RED)])
    deadline = time.monotonic() + 5
    while tagger.loaded and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not tagger.loaded
    assert tagger.tag([solid(RED)])  # loads again


def test_fixed_batch_of_one_graph(tmp_path: Path, weights: tuple[np.ndarray, np.ndarray]) -> None:
    folder = build_model(tmp_path / "one", *weights, batch=1)
    tagger = WD14Tagger(WeightsSource(tmp_path, local_path=folder), NAME)
    got = tagger.tag([solid(RED), solid(BLUE), solid(RED)])
    assert_tags_close(dict(got[0]), dict(got[2]))
    assert got[0] != got[1]


def test_tag_list_from_another_model_is_refused(
    tmp_path: Path, weights: tuple[np.ndarray, np.ndarray]
) -> None:
    folder = build_model(tmp_path / "bad", *weights, rows=ROWS[:-1])
    tagger = WD14Tagger(WeightsSource(tmp_path, local_path=folder), NAME)
    with pytest.raises(ValueError, match="different models"):
        tagger.tag([solid(RED)])


def test_make_tagger_picks_the_adapter(tmp_path: Path, local_model: Path) -> None:
    from pximse.models import make_tagger

    tagger = make_tagger("wd-vit-tagger-v3", WeightsSource(tmp_path, local_path=local_model))
    assert isinstance(tagger, WD14Tagger)
    assert tagger.model_id.startswith("wd-vit-tagger-v3:")
    with pytest.raises(ValueError, match="unknown tagger"):
        make_tagger("nope", WeightsSource(tmp_path))
