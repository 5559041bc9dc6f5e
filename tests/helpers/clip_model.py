"""Tiny open_clip models: the real ViT CLIP architecture with small dimensions.

Registered under test names with ``open_clip.add_model_config`` (the
``tiny_archs`` fixture, which a module that builds them imports), given
random weights and saved in the real file formats.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

open_clip = pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")

from pximse.models.base import WeightsSource  # noqa: E402
from pximse.models.clip import ClipModel  # noqa: E402

ARCH = "PxTiny-ViT"
ARCH_QG = "PxTiny-ViT-quickgelu"
EMBED_DIM = 32
TINY_CFG: dict[str, Any] = {
    "embed_dim": EMBED_DIM,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 4, "layers": 2},
}


@pytest.fixture(scope="module", autouse=True)
def tiny_archs(tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("open_clip_configs")
    (folder / f"{ARCH}.json").write_text(json.dumps(TINY_CFG))
    (folder / f"{ARCH_QG}.json").write_text(json.dumps({**TINY_CFG, "quick_gelu": True}))
    open_clip.add_model_config(folder)


def tiny_model(seed: int, arch: str = ARCH) -> Any:
    torch.manual_seed(seed)
    model = open_clip.create_model(arch, pretrained=None)
    # Random init leaves some parameters at constants; perturb all so every byte counts.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return model.eval()


def save_bin(model: Any, path: Path) -> Path:
    torch.save(model.state_dict(), path)
    return path


def save_safetensors(model: Any, path: Path) -> Path:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def pictures(n: int, size: tuple[int, int] = (80, 60)) -> list[Image.Image]:
    rng = np.random.default_rng(7)
    out = []
    for _ in range(n):
        image = Image.new("RGB", size, tuple(int(c) for c in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(image)
        for _ in range(5):
            x0, y0 = (int(v) for v in rng.integers(0, 50, 2))
            fill = tuple(int(c) for c in rng.integers(0, 256, 3))
            draw.rectangle((x0, y0, x0 + 25, y0 + 20), fill=fill)
        out.append(image)
    return out


def clip_from(path: Path, data_dir: Path, arch: str = ARCH, **kwargs: Any) -> ClipModel:
    source = WeightsSource(data_dir=data_dir, local_path=path)
    return ClipModel(source, arch, kwargs.pop("pretrained", None), device="cpu", **kwargs)
