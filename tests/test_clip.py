"""The CLIP adapter, run for real with tiny open_clip models built here.

No weights can be downloaded, so each test model is a real open_clip ViT CLIP
(the architecture code of ViT-B-32, with small dimensions), registered under a
test name with ``open_clip.add_model_config``, given random weights, saved in the
real file formats (``.bin``, ``.safetensors``, an open_clip folder) and loaded
back through :class:`ClipModel`. The only thing faked is the hub: a pretrained
tag's entry points at a Hugging Face cache folder the test lays out itself.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.clip_model import (
    ARCH,
    ARCH_QG,
    EMBED_DIM,
    TINY_CFG,
    clip_from,
    pictures,
    save_bin,
    save_safetensors,
    tiny_archs,  # noqa: F401 (a fixture: registers the tiny architectures)
    tiny_model,
)
from PIL import Image

open_clip = pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")

from pximse.models import ImageEmbedder, TextEmbedder  # noqa: E402
from pximse.models.base import WeightsSource  # noqa: E402
from pximse.models.clip import ClipModel, decide_quick_gelu  # noqa: E402
from pximse.models.weights import WeightsUnavailable, cache_dir  # noqa: E402


def reference_image_embeddings(model: Any, images: list[Image.Image]) -> np.ndarray:
    preprocess = open_clip.image_transform(model.visual.image_size, is_train=False)
    with torch.inference_mode():
        features = model.encode_image(torch.stack([preprocess(im) for im in images]))
    array = features.float().numpy()
    return array / np.linalg.norm(array, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("clip_weights")
    model = tiny_model(1)
    return {
        "model": model,
        "bin": save_bin(model, folder / "tiny.bin"),
        "safetensors": save_safetensors(model, folder / "tiny.safetensors"),
        "folder": folder,
    }


@pytest.mark.parametrize("kind", ["bin", "safetensors"])
def test_file_loads_the_same_weights(saved: dict[str, Any], tmp_path: Path, kind: str) -> None:
    clip = clip_from(saved[kind], tmp_path)
    images = pictures(3)
    got = clip.embed_images(images)
    assert isinstance(clip, ImageEmbedder) and isinstance(clip, TextEmbedder)
    assert got.shape == (3, EMBED_DIM) and got.dtype == np.float32
    assert clip.dimensions == EMBED_DIM
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got, reference_image_embeddings(saved["model"], images), atol=1e-5)
    texts = clip.embed_texts(["a girl under an umbrella", "雨の日"])
    assert texts.shape == (2, EMBED_DIM) and texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    assert clip.device == "cpu"
    assert clip.model_id.startswith(f"clip:{ARCH}:tiny.{kind}:")


def test_local_dir_folder(saved: dict[str, Any], tmp_path: Path) -> None:
    folder = tmp_path / "my-clip"
    folder.mkdir()
    config = {"model_cfg": TINY_CFG, "preprocess_cfg": {}}
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    save_safetensors(saved["model"], folder / "open_clip_model.safetensors")
    images = pictures(2)
    expected = reference_image_embeddings(saved["model"], images)
    for path in (folder, Path(f"local-dir:{folder}")):
        clip = clip_from(path, tmp_path, arch="ignored")
        np.testing.assert_allclose(clip.embed_images(images), expected, atol=1e-5)
        assert clip.dimensions == EMBED_DIM
        assert clip.model_id.startswith("clip:local-dir-my-clip:my-clip:")


def test_long_text_is_truncated_not_an_error(saved: dict[str, Any], tmp_path: Path) -> None:
    clip = clip_from(saved["bin"], tmp_path)
    words = " ".join(f"word{i % 37}" for i in range(500))
    long_text, prefix = clip.embed_texts([words, " ".join(words.split()[:200])])
    np.testing.assert_allclose(np.linalg.norm(long_text), 1.0, atol=1e-5)
    # Both overflow the 77-token context the same way: truncated to the same tokens.
    np.testing.assert_allclose(long_text, prefix, atol=1e-5)
    assert clip.context_length == 77


@pytest.mark.slow
def test_batch_equals_one_by_one(saved: dict[str, Any], tmp_path: Path) -> None:
    clip = clip_from(saved["bin"], tmp_path, batch_size=4)
    images = pictures(6)
    together = clip.embed_images(images)
    alone = np.concatenate([clip.embed_images([im]) for im in images])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    texts = ["one", "two girls", "a cat on a roof", "", "blue sky", "夕焼け"]
    np.testing.assert_allclose(
        clip.embed_texts(texts), np.concatenate([clip.embed_texts([t]) for t in texts]), atol=1e-5
    )
    assert clip.embed_images([]).shape == (0, EMBED_DIM)
    assert clip.embed_texts([]).shape == (0, EMBED_DIM)


def test_any_image_mode(saved: dict[str, Any], tmp_path: Path) -> None:
    clip = clip_from(saved["bin"], tmp_path)
    base = pictures(1)[0]
    transparent = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    modes = [base.convert(m) for m in ("L", "LA", "RGBA", "P", "CMYK", "1", "I;16")]
    got = clip.embed_images([*modes, transparent])
    assert got.shape == (len(modes) + 1, EMBED_DIM) and np.isfinite(got).all()
    # Transparency goes onto white: a fully transparent image embeds like a white one.
    white = clip.embed_images([Image.new("RGB", (40, 40), "white")])
    np.testing.assert_allclose(got[-1], white[0], atol=1e-5)


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    clip = clip_from(tmp_path / "nowhere" / "clip.safetensors", tmp_path)
    with pytest.raises(WeightsUnavailable, match=r"nowhere.*not found.*models\.clip_path"):
        _ = clip.model_id
    with pytest.raises(WeightsUnavailable):
        clip.embed_texts(["x"])


def test_model_id_follows_the_weights(saved: dict[str, Any], tmp_path: Path) -> None:
    other = save_bin(tiny_model(2), tmp_path / "tiny.bin")
    same = clip_from(saved["bin"], tmp_path).model_id
    assert clip_from(saved["bin"], tmp_path).model_id == same
    assert clip_from(other, tmp_path).model_id != same
    assert same.split(":")[:3] == ["clip", ARCH, "tiny.bin"]
    quick = clip_from(saved["bin"], tmp_path, quick_gelu=True).model_id
    assert quick.split(":")[1] == f"{ARCH}-quickgelu" and quick.split(":")[3] == same.split(":")[3]


def activation_classes(model: Any) -> set[str]:
    return {type(m).__name__ for m in model.modules() if "GELU" in type(m).__name__}


@pytest.mark.slow
def test_quick_gelu_when_configured(saved: dict[str, Any], tmp_path: Path) -> None:
    plain = clip_from(saved["bin"], tmp_path)
    assert activation_classes(plain.torch_model) == {"GELU"} and not plain.quick_gelu
    forced = clip_from(saved["bin"], tmp_path, quick_gelu=True)
    assert activation_classes(forced.torch_model) == {"QuickGELU"} and forced.quick_gelu
    by_name = clip_from(saved["bin"], tmp_path, arch=ARCH_QG)
    assert activation_classes(by_name.torch_model) == {"QuickGELU"} and by_name.quick_gelu
    # Same weights, other activation: other embeddings (why the trap matters).
    images = pictures(2)
    assert not np.allclose(plain.embed_images(images), forced.embed_images(images), atol=1e-4)
    with pytest.raises(ValueError, match="always uses QuickGELU"):
        clip_from(saved["bin"], tmp_path, arch=ARCH_QG, quick_gelu=False)


def test_quick_gelu_decision_follows_open_clip_tags() -> None:
    assert decide_quick_gelu("ViT-B-32", "openai", None) is True
    assert decide_quick_gelu("ViT-B-32", "laion2b_s34b_b79k", None) is False
    assert decide_quick_gelu("ViT-B-32", None, None) is False
    assert decide_quick_gelu("ViT-B-32-quickgelu", None, None) is True
    assert decide_quick_gelu("ViT-B-32", "laion2b_s34b_b79k", True) is True
    with pytest.raises(ValueError, match="known tags are"):
        decide_quick_gelu("ViT-B-32", "no-such-tag", None)


@pytest.fixture
def offline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the adapter switch the hub offline, and undo it after the test."""
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


def test_uncached_tag_offline_fails_fast(tmp_path: Path, offline_env: None) -> None:
    import huggingface_hub.constants

    clip = ClipModel(WeightsSource(data_dir=tmp_path), "ViT-B-32", "openai", device="cpu")
    assert clip.quick_gelu and clip.dimensions == 512
    started = time.perf_counter()
    with pytest.raises(WeightsUnavailable, match=r"allow_download = true.*huggingface\.co/timm"):
        _ = clip.model_id
    assert time.perf_counter() - started < 5
    assert huggingface_hub.constants.HF_HUB_OFFLINE is True


def test_tag_from_the_hub_cache(
    saved: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_env: None
) -> None:
    """A tag's file in open_clip's Hugging Face cache: the tag's QuickGELU, the file's bytes."""
    tag_cfg = {"hf_hub": "pximse-test/tiny-clip/", "quick_gelu": True, "interpolation": "bicubic"}
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, ARCH, {"openai": tag_cfg})
    repo = cache_dir(tmp_path, "open_clip") / "models--pximse-test--tiny-clip"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    model = tiny_model(1, ARCH_QG)
    save_bin(model, snapshot / "open_clip_pytorch_model.bin")

    clip = ClipModel(WeightsSource(data_dir=tmp_path), ARCH, "openai", device="cpu")
    assert clip.files["weights"] == snapshot / "open_clip_pytorch_model.bin"
    # A tag names its weights: the id is the same whichever file or runtime holds them.
    assert clip.model_id == f"clip:{ARCH}-quickgelu:openai"
    assert activation_classes(clip.torch_model) == {"QuickGELU"}
    images = pictures(2)
    np.testing.assert_allclose(
        clip.embed_images(images), reference_image_embeddings(model, images), atol=1e-5
    )


def test_idle_unload_and_reload(saved: dict[str, Any], tmp_path: Path) -> None:
    clip = clip_from(saved["bin"], tmp_path)
    first = clip.embed_texts(["umbrella"])
    clip.unload()
    assert not clip.loaded
    np.testing.assert_allclose(clip.embed_texts(["umbrella"]), first, atol=1e-6)
