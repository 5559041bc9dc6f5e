"""CLIP image and text embeddings with open_clip on PyTorch (``pip install 'pximse[clip-torch]'``).

The default CLIP runs without PyTorch, on onnxruntime (:mod:`.clip_onnx`); this
adapter runs any open_clip model, and is the one PxIMSE exports from
(:mod:`.clip_export`).

One :class:`ClipModel` embeds images and texts into the same space. What is
loaded is said by three settings:

``arch``
    an open_clip architecture name (``ViT-B-32``, the original PxIMSE's, 512-d;
    ``ViT-L-14``; the multilingual ``xlm-roberta-base-ViT-B-32``; any name in
    ``open_clip.list_models()``, including the ``-quickgelu`` variants).
``pretrained``
    an open_clip pretrained tag (``openai``, ``laion2b_s34b_b79k``; see
    ``open_clip.list_pretrained()``), or ``None``/``""`` for weights that come
    from no tag.
``source.local_path``
    a local weights file (``.bin``, ``.pt``, ``.pth``, ``.safetensors``), or an
    open_clip folder (``open_clip_config.json`` plus its weights, what open_clip
    calls ``local-dir:``; the prefix is accepted and dropped). When set, the
    bytes come from there and nothing is downloaded; ``pretrained`` then says
    *what the file is*: with a tag, the file is loaded as that tag's weights
    (its QuickGELU setting and its image normalisation); with no tag, as
    weights of ``arch`` alone. A folder carries its own architecture and
    preprocessing, so ``arch`` and ``pretrained`` are ignored for it.

Without a local path, the tag's file is looked up in open_clip's Hugging Face
cache, first ``<data_dir>/models/open_clip/`` and then the user's default
Hugging Face cache, and downloaded into the former only when
``models.allow_download`` is on.

QuickGELU, the trap: OpenAI's CLIP weights were trained with QuickGELU
activations, most others with GELU, and loading weights with the wrong one
gives no error, only subtly wrong embeddings. The state dict cannot tell (the
activation has no parameters), so it is decided, in this order, by

1. ``quick_gelu=True``/``False`` when given (config ``quick_gelu = true``);
2. the tag's own setting when ``pretrained`` names one (``openai`` -> on),
   also when the bytes come from a local file;
3. the architecture name (``ViT-B-32-quickgelu`` -> on; an open_clip folder's
   ``open_clip_config.json`` -> whatever it says).

So OpenAI's ``ViT-B-32`` weights in a local file load right with
``pretrained = "openai"`` (the default) or ``arch = "ViT-B-32-quickgelu"``; a
file of other weights needs ``pretrained`` set to its tag, or to ``""``. The
decision is logged at load and is part of :attr:`ClipModel.model_id` (as the
``-quickgelu`` architecture name), so results from the two are never mixed.

Offline: when downloads are not allowed, ``HF_HUB_OFFLINE=1`` is set (and
``huggingface_hub``'s constant too, if it was imported already) before open_clip
is imported, so nothing waits on an unreachable hub (tokenizers and text towers
of Hugging Face models, such as the multilingual one, ask the hub too); the
tag's file itself is only ever looked up in the caches, never fetched.

Images: any PIL mode; transparency is composited onto white first (illustrations
are often transparent PNGs whose hidden pixels are black or noise), then
open_clip's own eval transform for the model. Texts longer than the model's
context (77 tokens for CLIP) are truncated, as open_clip's tokenizer does, rather
than rejected as the original PxIMSE did. Inference runs in batches under
``torch.inference_mode()``, in fp16 on CUDA and fp32 on the CPU; outputs are
L2-normalised float32 numpy arrays.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pximse.models.base import InferenceModel, WeightsSource
from pximse.models.batches import embed_in_batches, unit_rows
from pximse.models.images import flatten_on_white
from pximse.models.weights import WeightsSpec, WeightsUnavailable, cache_dir

__all__ = [
    "ClipModel",
    "DEFAULT_ARCH",
    "DEFAULT_PRETRAINED",
    "DEFAULT_BATCH_SIZE",
    "decide_quick_gelu",
]

log = logging.getLogger(__name__)

DEFAULT_ARCH = "ViT-B-32"
DEFAULT_PRETRAINED = "openai"
DEFAULT_BATCH_SIZE = 32
LOCAL_DIR_PREFIX = "local-dir:"
CONFIG_FILE = "open_clip_config.json"
CACHE_NAME = "open_clip"  # <data_dir>/models/open_clip/: a Hugging Face cache folder
WEIGHTS_SUFFIXES = (".bin", ".pt", ".pth", ".safetensors")
QUICKGELU_SUFFIX = "-quickgelu"
# open_clip's preference when a folder holds several checkpoints (factory._find_checkpoint_in_dir).
_DIR_PREFERRED = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
    "model.safetensors",
    "pytorch_model.bin",
    "pytorch_model.pth",
    "model.pth",
)
_HF_WEIGHTS = "open_clip_pytorch_model.bin"
_HF_SAFE_WEIGHTS = "open_clip_model.safetensors"


def set_hub_offline() -> None:
    """Make the Hugging Face hub offline for this process, even if it is imported already.

    ``huggingface_hub`` reads ``HF_HUB_OFFLINE`` once, at import, into
    ``huggingface_hub.constants``; its download functions read the constant at
    call time, so setting both takes effect either way.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = True  # type: ignore[attr-defined]


def _strip_local_dir(path: Path | str) -> Path:
    text = str(path)
    if text.startswith(LOCAL_DIR_PREFIX):
        text = text[len(LOCAL_DIR_PREFIX) :]
    return Path(text).expanduser()


def _folder_checkpoint(folder: Path) -> Path | None:
    """The checkpoint open_clip loads from a ``local-dir:`` folder (same rule as open_clip)."""
    found = [p for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHTS_SUFFIXES]
    if not found:
        return None
    for name in _DIR_PREFERRED:
        if (folder / name).is_file():
            return folder / name
    found.sort(key=lambda p: (p.suffix != ".safetensors", p.name))
    return found[0]


def _open_clip_tags(arch: str) -> list[str]:
    import open_clip

    return [tag for name, tag in open_clip.list_pretrained() if name == arch]


def _pretrained_cfg(arch: str, tag: str) -> dict[str, Any]:
    import open_clip

    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if not cfg:
        known = _open_clip_tags(arch)
        raise ValueError(
            f"open_clip has no pretrained weights {tag!r} for {arch}: "
            + (f"known tags are {', '.join(known)}" if known else f"{arch} has no pretrained tags")
            + '; set models.clip_pretrained to one of them, or to "" for a weights file '
            "that comes from no tag"
        )
    return dict(cfg)


def decide_quick_gelu(arch: str, pretrained: str | None, quick_gelu: bool | None) -> bool:
    """Whether the model must use QuickGELU (see the module docstring for the order)."""
    if quick_gelu is not None:
        return quick_gelu
    if pretrained:
        return bool(_pretrained_cfg(arch, pretrained).get("quick_gelu", False))
    return arch.endswith(QUICKGELU_SUFFIX)


def _find_cached_tag_file(cfg: Mapping[str, Any], cache_dirs: Sequence[Path | None]) -> Path | None:
    """The tag's weights file if one of the caches holds it; never touches the network."""
    hf_hub = cfg.get("hf_hub") or ""
    url = cfg.get("url") or ""
    if hf_hub:
        from huggingface_hub import try_to_load_from_cache

        repo_id, filename = os.path.split(hf_hub)
        names = [filename] if filename else [_HF_SAFE_WEIGHTS, _HF_WEIGHTS]
        if filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        for folder in cache_dirs:
            for name in names:
                found = try_to_load_from_cache(
                    repo_id, name, cache_dir=None if folder is None else str(folder)
                )
                if isinstance(found, str) and Path(found).is_file():
                    return Path(found)
    if url:
        name = os.path.basename(url)
        for folder in cache_dirs:
            base = Path("~/.cache/clip").expanduser() if folder is None else folder
            if (base / name).is_file():
                return base / name
    return None


class ClipModel(InferenceModel):
    """open_clip CLIP: ``embed_images`` and ``embed_texts`` into one normalised space.

    ``model_id`` is ``clip:<arch>:<tag>`` for a tag's published weights and
    ``clip:<arch>:<file name>:<digest of the weights>`` for a local file, where
    ``<arch>`` ends in ``-quickgelu`` when QuickGELU is on. Reading it
    resolves the weights (and may raise :class:`WeightsUnavailable`) without
    loading torch's model.
    """

    runtime = "torch"

    def __init__(
        self,
        source: WeightsSource,
        arch: str = DEFAULT_ARCH,
        pretrained: str | None = DEFAULT_PRETRAINED,
        *,
        quick_gelu: bool | None = None,
        device: str | None = None,
        idle_unload_s: float | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        threads: int = 0,
    ) -> None:
        self.arch = arch
        self.pretrained = pretrained or None
        self.batch_size = batch_size
        self.threads = threads
        local = source.local_path
        self.weights_path = None if local is None else _strip_local_dir(local)
        self.is_folder = self.weights_path is not None and self.weights_path.is_dir()
        if self.is_folder:
            assert self.weights_path is not None
            configured = bool(self._folder_config().get("model_cfg", {}).get("quick_gelu", False))
            if quick_gelu is False and configured:
                raise ValueError(
                    f"CLIP folder {self.weights_path}: {CONFIG_FILE} says quick_gelu = true, "
                    "models.clip_quick_gelu says false; remove one of them"
                )
            self._quick_gelu = bool(quick_gelu) or configured
            arch_label = f"local-dir-{self.weights_path.name}"
            what = self.weights_path.name
        else:
            if quick_gelu is False and arch.endswith(QUICKGELU_SUFFIX):
                raise ValueError(
                    f"CLIP {arch} always uses QuickGELU, models.clip_quick_gelu says false: "
                    f"use {arch.removesuffix(QUICKGELU_SUFFIX)} or remove quick_gelu"
                )
            self._quick_gelu = decide_quick_gelu(
                arch, self.pretrained, quick_gelu
            ) or arch.endswith(QUICKGELU_SUFFIX)
            arch_label = arch
            if self.weights_path is not None:
                what = self.weights_path.name
            else:
                if self.pretrained is None:
                    raise ValueError(
                        f"CLIP {arch}: no weights: set models.clip_pretrained to an open_clip "
                        'tag (such as "openai") or models.clip_path to a weights file'
                    )
                what = self.pretrained
        if self._quick_gelu and not arch_label.endswith(QUICKGELU_SUFFIX):
            arch_label += QUICKGELU_SUFFIX
        spec = WeightsSpec(name=f"clip:{arch_label}:{what}", files=())
        super().__init__(spec, source, device=device, idle_unload_s=idle_unload_s)
        self._model: Any = None
        self._preprocess: Any = None
        self._tokenizer: Any = None
        self._dtype: Any = None
        self._dimensions: int | None = None

    @property
    def quick_gelu(self) -> bool:
        return self._quick_gelu

    @property
    def model_id(self) -> str:
        """Published weights (a tag, no local file) are named by their tag alone:
        the tag names exactly one set of weights, whatever file format they came
        in, and the ONNX export of the same weights gives the same vectors."""
        with self._lock:
            if self._model_id is None:
                if self.weights_path is None:
                    _ = self.files  # missing weights raise here, as for a file
                    self._model_id = self.name
                else:
                    self._model_id = super().model_id
            return self._model_id

    def describe_runtime(self) -> dict[str, Any]:
        return {"runtime": "torch", "device": self.device, "threads": self.threads or "all",
                "precision": "fp16" if self.device.startswith("cuda") else "fp32"}

    # -- weights -----------------------------------------------------------------

    def _folder_config(self) -> dict[str, Any]:
        assert self.weights_path is not None
        config = self.weights_path / CONFIG_FILE
        if not config.is_file():
            raise WeightsUnavailable(
                f"CLIP folder {self.weights_path} has no {CONFIG_FILE}: an open_clip folder "
                f"holds {CONFIG_FILE} and its weights; or point models.clip_path at the "
                "weights file itself"
            )
        data: dict[str, Any] = json.loads(config.read_text(encoding="utf-8"))
        return data

    @property
    def files(self) -> dict[str, Path]:
        """``weights`` (and ``config`` for a folder); replaces the base's fixed-file lookup.

        CLIP weights come from a user's file or folder, or from open_clip's own
        Hugging Face cache layout, not from a fixed list of files in our cache.
        """
        with self._lock:
            if self._files is None:
                self._files = self._resolve_files()
            return self._files

    def _resolve_files(self) -> dict[str, Path]:
        path = self.weights_path
        if path is not None:
            if self.is_folder:
                self._folder_config()
                checkpoint = _folder_checkpoint(path)
                if checkpoint is None:
                    raise WeightsUnavailable(
                        f"CLIP folder {path} has {CONFIG_FILE} but no weights: put the "
                        f"model's {' or '.join(WEIGHTS_SUFFIXES)} file in it"
                    )
                return {"config": path / CONFIG_FILE, "weights": checkpoint}
            if not path.is_file():
                raise WeightsUnavailable(
                    f"CLIP weights file {path} not found: put the {self.arch} weights "
                    f"({', '.join(WEIGHTS_SUFFIXES)}) there, or remove models.clip_path to use "
                    f"open_clip's pretrained {self.pretrained or DEFAULT_PRETRAINED!r} weights"
                )
            return {"weights": path}
        return {"weights": self._resolve_tag_file()}

    def _resolve_tag_file(self) -> Path:
        assert self.pretrained is not None
        if not self.source.allow_download:
            set_hub_offline()
        cfg = _pretrained_cfg(self.arch, self.pretrained)
        ours = cache_dir(self.source.data_dir, CACHE_NAME)
        found = _find_cached_tag_file(cfg, [ours, None])
        if found is not None:
            return found
        where = cfg.get("hf_hub") or cfg.get("url") or "?"
        if not self.source.allow_download:
            hint = (
                f"https://huggingface.co/{os.path.split(cfg['hf_hub'])[0]}"
                if cfg.get("hf_hub")
                else cfg.get("url", "")
            )
            raise WeightsUnavailable(
                f"CLIP {self.arch} {self.pretrained!r} weights are not in the cache ({ours}): "
                "set models.allow_download = true to download them once, or download the "
                f"weights file from {hint} and set models.clip_path to it"
            )
        import open_clip

        log.info("downloading CLIP %s %s from %s", self.arch, self.pretrained, where)
        try:
            target = open_clip.pretrained.download_pretrained(cfg, cache_dir=str(ours))
        except Exception as e:  # hub and urllib errors of every kind
            raise WeightsUnavailable(
                f"could not download CLIP {self.arch} {self.pretrained!r} from {where}: {e}; "
                "try again, or download the weights file yourself and set models.clip_path"
            ) from e
        return Path(target)

    # -- runtime -----------------------------------------------------------------

    @property
    def dimensions(self) -> int:  # type: ignore[override]
        """Embedding width, from the model config (no weights are loaded for it)."""
        if self._dimensions is None:
            if self.is_folder:
                cfg = self._folder_config().get("model_cfg", {})
            else:
                cfg = _builtin_model_config(self.arch)
            self._dimensions = int(cfg["embed_dim"])
        return self._dimensions

    def _load(self, files: Mapping[str, Path], device: str) -> str:
        if not self.source.allow_download:
            set_hub_offline()
        import open_clip
        import torch

        if device.startswith("cuda") and not torch.cuda.is_available():
            log.warning("CLIP: %s asked for but torch sees no GPU; using the CPU", device)
            device = "cpu"
        precision = "fp16" if device.startswith("cuda") else "fp32"
        if self.threads and not device.startswith("cuda"):
            torch.set_num_threads(self.threads)
        kwargs: dict[str, Any] = {"device": device, "precision": precision}
        if self.is_folder:
            assert self.weights_path is not None
            name = f"{LOCAL_DIR_PREFIX}{self.weights_path}"
            kwargs["force_quick_gelu"] = self._quick_gelu
            model, _, preprocess = open_clip.create_model_and_transforms(name, **kwargs)
            tokenizer = open_clip.get_tokenizer(name)
        else:
            # A file path makes open_clip skip the tag (and the hub); the tag's own
            # normalisation and resampling are passed here instead.
            tag = _pretrained_cfg(self.arch, self.pretrained) if self.pretrained else {}
            arch = self.arch
            model, _, preprocess = open_clip.create_model_and_transforms(
                arch,
                pretrained=str(files["weights"]),
                force_quick_gelu=self._quick_gelu,
                image_mean=tag.get("mean"),
                image_std=tag.get("std"),
                image_interpolation=tag.get("interpolation"),
                image_resize_mode=tag.get("resize_mode"),
                **kwargs,
            )
            tokenizer = open_clip.get_tokenizer(arch)
        model.eval()
        log.info(
            "CLIP %s from %s: QuickGELU %s, %s on %s",
            self.arch if not self.is_folder else self.weights_path,
            files["weights"],
            "on" if self._quick_gelu else "off",
            precision,
            device,
        )
        self._model = model
        self._preprocess = preprocess
        self._tokenizer = tokenizer
        self._dtype = torch.float16 if precision == "fp16" else torch.float32
        return "cuda:0" if device.startswith("cuda") else "cpu"

    def _release(self) -> None:
        on_gpu = self._loaded_device is not None and self._loaded_device.startswith("cuda")
        self._model = None
        self._preprocess = None
        self._tokenizer = None
        if on_gpu:
            import torch

            torch.cuda.empty_cache()

    @property
    def torch_model(self) -> Any:
        """The loaded open_clip model (loads it): for tests and diagnostics."""
        with self._lock:
            self.load()
            return self._model

    @property
    def preprocess(self) -> Any:
        """open_clip's eval transform for this model (loads it)."""
        with self._lock:
            self.load()
            return self._preprocess

    @property
    def tokenizer(self) -> Any:
        """open_clip's tokenizer for this model (loads it)."""
        with self._lock:
            self.load()
            return self._tokenizer

    @property
    def context_length(self) -> int:
        with self._lock:
            self.load()
            return int(getattr(self._tokenizer, "context_length", 77))

    # -- inference ---------------------------------------------------------------

    def embed_images(self, images: Sequence[Any], *, batch_size: int | None = None) -> np.ndarray:
        """One L2-normalised float32 row per PIL image (any mode)."""
        if not images:  # nothing is loaded for nothing
            return np.zeros((0, self.dimensions), dtype=np.float32)
        import torch

        with self._in_use(), torch.inference_mode():
            model, preprocess = self._model, self._preprocess
            device = self._loaded_device or "cpu"

            def embed(chunk: Sequence[Any]) -> np.ndarray:
                pixels = torch.stack([preprocess(flatten_on_white(image)) for image in chunk])
                pixels = pixels.to(device=device, dtype=self._dtype)
                return unit_rows(model.encode_image(pixels).float().cpu().numpy())

            return embed_in_batches(images, batch_size or self.batch_size, self.dimensions,
                                    embed)

    def embed_texts(self, texts: Sequence[str], *, batch_size: int | None = None) -> np.ndarray:
        """One L2-normalised float32 row per text; texts past the context are truncated."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        import torch

        with self._in_use(), torch.inference_mode():
            model, tokenizer = self._model, self._tokenizer
            device = self._loaded_device or "cpu"

            def embed(chunk: Sequence[str]) -> np.ndarray:
                tokens = tokenizer(list(chunk)).to(device)
                return unit_rows(model.encode_text(tokens).float().cpu().numpy())

            return embed_in_batches(texts, batch_size or self.batch_size, self.dimensions,
                                    embed)


def _builtin_model_config(arch: str) -> dict[str, Any]:
    """An architecture's config, read from open_clip's JSON files without importing torch.

    Architectures registered at run time (``open_clip.add_model_config``) are
    found by asking open_clip itself.
    """
    spec = importlib.util.find_spec("open_clip")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder) / "model_configs" / f"{arch}.json"
            if path.is_file():
                data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
                return data
    import open_clip

    cfg = open_clip.get_model_config(arch)
    if cfg is None:
        raise ValueError(
            f"open_clip has no architecture {arch!r}: see open_clip.list_models() "
            "(ViT-B-32, ViT-L-14, xlm-roberta-base-ViT-B-32, ...)"
        )
    return dict(cfg)
