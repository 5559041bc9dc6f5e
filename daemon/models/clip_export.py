"""Exporting an open_clip model to the ONNX folder :mod:`.clip_onnx` runs.

Needs PyTorch and open_clip (``pip install 'pximse[clip-torch]'``), once: the
model is loaded through :class:`~pximse.models.clip.ClipModel` (so its weights,
QuickGELU and preprocessing are decided exactly as when it runs on PyTorch),
and each tower is traced to ONNX with ``encode_image(normalize=True)`` /
``encode_text(normalize=True)`` as the graph, a free batch axis, opset 17.
The folder gets Immich's layout (``config.json``, ``visual/``, ``textual/``)
plus ``pximse_export.json`` naming the model id of the weights, so results
from the export and from PyTorch are recorded under the same id.

The tokenizer becomes a Hugging Face ``tokenizers`` file: open_clip's own BPE
tokenizer (OpenAI's vocabulary, which open_clip ships) is rebuilt with the
same vocabulary, merges, splitting pattern and special tokens, padded with
id 0 as open_clip pads; a Hugging Face tokenizer (the multilingual models')
is saved as it is. The folder is written beside its target and renamed into
place, so an interrupted export leaves nothing that looks finished.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pximse.models.clip_onnx import (
    CONFIG_FILE,
    EXPORT_MANIFEST,
    TEXTUAL_MODEL,
    TOKENIZER_CONFIG,
    TOKENIZER_FILE,
    VISUAL_MODEL,
    VISUAL_PREPROCESS,
)

__all__ = ["export_clip", "export_folder", "openai_bpe_tokenizer"]

log = logging.getLogger(__name__)

OPSET = 17
# open_clip's SimpleTokenizer splits text with this pattern (its special tokens first).
_SPLIT = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


def export_folder(data_dir: Path, model_id: str) -> Path:
    """Where the export of ``model_id`` lives: ``<data_dir>/models/clip-onnx/<id as a name>``."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("._")[:80] or "clip"
    return Path(data_dir) / "models" / "clip-onnx" / slug


def openai_bpe_tokenizer(simple: Any) -> Any:
    """open_clip's ``SimpleTokenizer`` as a ``tokenizers.Tokenizer`` that gives the same ids."""
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    merges = [pair for pair, _ in sorted(simple.bpe_ranks.items(), key=lambda item: item[1])]
    sot = simple.decoder[simple.sot_token_id]
    eot = simple.decoder[simple.eot_token_id]
    bpe = models.BPE(vocab=dict(simple.encoder), merges=merges, unk_token=eot,
                     end_of_word_suffix="</w>", continuing_subword_prefix="", fuse_unk=False)
    tokenizer = Tokenizer(bpe)
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
    special = "|".join(_escape(token) for token in (sot, eot))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(f"(?i){special}|{_SPLIT}"), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.post_processor = processors.RobertaProcessing(
        (eot, simple.eot_token_id), (sot, simple.sot_token_id),
        trim_offsets=False, add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([sot, eot])
    return tokenizer


def _escape(token: str) -> str:
    return "".join("\\" + ch if ch in r"\.^$|?*+()[]{}<>" else ch for ch in token)


def _tokenizer_files(tokenizer: Any, folder: Path) -> None:
    """``tokenizer.json`` and ``tokenizer_config.json`` for open_clip's tokenizer."""
    import open_clip

    if isinstance(tokenizer, open_clip.tokenizer.SimpleTokenizer):
        if tokenizer.reduction_fn is not None:
            raise ValueError("open_clip tokenizers with a reduction mask cannot be exported")
        fast = openai_bpe_tokenizer(tokenizer)
        pad = tokenizer.decoder[0]  # open_clip pads with id 0
    elif isinstance(tokenizer, open_clip.tokenizer.HFTokenizer):
        backend = getattr(tokenizer.tokenizer, "backend_tokenizer", None)
        if backend is None or tokenizer.tokenizer.pad_token is None:
            raise ValueError("this model's Hugging Face tokenizer has no fast (tokenizers) "
                             "form with a pad token, which the ONNX runtime needs")
        fast = backend
        pad = tokenizer.tokenizer.pad_token
    else:
        raise ValueError(f"open_clip's {type(tokenizer).__name__} cannot be exported: only "
                         "CLIP's BPE tokenizer and Hugging Face tokenizers can")
    fast.no_padding()
    fast.no_truncation()
    fast.save(str(folder / TOKENIZER_FILE))
    (folder / TOKENIZER_CONFIG).write_text(json.dumps({"pad_token": pad}), encoding="utf-8")


def _preprocess_cfg(transform: Any, size: int) -> dict[str, Any]:
    """open_clip's eval transform as the numbers ``preprocess_cfg.json`` holds."""
    from torchvision import transforms as tv

    cfg: dict[str, Any] = {"size": [size, size]}
    steps = list(getattr(transform, "transforms", []))
    for step in steps:
        if isinstance(step, tv.Resize):
            cfg["interpolation"] = step.interpolation.value
            cfg["resize_mode"] = "shortest" if isinstance(step.size, int) or \
                len(step.size) == 1 else "squash"
        elif isinstance(step, tv.Normalize):
            cfg["mean"], cfg["std"] = list(step.mean), list(step.std)
        elif type(step).__name__ in ("ResizeKeepRatio", "CenterCropOrPad"):
            raise ValueError(f"open_clip's {type(step).__name__} preprocessing cannot be "
                             "exported (only shortest-side and squash resizing)")
    if "resize_mode" not in cfg or "mean" not in cfg:
        raise ValueError(f"unexpected open_clip preprocessing: {transform}")
    return cfg


def export_clip(clip: Any, target: Path, settings: Mapping[str, Any] | None = None) -> Path:
    """Export the :class:`~pximse.models.clip.ClipModel` ``clip`` into ``target``;
    ``settings`` (the configuration that named its weights) go into the manifest,
    by which the export is found again."""
    import open_clip
    import torch

    started = time.perf_counter()
    model = clip.torch_model.float().cpu().eval().requires_grad_(False)
    visual_size = model.visual.image_size
    size = int(visual_size[0] if isinstance(visual_size, tuple | list) else visual_size)
    context = clip.context_length
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        (staging / "visual").mkdir()
        (staging / "textual").mkdir()
        config = {"embed_dim": clip.dimensions, "vision_cfg": {"image_size": size},
                  "text_cfg": {"context_length": context}}
        (staging / CONFIG_FILE).write_text(json.dumps(config), encoding="utf-8")
        (staging / VISUAL_PREPROCESS).write_text(
            json.dumps(_preprocess_cfg(clip.preprocess, size)), encoding="utf-8")
        _tokenizer_files(clip.tokenizer, staging)

        class Image(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.clip = model

            def forward(self, image: Any) -> Any:
                return self.clip.encode_image(image, normalize=True)

        class Text(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.clip = model

            def forward(self, text: Any) -> Any:
                return self.clip.encode_text(text, normalize=True)

        fastpath = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)  # its fused kernel does not trace
        try:
            with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    Image(), (torch.zeros(1, 3, size, size),), str(staging / VISUAL_MODEL),
                    input_names=["image"], output_names=["embedding"], opset_version=OPSET,
                    dynamic_axes={"image": {0: "batch"}, "embedding": {0: "batch"}},
                    dynamo=False)
                torch.onnx.export(
                    Text(), (torch.zeros(1, context, dtype=torch.long),),
                    str(staging / TEXTUAL_MODEL),
                    input_names=["text"], output_names=["embedding"], opset_version=OPSET,
                    dynamic_axes={"text": {0: "batch"}, "embedding": {0: "batch"}},
                    dynamo=False)
        finally:
            torch.backends.mha.set_fastpath_enabled(fastpath)
        from pximse import __version__

        manifest = {"model_id": clip.model_id, **dict(settings or {}),
                    "exported_by": f"pximse {__version__}",
                    "open_clip": open_clip.__version__, "torch": torch.__version__}
        (staging / EXPORT_MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("exported %s to %s in %.1fs", clip.model_id, target, time.perf_counter() - started)
    return target
