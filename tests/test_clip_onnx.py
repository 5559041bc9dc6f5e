"""CLIP on onnxruntime against open_clip on PyTorch, for the same weights.

A tiny open_clip ViT (the ViT-B-32 code with small dimensions, random weights,
from ``test_clip``) is exported through PxIMSE's real export code, loaded by the
ONNX adapter, and compared with open_clip running the same weights: image and
text embeddings agree (cosine >= 0.999) and so do the model ids; int8 changes
the id, as its vectors differ. The Immich layout (batch fixed at one, int32
token ids) is exported here the way Immich's exporter does it and loads too.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")
pytest.importorskip("tokenizers")

from helpers.clip_model import ARCH, ARCH_QG, pictures, save_bin, tiny_archs, tiny_model  # noqa: E402,F401

from pximse.models.base import WeightsSource  # noqa: E402
from pximse.models.clip import ClipModel  # noqa: E402
from pximse.models.clip_choice import ClipSettings, find_export, make_clip  # noqa: E402
from pximse.models.clip_export import export_clip, openai_bpe_tokenizer  # noqa: E402
from pximse.models.clip_onnx import OnnxClipModel, clean_text  # noqa: E402

pytestmark = pytest.mark.slow  # every test here takes seconds

TEXTS = [
    "a girl under a red umbrella at night",
    "Hello,   WORLD &amp; friends!",
    "long_hair, 1girl, blue eyes (artist) 2024",
    "ありがとう 初音ミク",
    "don't stop: it's 12,345 café naïve",
    "emoji 😀 and symbols §±",
    "word " * 120,  # past the context: truncated as open_clip truncates
    "",
]


def mixed_images() -> list[Image.Image]:
    """Odd sizes both ways (the resize and crop paths) and a transparent image."""
    images = pictures(3, (80, 60)) + pictures(2, (50, 97))
    rgba = pictures(1, (70, 70))[0].convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((70, 70)))
    return [*images, rgba, pictures(1, (64, 64))[0].convert("L")]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("clip_onnx")
    weights = save_bin(tiny_model(5, ARCH_QG), folder / "tiny.bin")
    torch_model = ClipModel(WeightsSource(folder, local_path=weights), ARCH_QG, None,
                            device="cpu")
    target = export_clip(torch_model, folder / "export", {"arch": ARCH_QG})
    return {"folder": folder, "weights": weights, "torch": torch_model, "export": target}


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


def test_the_export_gives_open_clips_vectors_under_the_same_id(exported: dict[str, Any]
                                                               ) -> None:
    reference: ClipModel = exported["torch"]
    onnx = OnnxClipModel(WeightsSource(exported["folder"], local_path=exported["export"]),
                         device="cpu")
    assert onnx.model_id == reference.model_id  # same weights, same vectors: same id
    assert onnx.dimensions == reference.dimensions == 32
    images = mixed_images()
    image_cos = cosines(onnx.embed_images(images), reference.embed_images(images))
    text_cos = cosines(onnx.embed_texts(TEXTS), reference.embed_texts(TEXTS))
    assert image_cos.min() >= 0.999, image_cos
    assert text_cos.min() >= 0.999, text_cos
    # Batches and one at a time agree.
    np.testing.assert_allclose(onnx.embed_images(images[:1]), onnx.embed_images(images)[:1],
                               atol=1e-5)
    layout = sorted(str(p.relative_to(exported["export"])) for p in
                    exported["export"].rglob("*") if p.is_file())
    assert layout == ["config.json", "pximse_export.json", "textual/model.onnx",
                      "textual/tokenizer.json", "textual/tokenizer_config.json",
                      "visual/model.onnx", "visual/preprocess_cfg.json"]


def test_the_tokenizer_file_gives_open_clips_token_ids(exported: dict[str, Any]) -> None:
    simple = open_clip.tokenizer.SimpleTokenizer()
    fast = openai_bpe_tokenizer(simple)
    fast.enable_truncation(max_length=77)
    fast.enable_padding(length=77, pad_id=0, pad_token=simple.decoder[0])
    for text in TEXTS:
        expected = simple([text])[0].tolist()
        assert fast.encode(clean_text(text)).ids == expected, text


def test_int8_is_close_and_has_its_own_id(exported: dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    source = WeightsSource(tmp_path, local_path=exported["export"])
    fp32 = OnnxClipModel(source, device="cpu")
    int8 = OnnxClipModel(source, precision="int8", device="cpu")
    assert int8.model_id == fp32.model_id + ":int8"
    images = mixed_images()
    agreement = cosines(int8.embed_images(images), fp32.embed_images(images))
    assert agreement.min() > 0.99, agreement  # random tiny weights; ViT-B-32: see the bench
    copies = list((tmp_path / "models" / "int8").glob("*.onnx"))
    assert len(copies) == 1  # made once, in the data folder, never in the model's folder
    np.testing.assert_allclose(int8.embed_texts(["x"]), fp32.embed_texts(["x"]), atol=1e-6)


def test_make_clip_exports_once_and_then_runs_onnx(exported: dict[str, Any],
                                                   tmp_path: Path) -> None:
    weights = shutil.copy(exported["weights"], tmp_path / "tiny.bin")
    source = WeightsSource(tmp_path)
    settings = ClipSettings(ARCH_QG, None, path=Path(weights))
    auto = make_clip(source, settings, device="cpu", for_running=True)
    assert isinstance(auto, ClipModel)  # no ONNX form yet: PyTorch, never a silent export
    wanted = ClipSettings(ARCH_QG, None, path=Path(weights), runtime="onnxruntime")
    with pytest.raises(Exception, match="pximse models export"):
        make_clip(source, wanted, device="cpu", for_running=False)
    onnx = make_clip(source, wanted, device="cpu", for_running=True)  # exports now
    assert isinstance(onnx, OnnxClipModel) and onnx.model_id == auto.model_id
    assert find_export(tmp_path, settings) is not None
    again = make_clip(source, settings, device="cpu", for_running=True)
    assert isinstance(again, OnnxClipModel)  # auto now finds the export
    images = pictures(2)
    assert cosines(again.embed_images(images), auto.embed_images(images)).min() >= 0.999
    forced = make_clip(source, ClipSettings(ARCH_QG, None, path=Path(weights), runtime="torch"),
                       device="cpu")
    assert isinstance(forced, ClipModel) and forced.model_id == auto.model_id


def _immich_style_export(model: Any, folder: Path, simple: Any) -> None:
    """What Immich's exporter writes: a batch of one, int32 token ids, the
    tokenizer padded with <|endoftext|>."""

    class Visual(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.clip = model

        def forward(self, image: Any) -> Any:
            return self.clip.encode_image(image, normalize=True)

    class Textual(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.clip = model

        def forward(self, text: Any) -> Any:
            return self.clip.encode_text(text, normalize=True)

    (folder / "visual").mkdir(parents=True)
    (folder / "textual").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Visual(), (torch.randn(1, 3, 64, 64),),
                          str(folder / "visual" / "model.onnx"), input_names=["image"],
                          output_names=["embedding"], opset_version=17, dynamo=False)
        torch.onnx.export(Textual(), (torch.ones(1, 77, dtype=torch.int32),),
                          str(folder / "textual" / "model.onnx"), input_names=["text"],
                          output_names=["embedding"], opset_version=17, dynamo=False)
    (folder / "config.json").write_text(json.dumps(
        {"embed_dim": 32, "vision_cfg": {"image_size": 64},
         "text_cfg": {"context_length": 77}}))
    (folder / "visual" / "preprocess_cfg.json").write_text(json.dumps(
        {"size": [64, 64], "mode": "RGB", "mean": list(open_clip.OPENAI_DATASET_MEAN),
         "std": list(open_clip.OPENAI_DATASET_STD), "interpolation": "bicubic",
         "resize_mode": "shortest", "fill_color": 0}))
    openai_bpe_tokenizer(simple).save(str(folder / "textual" / "tokenizer.json"))
    (folder / "textual" / "tokenizer_config.json").write_text(
        json.dumps({"pad_token": {"content": simple.decoder[simple.eot_token_id]}}))


def test_immichs_layout_loads_with_its_batch_of_one_and_int32_ids(tmp_path: Path) -> None:
    model = tiny_model(6, ARCH).requires_grad_(False)
    folder = tmp_path / "ViT-Tiny__test"
    _immich_style_export(model, folder, open_clip.tokenizer.SimpleTokenizer())
    onnx = OnnxClipModel(WeightsSource(tmp_path, local_path=folder), device="cpu")
    assert onnx.model_id.startswith("clip:onnx-ViT-Tiny__test:")  # no manifest: a digest
    reference = ClipModel(WeightsSource(tmp_path, local_path=save_bin(model, tmp_path / "m.bin")),
                          ARCH, None, device="cpu")
    images = mixed_images()
    assert cosines(onnx.embed_images(images), reference.embed_images(images)).min() >= 0.999
    # Padding with <|endoftext|> instead of 0 changes nothing (the pooled token is the first end).
    assert cosines(onnx.embed_texts(TEXTS), reference.embed_texts(TEXTS)).min() >= 0.999


def test_the_models_commands_export_list_and_verify_int8(exported: dict[str, Any],
                                                         tmp_path: Path) -> None:
    """`pximse models export`, then `list` says where it runs, and `verify` with int8
    prints the measured agreement with float32."""
    pytest.importorskip("onnx")
    from click.testing import CliRunner

    from pximse.cli import main

    weights = shutil.copy(exported["weights"], tmp_path / "tiny.bin")
    config = tmp_path / "config.toml"
    config.write_text(f'[models]\ntagger = ""\nocr = ""\nclip = "{ARCH_QG}"\n'
                      f'clip_pretrained = ""\nclip_path = "{weights}"\n')
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    runner = CliRunner()
    listed = runner.invoke(main, ["models", "list", *common], catch_exceptions=False)
    assert listed.exit_code == 0 and "clip: ready:" in listed.output
    assert "(torch on cpu" in listed.output  # no ONNX form yet: open_clip on PyTorch
    before = json.loads(runner.invoke(main, ["models", "list", *common, "--json"]).output)
    # Asked for onnxruntime, `list` says what is missing; it never exports (minutes).
    onnx_config = tmp_path / "onnx.toml"
    onnx_config.write_text(config.read_text() + 'clip_runtime = "onnxruntime"\n')
    listed = runner.invoke(main, ["models", "list", "--config", str(onnx_config),
                                  "--data-dir", str(tmp_path / "data")], catch_exceptions=False)
    assert "clip: waiting for weights: " in listed.output
    assert "pximse models export" in listed.output
    assert not (tmp_path / "data" / "models" / "clip-onnx").exists()

    done = runner.invoke(main, ["models", "export", *common], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert "clip: exported to" in done.output
    listed = runner.invoke(main, ["models", "list", *common, "--json"], catch_exceptions=False)
    clip = json.loads(listed.output)["clip"]
    assert clip["runtime"]["runtime"] == "onnxruntime" and clip["runtime"]["device"] == "cpu"
    assert clip["model_id"] == before["clip"]["model_id"]  # nothing to embed again

    config.write_text(config.read_text() + 'clip_precision = "int8"\n')
    verified = runner.invoke(main, ["models", "verify", *common], catch_exceptions=False)
    assert verified.exit_code == 0, verified.output
    assert ":int8, a 32-d vector, onnxruntime on cpu" in verified.output
    line = next(ln for ln in verified.output.splitlines() if "int8 vs fp32" in ln)
    assert float(line.split("cosine mean ")[1].split(",")[0]) > 0.99
