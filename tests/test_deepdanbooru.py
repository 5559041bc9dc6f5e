"""DeepDanbooru v3 through its worker process, with a tiny resnet_custom_v3 built here.

The release weights cannot be downloaded in tests, so a subprocess builds the
real graph (same layers, same order) at 64x64 with 1/64 of the channels, gives
it random weights, saves it as ``.h5`` (Keras 3's legacy HDF5 writer: the
layout Keras 2 wrote, ``model_weights`` with ``layer_names``), writes
``tags.txt`` and ``project.json``, and records its own predictions. The tagger
then loads those files in its worker (a new graph, differently named layers:
the weights are matched by order, as for the Keras 2 release file) and must
give the same numbers.

TensorFlow is never imported in this process: other tests import torch here,
and the two crash together (see ``pximse.models.worker``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pximse.models.base import WeightsSource
from pximse.models.weights import WeightsUnavailable
from pximse.models.worker import ModelWorker, WorkerDied, WorkerError, WorkerSpec

if importlib.util.find_spec("tensorflow") is None:  # find_spec: never import it here
    pytest.skip("needs the deepdanbooru extra (TensorFlow)", allow_module_level=True)

from pximse.models.deepdanbooru import (  # noqa: E402
    DEFAULT_MIN_SCORE,
    DeepDanbooruTagger,
    fit_image,
    pad_and_scale,
    prepare_image,
)

pytestmark = pytest.mark.slow  # every test here takes seconds

SIZE = 64
WIDTH = 1 / 64
TAGS = [
    "1girl", "solo", "long_hair", "red_theme", "blue_theme", "smile", "never_sure",
    "hatsune_miku", "rating:safe", "rating:questionable", "rating:explicit",
]

BUILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from pximse.models.deepdanbooru import build_resnet_custom_v3, prepare_image

    folder, size, width = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    n_tags = int(sys.argv[4])
    model = build_resnet_custom_v3(size, n_tags, width=width)
    rng = np.random.default_rng(1)
    weights = []
    for w in model.weights:
        shape, name = tuple(w.shape), w.path
        if name.endswith("gamma"):
            weights.append(rng.uniform(0.3, 0.6, shape))
        elif name.endswith("beta") or name.endswith("moving_mean"):
            weights.append(rng.normal(0.0, 0.1, shape))
        elif name.endswith("moving_variance"):
            weights.append(rng.uniform(0.5, 1.5, shape))
        else:
            fan_in = int(np.prod(shape[:-1]))
            weights.append(rng.normal(0.0, (2.0 / fan_in) ** 0.5, shape))
    model.set_weights([w.astype(np.float32) for w in weights])
    model.save(f"{folder}/model-resnet_custom_v3.h5")
    images = np.load(f"{folder}/images.npz")
    batch = np.stack([prepare_image(images[k], size, size) for k in sorted(images.files)])
    np.save(f"{folder}/expected.npy", np.asarray(model(batch, training=False)))
    """
)


def _images() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    red = np.zeros((80, 80, 3), np.uint8)
    red[..., 0] = 230
    return {
        "a_square": rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8),
        "b_wide": rng.integers(0, 256, (40, 101, 3), dtype=np.uint8),  # odd margins
        "c_tall_small": rng.integers(0, 256, (50, 30, 3), dtype=np.uint8),  # upscaled
        "d_red": red,
    }


@pytest.fixture(autouse=True)
def _no_tensorflow_here():
    yield
    assert "tensorflow" not in sys.modules, "TensorFlow was imported in the test process"
    assert "keras" not in sys.modules


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("deepdanbooru")
    np.savez(folder / "images.npz", **_images())
    (folder / "tags.txt").write_text("\n".join(TAGS) + "\n", encoding="utf-8")
    (folder / "project.json").write_text(
        json.dumps({"image_width": SIZE, "image_height": SIZE, "model": "resnet_custom_v3"}),
        encoding="utf-8",
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run(
        [sys.executable, "-c", BUILD, str(folder), str(SIZE), str(WIDTH), str(len(TAGS))],
        check=True, env=env, timeout=300,
    )
    return folder


@pytest.fixture(scope="module")
def tagger(model_dir):
    tagger = DeepDanbooruTagger(WeightsSource(data_dir=model_dir, local_path=model_dir),
                                width=WIDTH)
    yield tagger
    tagger.close()


def _pil_images() -> list[Image.Image]:
    return [Image.fromarray(a) for _, a in sorted(_images().items())]


def test_model_id_without_starting_the_model(model_dir):
    tagger = DeepDanbooruTagger(WeightsSource(data_dir=model_dir, local_path=model_dir))
    model_id = tagger.model_id
    assert model_id.startswith("deepdanbooru-v3:") and len(model_id) > len("deepdanbooru-v3:")
    assert not tagger.loaded and tagger.worker is None
    assert DeepDanbooruTagger(WeightsSource(model_dir, model_dir)).model_id == model_id


def test_scores_equal_keras_in_the_child(tagger, model_dir):
    expected = np.load(model_dir / "expected.npy")
    scores = tagger.scores(_pil_images())
    assert scores.shape == (4, len(TAGS))
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    # Random weights that still say something: not all the same, not all saturated.
    assert scores.std() > 0.01 and ((scores > 0.02) & (scores < 0.98)).any()


def test_tags_every_score_above_the_floor(tagger, model_dir):
    expected = np.load(model_dir / "expected.npy")
    results = tagger.tag(_pil_images())
    ratings = [i for i, t in enumerate(TAGS) if t.startswith("rating:")]
    for row, tags in zip(expected, results, strict=True):
        wanted = {TAGS[i]: float(row[i]) for i in np.flatnonzero(row >= DEFAULT_MIN_SCORE)}
        top = max(ratings, key=lambda i: row[i])
        wanted[TAGS[top]] = float(row[top])
        assert tags.keys() == wanted.keys()
        for name, score in tags.items():
            assert score == pytest.approx(wanted[name], rel=1e-5, abs=1e-6)
    everything = tagger.tag(_pil_images()[:1], min_score=0.0)[0]
    assert list(everything) == TAGS  # tags.txt names and order, rating:safe included


def test_batch_equals_one_by_one(tagger):
    images = _pil_images()
    batch = tagger.scores(images)
    single = np.concatenate([tagger.scores([image]) for image in images])
    np.testing.assert_allclose(batch, single, rtol=1e-5, atol=1e-6)
    assert tagger.tag([]) == []


def _reference_pad(fitted: np.ndarray, size: int) -> np.ndarray:
    """transform_and_pad_image by hand: centre by (size - side) / 2, edge mode, bilinear."""
    h, w, _ = fitted.shape
    out = np.empty((size, size, 3))
    for y in range(size):
        for x in range(size):
            sy, sx = y - (size - h) / 2, x - (size - w) / 2
            acc = np.zeros(3)
            for yy, wy in ((np.floor(sy), 1 - (sy - np.floor(sy))), (np.floor(sy) + 1,
                                                                      sy - np.floor(sy))):
                for xx, wx in ((np.floor(sx), 1 - (sx - np.floor(sx))),
                               (np.floor(sx) + 1, sx - np.floor(sx))):
                    iy, ix = int(min(max(yy, 0), h - 1)), int(min(max(xx, 0), w - 1))
                    acc += wy * wx * fitted[iy, ix]
            out[y, x] = acc
    return out / 255.0


@pytest.mark.parametrize(("height", "width"), [(32, 32), (40, 101), (50, 30), (7, 64), (33, 4)])
def test_preprocessing_matches_numpy_reference(height, width):
    rng = np.random.default_rng(height * 1000 + width)
    array = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    fitted = fit_image(array, 32, 32)
    scale = min(32 / width, 32 / height)
    assert fitted.shape == (max(1, round(height * scale)), max(1, round(width * scale)), 3)
    assert max(fitted.shape[:2]) == 32
    prepared = prepare_image(array, 32, 32)
    assert prepared.dtype == np.float32 and prepared.shape == (32, 32, 3)
    np.testing.assert_allclose(prepared, _reference_pad(fitted, 32), atol=1e-6)
    np.testing.assert_allclose(pad_and_scale(fitted, 32, 32), prepared)


def test_preprocessing_keeps_aspect_and_pads_with_edges():
    array = np.zeros((10, 40, 3), np.uint8)
    array[:2], array[-2:] = 200, 100  # top rows, bottom rows (BOX averages pairs)
    prepared = prepare_image(Image.fromarray(array).convert("RGBA"), 20, 20)
    # 40x10 -> 20x5, centred from row 7.5: rows above repeat the top, below the bottom.
    np.testing.assert_allclose(prepared[:7], 200 / 255, atol=1e-6)
    np.testing.assert_allclose(prepared[13:], 100 / 255, atol=1e-6)
    assert prepared.min() >= 0.0 and prepared.max() <= 1.0


def test_missing_file_is_actionable(model_dir, tmp_path):
    for name in ("tags.txt", "project.json"):
        (tmp_path / name).write_bytes((model_dir / name).read_bytes())
    tagger = DeepDanbooruTagger(WeightsSource(data_dir=tmp_path, local_path=tmp_path))
    with pytest.raises(WeightsUnavailable) as info:
        _ = tagger.model_id
    message = str(info.value)
    assert "model-resnet_custom_v3.h5" in message and str(tmp_path) in message
    assert "release" in message and "deepdanbooru-v3" in message
    cached = DeepDanbooruTagger(WeightsSource(data_dir=tmp_path))
    with pytest.raises(WeightsUnavailable, match=r"models/deepdanbooru-v3"):
        _ = cached.model_id


def test_worker_restarts_after_being_killed(tagger):
    images = _pil_images()[:2]
    before = tagger.scores(images)
    worker = tagger.worker
    assert worker is not None and worker.pid is not None
    pid = worker.pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while worker.alive and time.monotonic() < deadline:
        time.sleep(0.05)
    after = tagger.scores(images)
    assert worker.pid != pid and worker.restarts >= 1
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-6)


# -- the generic worker, with a child that imports nothing heavy --


def _plain_worker() -> ModelWorker:
    return ModelWorker(
        WorkerSpec(
            factory="types:SimpleNamespace",
            kwargs={"echo": np.asarray, "die": os._exit, "fail": int},
            name="plain",
        )
    )


def test_worker_round_trip_errors_and_double_death():
    with _plain_worker() as worker:
        assert worker.pid is None  # lazy
        array = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
        np.testing.assert_array_equal(worker.call("echo", array), array)
        with pytest.raises(WorkerError, match="invalid literal"):
            worker.call("fail", "not a number")
        assert worker.call("echo", 5) == 5  # an error does not kill it
        with pytest.raises(WorkerDied, match="died twice.*exit code 3"):
            worker.call("die", 3)
        assert worker.call("echo", 7) == 7  # the next call starts it again
    assert not worker.alive


def test_worker_reports_a_factory_that_fails():
    worker = ModelWorker(WorkerSpec(factory="pximse.no_such_module:x", name="broken"))
    with pytest.raises(WorkerError, match=r"(?s)could not start.*no_such_module"):
        worker.start()
    assert not worker.alive


PARENT = textwrap.dedent(
    """
    import sys, time
    from pximse.models.worker import ModelWorker, WorkerSpec
    worker = ModelWorker(WorkerSpec(factory="types:SimpleNamespace"))
    worker.start()
    print(worker.pid, flush=True)
    time.sleep(60)
    """
)


def _running(pid: int) -> bool:
    """Alive and not a zombie (a container's init may be slow to reap orphans)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "\nState:\tZ" not in status


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_worker_dies_with_its_parent():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        os.kill(child, 0)  # alive
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not _running(child):
                break
            time.sleep(0.05)
        else:
            os.kill(child, signal.SIGKILL)
            pytest.fail("the worker outlived its parent")
    finally:
        parent.kill()


def test_make_tagger_picks_deepdanbooru(model_dir):
    from pximse.models import make_tagger

    tagger = make_tagger("deepdanbooru", WeightsSource(data_dir=model_dir, local_path=model_dir))
    assert isinstance(tagger, DeepDanbooruTagger) and tagger.device == "cpu"
    assert tagger.model_id.startswith("deepdanbooru-v3:") and not tagger.loaded
