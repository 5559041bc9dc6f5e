"""``pximse index`` on an unchanged, fully indexed library, as a whole process,
against a bare ``os.scandir`` + ``stat`` walk of the same tree.

Target: at most 1.5x the walk + 1 s (interpreter start, imports, the
configuration, opening the catalogue, asking it whether any image needs a
model: none should be loaded).

The tree is ``bench/rescan.py``'s (tiny distinct PNGs named as downloaders name
files), catalogued once by ``pximse index --no-models``. All
three stages are configured — a tiny WD14-format tagger (``tagger_path``),
RapidOCR, and CLIP from an ONNX folder (``clip_path``: the export
``bench/clip_runtime.py`` makes, or a tiny one made here) — and every image
is recorded as done by each stage's model id, as after a full indexing run.
Each round times the bare walk in this process and ``pximse index --json`` in
a new one; the medians and the ratio are printed.

    .venv/bin/python bench/index_unchanged.py [--files 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from _common import emit_result, ensure_data_dir, machine_line, median, progress, verdict
from rescan import bare_walk, build_tree

TARGET_RATIO = 1.5
TARGET_EXTRA_S = 1.0


def tiny_tagger(folder: Path) -> Path:
    """A WD14-format tagger (NHWC input, sigmoid scores, the tag CSV) of four tags."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper, save

    folder.mkdir(parents=True, exist_ok=True)
    weights = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input_1:0"], ["mean"], axes=[1, 2], keepdims=0),
         helper.make_node("MatMul", ["mean", "W"], ["logits"]),
         helper.make_node("Sigmoid", ["logits"], ["predictions_sigmoid"])],
        "tiny", [helper.make_tensor_value_info("input_1:0", TensorProto.FLOAT,
                                               ["batch", 8, 8, 3])],
        [helper.make_tensor_value_info("predictions_sigmoid", TensorProto.FLOAT, ["batch", 4])],
        initializer=[numpy_helper.from_array(weights, "W")])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
         str(folder / "model.onnx"))
    (folder / "selected_tags.csv").write_text(
        "tag_id,name,category,count\n0,general,9,1\n1,explicit,9,1\n2,smile,0,1\n3,cat,0,1\n")
    return folder


def clip_folder(data: Path) -> Path:
    """An ONNX CLIP folder: clip_runtime.py's ViT-B-32 export, or a tiny one made now."""
    found = sorted(data.glob("models/clip-onnx/*/visual/model.onnx"))
    if found:
        return found[0].parent.parent
    import json as json_module

    import open_clip
    import torch

    from pximse.models.base import WeightsSource
    from pximse.models.clip import ClipModel
    from pximse.models.clip_export import export_clip

    configs = data / "open_clip_configs"
    configs.mkdir(exist_ok=True)
    (configs / "BenchTiny.json").write_text(json_module.dumps({
        "embed_dim": 32, "vision_cfg": {"image_size": 64, "layers": 1, "width": 64,
                                        "patch_size": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 4,
                     "layers": 1}}))
    open_clip.add_model_config(configs)
    weights = data / "bench-tiny-clip.bin"
    torch.save(open_clip.create_model("BenchTiny", pretrained=None).state_dict(), weights)
    clip = ClipModel(WeightsSource(data, local_path=weights), "BenchTiny", None, device="cpu")
    return export_clip(clip, data / "bench-tiny-clip-onnx")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--folders", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    print(f"unchanged index benchmark: {args.files} files; {machine_line()}")

    data = ensure_data_dir()
    base = data / f"index_unchanged_{args.files}"
    tree, data_dir = base / "tree", base / "data"
    fresh = args.rebuild or not (data_dir / "catalog.sqlite3").is_file()
    if fresh:
        base.mkdir(parents=True, exist_ok=True)
        build_tree(tree, args.files, args.folders)
    config = base / "config.toml"
    config.write_text(
        f'[[library.roots]]\nname = "bench"\npath = "{tree.resolve()}"\n'
        f'[models]\nallow_download = false\n'
        f'tagger_path = "{tiny_tagger(base / "tagger")}"\n'
        f'clip_path = "{clip_folder(data)}"\n')

    command = [sys.executable, "-m", "pximse", "--config", str(config), "--data-dir",
               str(data_dir), "index", "--json"]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": ""}  # as installed: bytecode cached
    if fresh:
        progress(f"cataloguing the {args.files} files once (pximse index --no-models)")
        subprocess.run([*command, "--no-models"], capture_output=True, env=env, check=True)

    from pximse.config import load_config
    from pximse.pipeline.build import plan_stages
    from pximse.store.sqlite.catalog import SqliteCatalog

    loaded = load_config(config, data_dir, create=False)
    plan = plan_stages(loaded, for_running=False)
    assert not plan.unavailable, plan.unavailable
    catalog = SqliteCatalog(data_dir / "catalog.sqlite3")
    try:
        for stage in plan.stages:
            ids = [cid for cid, _ in catalog.pending_for_stage(stage.name, stage.model_id,
                                                               args.files * 2)]
            catalog.record_stages([(cid, stage.name, stage.model_id, None) for cid in ids])
            progress(f"{stage.name}: {len(ids)} images recorded as done by {stage.model_id}")
    finally:
        catalog.close()

    subprocess.run(command, capture_output=True, env=env, check=True)  # caches warm
    walks, runs, walk_cpu, run_cpu = [], [], [], []
    report: dict[str, object] = {}
    for _ in range(args.rounds):
        started, cpu = time.perf_counter(), time.process_time()
        files, _ = bare_walk(str(tree))
        walks.append(time.perf_counter() - started)
        walk_cpu.append(time.process_time() - cpu)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        runs.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        run_cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        report = json.loads(done.stdout)
    assert files == args.files and report["unchanged"] == args.files, report
    ran = {name: s["done"] for name, s in report["models"]["report"]["stages"].items()}
    assert ran == {"tagger": 0, "ocr": 0, "clip": 0}, ran
    walk_s, run_s = median(walks), median(runs)
    limit = TARGET_RATIO * walk_s + TARGET_EXTRA_S
    cpu_limit = TARGET_RATIO * median(walk_cpu) + TARGET_EXTRA_S
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"bare walk: {walk_s * 1000:.0f} ms ({median(walk_cpu) * 1000:.0f} ms CPU); "
          f"pximse index (whole process): {run_s * 1000:.0f} ms "
          f"({median(run_cpu) * 1000:.0f} ms CPU), of which its scan "
          f"{float(report['seconds']) * 1000:.0f} ms; no model ran ({ran})")
    verdict("unchanged pximse index (wall clock)", run_s <= limit,
            f"{run_s:.2f} s against 1.5 x {walk_s:.2f} s + 1 s = {limit:.2f} s")
    verdict("unchanged pximse index (CPU time)", median(run_cpu) <= cpu_limit,
            f"{median(run_cpu):.2f} s against 1.5 x {median(walk_cpu):.2f} s + 1 s "
            f"= {cpu_limit:.2f} s")
    emit_result({"bench": "index_unchanged", "files": args.files, "walk_s": round(walk_s, 3),
                 "index_s": round(run_s, 3), "index_cpu_s": round(median(run_cpu), 3),
                 "walk_cpu_s": round(median(walk_cpu), 3), "scan_s": report["seconds"],
                 "limit_s": round(limit, 3), "load": round(os.getloadavg()[0], 1),
                 "pass": run_s <= limit})
    return 0


if __name__ == "__main__":
    sys.exit(main())
