"""``make run`` on a fresh virtual environment: seconds until the daemon serves,
and the environment's size without PyTorch.

    .venv/bin/python bench/first_run.py               # pip's download cache allowed
    .venv/bin/python bench/first_run.py --no-cache    # every package downloaded again

It runs the repository's own ``make run`` with ``VENV`` pointing at a new
folder (so the development ``.venv`` is left alone), a fresh data folder and
configuration, and a free port, and times it until ``GET /api/status``
answers; then stops it and starts ``make run`` again on the now-installed
environment (the baseline: the daemon's own start, no installation). The
model weights' download address points at a closed port (nothing is fetched
from the internet; the daemon keeps serving while the models wait). Targets:
the environment holds no PyTorch and takes at most 1.5 GB, and the three
default stages are there (none "unavailable" for want of a package): OCR
ready, the tagger and CLIP waiting for their weights; ``pximse models list``
in the new environment says where each would run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import REPO_DIR, emit_result, machine_line, progress, verdict

TARGET_BYTES = 1.5e9


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def folder_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total


def serve_until_up(venv: Path, work: Path, port: int, env: dict[str, str],
                   timeout_s: float) -> tuple[float, subprocess.Popen[bytes]]:
    args = f"--config {work / 'config.toml'} --data-dir {work / 'data'} --port {port}"
    started = time.perf_counter()
    process = subprocess.Popen(["make", "--no-print-directory", "run", f"VENV={venv}",
                                f"ARGS={args}"], cwd=REPO_DIR, env=env,
                               stdout=(work / "make.log").open("ab"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}/api/status"
    while time.perf_counter() - started < timeout_s:
        if process.poll() is not None:
            raise RuntimeError(f"make run exited with {process.returncode}: see {work}/make.log")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return time.perf_counter() - started, process
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"not serving after {timeout_s:.0f}s: see {work}/make.log")


def stage_states(port: int, timeout_s: float) -> dict[str, str]:
    """Each model stage's state once the tagger and CLIP have tried their download
    (the address is closed, so they wait), or what there is after ``timeout_s``."""
    started = time.perf_counter()
    states: dict[str, str] = {}
    while time.perf_counter() - started < timeout_s:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status",
                                        timeout=5) as answer:
                body = json.load(answer)
        except OSError:
            time.sleep(0.5)
            continue
        stages = (body.get("indexing") or {}).get("stages") or {}
        states = {name: str(stage.get("state", "")) for name, stage in stages.items()}
        if all(states.get(name, "").startswith("waiting for weights: ")
               for name in ("tagger", "clip")):
            break
        time.sleep(0.5)
    return states


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-cache", action="store_true", help="download every package again")
    parser.add_argument("--keep", action="store_true", help="keep the environment afterwards")
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args()
    print(f"make run on a fresh environment; {machine_line()}")
    work = Path(tempfile.mkdtemp(prefix="pximse-first-run-"))
    venv = work / "venv"
    (work / "config.toml").write_text("")
    env = {**os.environ, "PXIMSE_LOG_DIR": str(work / "logs"), "HF_ENDPOINT": "http://127.0.0.1:9"}
    env.pop("VIRTUAL_ENV", None)
    if args.no_cache:
        env["PIP_NO_CACHE_DIR"] = "1"
    try:
        progress(f"make run VENV={venv} (installing)")
        port = free_port()
        first_s, process = serve_until_up(venv, work, port, env, args.timeout)
        states = stage_states(port, 120)
        stop(process)
        listed_models = subprocess.run(
            [str(venv / "bin" / "pximse"), "models", "list", "--config", str(work / "config.toml"),
             "--data-dir", str(work / "data")], capture_output=True, text=True, env=env).stdout
        progress(f"serving after {first_s:.1f}s; again, installed")
        again_s, process = serve_until_up(venv, work, free_port(), env, 300)
        stop(process)
        size = folder_bytes(venv)
        listed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list",
                                 "--format=freeze"], capture_output=True, text=True).stdout
        has_torch = any(line.lower().startswith(("torch==", "torch ")) for line in
                        listed.splitlines())
        runtimes = [line for line in listed.splitlines() if line.lower().startswith(
            ("onnxruntime", "rapidocr", "tokenizers", "faiss"))]
        biggest = sorted(((folder_bytes(p), p.name) for p in
                          (venv / "lib").glob("python*/site-packages/*") if p.is_dir()),
                         reverse=True)[:6]
        print(f"make run until serving: {first_s:.1f} s from nothing "
              f"({'no pip cache' if args.no_cache else 'pip cache allowed'}); "
              f"{again_s:.1f} s installed (baseline: the daemon's own start)")
        print(f"environment: {size / 1e9:.2f} GB, PyTorch {'present' if has_torch else 'absent'}; "
              f"{', '.join(runtimes)}")
        print("largest: " + ", ".join(f"{name} {b / 1e6:.0f} MB" for b, name in biggest))
        for name, state in sorted(states.items()):
            print(f"stage {name}: {state}")
        print("pximse models list:\n" + listed_models.rstrip())
        stages_there = set(states) == {"tagger", "ocr", "clip"} and not any(
            state.startswith("unavailable") for state in states.values())
        verdict("make run environment", not has_torch and size <= TARGET_BYTES,
                f"{size / 1e9:.2f} GB (target at most 1.5 GB), no PyTorch")
        verdict("default stages after make run", stages_there,
                ", ".join(f"{name} {state.split(':')[0]}" for name, state in
                          sorted(states.items())) or "no stages reported")
        emit_result({"bench": "first_run", "install_and_serve_s": round(first_s, 1),
                     "serve_s": round(again_s, 1), "venv_bytes": size, "torch": has_torch,
                     "pip_cache": not args.no_cache, "stages": states,
                     "pass": not has_torch and size <= TARGET_BYTES and stages_there})
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
