"""On a machine with an NVIDIA GPU: does each stage pick CUDA, and does it agree with the CPU?

    python bench/gpu_runtime_check.py            # about a minute; prints PASS/FAIL/SKIP lines

Self-contained: it builds its own tiny models (a WD14-format ONNX tagger with
``onnx``; a tiny open_clip ViT exported by PxIMSE's export code when PyTorch
and open_clip are there) in a temporary folder, downloads nothing, and checks:

1. which execution providers onnxruntime offers, and what PxIMSE decides
   (``detect_device``);
2. the WD14 tagger: the device it really runs on (``cuda:0`` with a working
   onnxruntime-gpu), and its scores against the same model on the CPU;
3. RapidOCR: its device, and that it reads a drawn line of text;
4. CLIP: which runtime ``make_clip`` picks when the model is about to run
   (onnxruntime on CUDA when it has CUDA, else PyTorch on CUDA, else the
   CPU), and that the vectors agree with the CPU's (cosine >= 0.99: fp16 on a
   GPU differs a little).

A check whose runtime is not installed is SKIPped with the reason. Exit
status 1 when a check FAILs.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

RESULTS: list[tuple[str, str, str]] = []


def ort_has_cuda() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def check(name: str, run: Callable[[], str]) -> None:
    started = time.perf_counter()
    try:
        detail = run()
        status = "PASS"
    except SkipCheck as skip:
        status, detail = "SKIP", str(skip)
    except Exception as exc:  # report every check, then the summary
        status, detail = "FAIL", f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    RESULTS.append((status, name, detail))
    print(f"{status}: {name}: {detail} ({time.perf_counter() - started:.1f}s)", flush=True)


class SkipCheck(Exception):
    pass


def tiny_tagger(folder: Path) -> Path:
    import numpy as np

    try:
        from onnx import TensorProto, helper, numpy_helper, save
    except ImportError as exc:
        raise SkipCheck(f"the onnx package is needed to build the test tagger ({exc})") from exc
    folder.mkdir(parents=True, exist_ok=True)
    weights = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32) * 0.02
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input_1:0"], ["mean"], axes=[1, 2], keepdims=0),
         helper.make_node("MatMul", ["mean", "W"], ["logits"]),
         helper.make_node("Sigmoid", ["logits"], ["predictions_sigmoid"])],
        "tiny", [helper.make_tensor_value_info("input_1:0", TensorProto.FLOAT,
                                               ["batch", 448, 448, 3])],
        [helper.make_tensor_value_info("predictions_sigmoid", TensorProto.FLOAT, ["batch", 6])],
        initializer=[numpy_helper.from_array(weights, "W")])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
         str(folder / "model.onnx"))
    rows = ["general,9", "sensitive,9", "questionable,9", "explicit,9", "red,0", "blue,0"]
    (folder / "selected_tags.csv").write_text(
        "tag_id,name,category,count\n" + "".join(f"{i},{r},1\n" for i, r in enumerate(rows)))
    return folder


def main() -> int:
    import platform

    print(f"python {sys.version.split()[0]} on {platform.platform()}")
    work = Path(tempfile.mkdtemp(prefix="pximse-gpu-check-"))
    from pximse.models.probes import probe_images

    images = probe_images(4, (640, 480))

    def providers() -> str:
        import onnxruntime

        from pximse.models.base import detect_device

        device = detect_device("onnxruntime")
        return (f"onnxruntime {onnxruntime.__version__}, providers "
                f"{onnxruntime.get_available_providers()}, PxIMSE picks {device}")

    check("onnxruntime providers", providers)

    def tagger() -> str:

        from pximse.models.base import WeightsSource
        from pximse.models.wd14 import WD14Tagger

        folder = tiny_tagger(work / "tagger")
        auto = WD14Tagger(WeightsSource(work, local_path=folder))
        cpu = WD14Tagger(WeightsSource(work, local_path=folder), device="cpu")
        got, ref = auto.tag(images, min_score=0.0), cpu.tag(images, min_score=0.0)
        worst = max(abs(a[k] - b[k]) for a, b in zip(got, ref, strict=True) for k in a)
        if worst > 1e-3:
            raise AssertionError(f"scores differ from the CPU's by {worst}")
        if not auto.device.startswith("cuda"):
            if not ort_has_cuda():
                raise SkipCheck(f"runs on {auto.device}, scores as the CPU's: onnxruntime has "
                                "no CUDA provider here (pip install onnxruntime-gpu)")
            raise AssertionError(f"onnxruntime offers CUDA but the tagger runs on "
                                 f"{auto.device} (are the CUDA libraries it needs there?)")
        return f"runs on {auto.device}; scores within {worst:.1e} of the CPU's"

    check("WD14 tagger on onnxruntime", tagger)

    def ocr() -> str:
        from PIL import Image, ImageDraw, ImageFont

        from pximse.models.ocr import RapidOcrEngine

        engine = RapidOcrEngine()
        page = Image.new("RGB", (520, 140), "white")
        ImageDraw.Draw(page).text((20, 30), "HELLO WORLD", fill="black",
                                  font=ImageFont.load_default(size=48))
        [lines] = engine.read([page])
        text = " ".join(line.text for line in lines)
        if "HELLO" not in text.upper():
            raise AssertionError(f"read {text!r}")
        if not engine.device.startswith("cuda"):
            if not ort_has_cuda():
                raise SkipCheck(f"runs on {engine.device} and read {text!r}: onnxruntime has "
                                "no CUDA provider here (pip install onnxruntime-gpu)")
            raise AssertionError(f"onnxruntime offers CUDA but OCR runs on {engine.device}")
        return f"runs on {engine.device}; read {text!r}"

    check("RapidOCR", ocr)

    def clip() -> str:
        try:
            import open_clip
            import torch
        except ImportError as exc:
            raise SkipCheck(f"PyTorch and open_clip are needed to make the test model ({exc})"
                            ) from exc
        import numpy as np

        from pximse.models.base import WeightsSource
        from pximse.models.clip import ClipModel
        from pximse.models.clip_choice import ClipSettings, make_clip
        from pximse.models.clip_export import export_clip

        configs = work / "configs"
        configs.mkdir()
        (configs / "GpuCheckTiny.json").write_text(json.dumps({
            "embed_dim": 32, "vision_cfg": {"image_size": 224, "layers": 2, "width": 128,
                                            "patch_size": 32},
            "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 4,
                         "layers": 2}}))
        open_clip.add_model_config(configs)
        weights = work / "tiny-clip.bin"
        torch.manual_seed(0)
        torch.save(open_clip.create_model("GpuCheckTiny", pretrained=None).state_dict(), weights)
        cpu = ClipModel(WeightsSource(work, local_path=weights), "GpuCheckTiny", None,
                        device="cpu")
        export_clip(cpu, work / "clip-onnx", {"arch": "GpuCheckTiny", "pretrained": None,
                                              "weights": str(weights), "quick_gelu": None})
        (work / "models" / "clip-onnx").mkdir(parents=True, exist_ok=True)
        (work / "clip-onnx").rename(work / "models" / "clip-onnx" / "tiny")
        settings = ClipSettings("GpuCheckTiny", None, path=weights)
        chosen = make_clip(WeightsSource(work), settings, for_running=True)
        vectors = chosen.embed_images(images)
        reference = cpu.embed_images(images)
        cosine = float(np.sum(vectors * reference, axis=1).min())
        runtime = chosen.describe_runtime()
        if cosine < 0.99:
            raise AssertionError(f"{runtime}: lowest cosine to the CPU {cosine:.5f}")
        if not str(runtime["device"]).startswith("cuda"):
            if not torch.cuda.is_available() and not ort_has_cuda():
                raise SkipCheck(f"picked {runtime}: neither PyTorch nor onnxruntime sees a "
                                f"GPU here; lowest cosine to the CPU's vectors {cosine:.5f}")
            raise AssertionError(f"picked {runtime}, not the GPU that "
                                 f"{'PyTorch' if torch.cuda.is_available() else 'onnxruntime'}"
                                 " offers")
        return f"picked {runtime}; lowest cosine to the CPU's vectors {cosine:.5f}"

    check("CLIP runtime choice", clip)

    failed = [r for r in RESULTS if r[0] == "FAIL"]
    print(f"\n{len(RESULTS) - len(failed)} of {len(RESULTS)} checks passed or skipped; "
          f"temporary files in {work}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
