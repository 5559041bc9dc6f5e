"""CLIP ViT-B-32 image embeddings: onnxruntime (fp32, int8) against open_clip on PyTorch.

    .venv/bin/python bench/clip_runtime.py                 # 3 timed rounds of 32 images
    .venv/bin/python bench/clip_runtime.py --rounds 1      # quicker
    .venv/bin/python bench/clip_runtime.py --device cuda:0 # on a GPU (see gpu_runtime_check.py)

All three through PxIMSE's adapters, from PIL images to normalised vectors
(preprocessing included), in the same run on the same images: the baseline is
:class:`pximse.models.clip.ClipModel` (open_clip on PyTorch, fp32 on the CPU);
the contenders are :class:`pximse.models.clip_onnx.OnnxClipModel` on the ONNX
export PxIMSE's own export code makes of the same weights, in fp32 and with
the image tower quantised to dynamic int8. The weights are random (the real
ViT-B-32 architecture, ``pretrained=None``: nothing is downloaded); speed does
not depend on their values, agreement somewhat does (printed, as cosine to the
PyTorch vectors). Target: onnxruntime at least 2x PyTorch's images/s.
Each runtime uses every core it is given (``--threads``, default all); the
three take turns batch by batch, so a shared machine's load falls on all alike.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from _common import emit_result, ensure_data_dir, machine_line, median, progress, verdict

ARCH = "ViT-B-32"
BATCH = 32


def interleaved(models: dict[str, Any], images: list[Any], rounds: int
                ) -> dict[str, tuple[float, np.ndarray]]:
    """Median images/s of each model over ``rounds`` batches, and its vectors. The
    models take turns, round by round, so that a shared machine's changing load
    falls on all of them alike."""
    for model in models.values():
        model.embed_images(images[:2])  # warm-up: sessions made (int8: quantised), caches
    seconds: dict[str, list[float]] = {name: [] for name in models}
    vectors: dict[str, np.ndarray] = {}
    for round_number in range(rounds):
        for name, model in models.items():
            started = time.perf_counter()
            vectors[name] = model.embed_images(images)
            seconds[name].append(time.perf_counter() - started)
        progress(f"round {round_number + 1}: " + ", ".join(
            f"{name} {len(images) / seconds[name][-1]:.2f}/s" for name in models))
    return {name: (len(images) / median(seconds[name]), vectors[name]) for name in models}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed batches of 32 images")
    parser.add_argument("--device", default="cpu", help="cpu or cuda:0")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    args = parser.parse_args()

    import onnxruntime
    import open_clip
    import torch

    from pximse.models.base import WeightsSource
    from pximse.models.clip import ClipModel
    from pximse.models.clip_export import export_clip, export_folder
    from pximse.models.clip_onnx import OnnxClipModel
    from pximse.models.probes import probe_images

    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine_line(), f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"onnxruntime {onnxruntime.__version__}")
    data = ensure_data_dir()
    weights = data / "clip-vit-b-32-random.bin"
    if not weights.is_file():
        progress(f"saving random {ARCH} weights to {weights}")
        torch.manual_seed(0)
        torch.save(open_clip.create_model(ARCH, pretrained=None).state_dict(), weights)
    torch_clip = ClipModel(WeightsSource(data, local_path=weights), ARCH, "openai",
                           device=args.device, threads=args.threads)
    folder = export_folder(data, torch_clip.model_id)
    if not (folder / "visual" / "model.onnx").is_file():
        progress(f"exporting {torch_clip.model_id} to {folder}")
        export_clip(torch_clip, folder)
    fp32 = OnnxClipModel(WeightsSource(data, local_path=folder), device=args.device,
                         intra_op_threads=args.threads)
    int8 = OnnxClipModel(WeightsSource(data, local_path=folder), precision="int8",
                         device="cpu", intra_op_threads=args.threads)
    assert fp32.model_id == torch_clip.model_id and int8.model_id == fp32.model_id + ":int8"
    images = probe_images(BATCH, (800, 600))

    progress("warming up (the int8 tower is quantised once), then the rounds")
    measured = interleaved({"torch": torch_clip, "fp32": fp32, "int8": int8}, images,
                           args.rounds)
    (base_ips, base), (fp32_ips, ours), (int8_ips, quant) = (
        measured["torch"], measured["fp32"], measured["int8"])

    def agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
        cos = np.sum(a * b, axis=1)
        return float(cos.mean()), float(cos.min())

    fp32_cos, int8_cos, int8_fp32 = agreement(ours, base), agreement(quant, base), \
        agreement(quant, ours)
    print(f"open_clip on PyTorch ({torch_clip.device}): {base_ips:.2f} images/s (baseline)")
    print(f"onnxruntime fp32 ({fp32.device}): {fp32_ips:.2f} images/s, "
          f"{fp32_ips / base_ips:.2f}x; cosine to PyTorch mean {fp32_cos[0]:.6f}, "
          f"lowest {fp32_cos[1]:.6f}")
    print(f"onnxruntime int8 (cpu): {int8_ips:.2f} images/s, {int8_ips / base_ips:.2f}x; "
          f"cosine to PyTorch mean {int8_cos[0]:.5f}, lowest {int8_cos[1]:.5f}; "
          f"to fp32 mean {int8_fp32[0]:.5f}")
    verdict("onnxruntime fp32 vs PyTorch", fp32_ips >= 2 * base_ips and fp32_cos[1] >= 0.999,
            f"{fp32_ips / base_ips:.2f}x (target 2x), lowest cosine {fp32_cos[1]:.6f}")
    verdict("onnxruntime int8 vs PyTorch", int8_ips >= 2 * base_ips,
            f"{int8_ips / base_ips:.2f}x (target 2x)")
    emit_result({
        "bench": "clip_runtime", "arch": ARCH, "device": args.device, "batch": BATCH,
        "torch_images_per_s": round(base_ips, 2), "onnx_fp32_images_per_s": round(fp32_ips, 2),
        "onnx_int8_images_per_s": round(int8_ips, 2),
        "fp32_ratio": round(fp32_ips / base_ips, 2), "int8_ratio": round(int8_ips / base_ips, 2),
        "fp32_cosine_min": round(fp32_cos[1], 6), "int8_cosine_min": round(int8_cos[1], 5),
        "pass": fp32_ips >= 2 * base_ips and int8_ips >= 2 * base_ips,
    })


if __name__ == "__main__":
    main()
