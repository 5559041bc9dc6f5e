"""Nothing is loaded that is not needed.

Commands run as real processes, which report the modules they imported when
they exit: ``pximse --help`` and ``pximse search`` import no model runtime and
start in well under a second; ``pximse index`` on a library where every image
has been through every stage loads no model and imports no runtime. The daemon
is looked at from outside: on the same library it maps no runtime's shared
library into its memory and starts no indexing worker.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

import httpx
import psutil
import pytest
from helpers.processes import free_port, pximse, write_library
from helpers.waiting import wait_for
from helpers.wd14_model import NAME, build_model, make_weights

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")

from helpers.clip_model import ARCH_QG, tiny_archs, tiny_model  # noqa: E402,F401

pytestmark = pytest.mark.slow  # every test here takes seconds

HEAVY = ("torch", "onnxruntime", "rapidocr", "faiss", "pymongo", "open_clip", "cv2",
         "tokenizers", "scipy")
# The shared libraries each runtime brings: what a process that imported it maps.
HEAVY_LIBRARIES = ("onnxruntime", "libtorch", "_swigfaiss", "cv2", "tokenizers")

REPORT = """
import atexit, json, sys
atexit.register(lambda: sys.stderr.write(
    "MODULES " + json.dumps(sorted(m for m in sys.modules if "." not in m)) + "\\n"))
sys.argv = ["pximse", *sys.argv[1:]]
from pximse.cli import main
main()
"""


def run(*args: str, env: dict[str, str]) -> tuple[float, set[str], str]:
    """Run the command; its CPU seconds (the wall clock of a shared machine says
    more about the other processes), the top-level modules it imported, its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-c", REPORT, *args], capture_output=True,
                          text=True, env=env, timeout=300)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stderr.splitlines() if ln.startswith("MODULES "))
    return seconds, set(json.loads(line.removeprefix("MODULES "))), done.stdout


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A library every stage has seen: a tiny WD14 tagger, RapidOCR, a tiny CLIP on ONNX."""
    from pximse.models.base import WeightsSource
    from pximse.models.clip import ClipModel
    from pximse.models.clip_export import export_clip

    tmp = tmp_path_factory.mktemp("lean")
    library = tmp / "lib"
    write_library(library, 6)
    tagger = build_model(tmp / "weights" / NAME, *make_weights(0))
    weights = tmp / "clip.bin"
    torch.save(tiny_model(4, ARCH_QG).state_dict(), weights)
    clip = export_clip(ClipModel(WeightsSource(tmp, local_path=weights), ARCH_QG, None,
                                 device="cpu"), tmp / "clip-onnx")
    port = free_port()
    config = tmp / "config.toml"
    config.write_text(
        f'[[library.roots]]\nname = "lib"\npath = "{library}"\n[server]\nport = {port}\n'
        f'[models]\nallow_download = false\ntagger_path = "{tagger}"\nclip_path = "{clip}"\n')
    env = {**os.environ, "PXIMSE_LOG_DIR": str(tmp / "logs")}
    common = ["--config", str(config), "--data-dir", str(tmp / "data")]
    first = subprocess.run(pximse("index", *common, "--json"), capture_output=True, text=True,
                           env=env, timeout=600)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)["models"]["report"]["stages"]
    assert {name: s["done"] for name, s in report.items()} == {"tagger": 6, "ocr": 6, "clip": 6}
    return {"common": common, "env": env, "port": port, "tmp": tmp}


def test_help_and_search_start_fast_and_import_no_runtime(indexed: dict[str, Any]) -> None:
    env, common = indexed["env"], indexed["common"]
    best = {}
    for name, args in {"help": ["--help"], "search": [*common, "search", "width:>10"]}.items():
        times = []
        for _ in range(3):
            seconds, modules, output = run(*args, env=env)
            times.append(seconds)
            assert not modules & set(HEAVY), (name, modules & set(HEAVY))
        best[name] = min(times)
    assert len(output.splitlines()) == 6  # the six images, one per line
    # CPU seconds, interpreter included: about 0.5 s on a quiet machine; the rest of
    # the suite running beside it on 2 cores can double that.
    assert best["help"] < 1.5 and best["search"] < 1.5, best


def test_index_on_an_unchanged_library_loads_no_model(indexed: dict[str, Any]) -> None:
    _, modules, output = run(*indexed["common"], "index", "--json", env=indexed["env"])
    assert not modules & set(HEAVY), modules & set(HEAVY)
    assert "httpx" not in modules  # no daemon to hand the work to: no HTTP client (0.2 s)
    body = json.loads(output)
    assert body["unchanged"] == 6
    assert {name: s["done"] for name, s in body["models"]["report"]["stages"].items()} == \
        {"tagger": 0, "ocr": 0, "clip": 0}
    assert {s["state"] for s in body["models"]["plan"].values()} == {"ready"}


def test_the_daemon_starts_without_loading_a_runtime(indexed: dict[str, Any]) -> None:
    daemon = subprocess.Popen(pximse("serve", *indexed["common"]), env=indexed["env"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{indexed['port']}"

    def stages() -> dict[str, Any]:
        try:
            body = httpx.get(f"{url}/api/status", timeout=10).json()
        except httpx.HTTPError:
            return {}
        return body.get("indexing", {}).get("stages", {}) if not body["scan"]["running"] \
            and body["scan"]["last"] else {}

    try:
        found = wait_for(lambda: (s := stages()) and len(s) == 3 and s, 120, "the first scan")
        assert {entry["state"] for entry in found.values()} == {"idle"}
        time.sleep(1.0)  # the indexer's look at the catalogue is done by now
        process = psutil.Process(daemon.pid)
        assert process.children(recursive=True) == []  # no indexing worker
        mapped = {m.path for m in process.memory_maps()}
        loaded = {lib for lib in HEAVY_LIBRARIES if any(lib in path for path in mapped)}
        assert not loaded, loaded
    finally:
        daemon.terminate()
        daemon.wait(60)
