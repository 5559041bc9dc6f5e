"""kill -9 at random moments: nothing lost, nothing duplicated, nothing redone.

    .venv/bin/python bench/kill_loop.py                  # 12 kills, 120 images (~10 min)
    .venv/bin/python bench/kill_loop.py --kills 20 --images 300 --seed 7

A library of generated illustrations with lines of text, indexed with real
OCR (RapidOCR's shipped models) into one data folder by ``pximse index`` and
``pximse serve`` in turns, each killed with SIGKILL at a random moment
(during the scan, the hashing, the decoding, OCR, a watcher batch: some
``serve`` runs get a burst of new files and renames just before the kill).
After every kill, with nothing running (a killed daemon's model worker is let
finish its batch and leave first):

* the catalogue passes ``PRAGMA integrity_check`` and its own invariants:
  every file that is ``ok`` points at content, every content's state agrees
  with its files, every stage row and OCR result belongs to existing content,
  no path twice;
* nothing was redone: every model result recorded before (its ``updated_ns``)
  is the same row, and every content keeps its id and ``added_ns`` (a file
  recognised again is linked, not decoded again).

At the end a last ``pximse index`` runs to completion: every file on disk is
catalogued once and every image has its OCR result. The verdict line says
how many kills hit each phase. Numbers depend on the machine's load.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from _common import emit_result, machine_line, progress, verdict
from PIL import Image, ImageDraw

WORDS = ("hello", "pixiv", "webtoon", "tsukimi", "sakura", "umbrella", "rain", "library",
         "search", "daemon", "kill", "nine")


def draw(path: Path, seed: int) -> None:
    rng = random.Random(seed)
    image = Image.new("RGB", (360, 240), tuple(rng.randrange(180, 256) for _ in range(3)))
    pen = ImageDraw.Draw(image)
    for _ in range(4):
        x, y = rng.randrange(300), rng.randrange(180)
        pen.rectangle((x, y, x + rng.randrange(20, 60), y + rng.randrange(20, 60)),
                      fill=tuple(rng.randrange(256) for _ in range(3)))
    pen.text((20, 200), f"{rng.choice(WORDS)} {seed}", fill="black")
    image.save(path)


def pximse(*args: str) -> list[str]:
    return [sys.executable, "-m", "pximse", *args]


class Run:
    """One ``pximse index`` or ``pximse serve``, to be killed."""

    def __init__(self, kind: str, config: Path, data: Path, log: Path) -> None:
        args = ("index", "--json") if kind == "index" else ("serve", "--port", str(_port()))
        self.kind = kind
        self.log = open(log, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            pximse(*args, "--config", str(config), "--data-dir", str(data)),
            stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "PXIMSE_LOG_DIR": str(log.parent / "logs")})

    def kill_after(self, seconds: float, phase: Any) -> str | None:
        """SIGKILL after ``seconds``; returns what was under way then (``phase()``),
        or None when it ended first."""
        try:
            self.process.wait(seconds)
            return None
        except subprocess.TimeoutExpired:
            pass
        under_way = str(phase())
        children = psutil.Process(self.process.pid).children(recursive=True)
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        # What outlives it (the model worker, told by the kernel) finishes its
        # batch and leaves; nothing else may write meanwhile.
        psutil.wait_procs(children, timeout=120)
        return under_way


def _port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def phase_of(data: Path, files_on_disk: int) -> str:
    """What the catalogue says is under way (read while the run goes on)."""
    if not (data / "catalog.sqlite3").exists():
        return "start"
    try:
        with _connect(data) as conn:
            files = conn.execute("SELECT count(*) FROM file WHERE state = 'ok'").fetchone()[0]
            ocr = conn.execute("SELECT count(*) FROM stage WHERE stage = 'ocr'").fetchone()[0]
            content = conn.execute("SELECT count(*) FROM content WHERE state = 1"
                                   ).fetchone()[0]
    except sqlite3.Error:
        return "start"
    if files < files_on_disk:
        return "scan"
    return "ocr" if ocr < content else "idle"


def _connect(data: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{data / 'catalog.sqlite3'}?mode=ro", uri=True)


def snapshot(data: Path) -> dict[str, Any]:
    if not (data / "catalog.sqlite3").exists():
        return {"stages": {}, "content": {}}
    with _connect(data) as conn:
        return {
            "stages": {(cid, stage): ns for cid, stage, ns in conn.execute(
                "SELECT content_id, stage, updated_ns FROM stage")},
            "content": {sha: (cid, added) for sha, cid, added in conn.execute(
                "SELECT sha256, id, added_ns FROM content")},
        }


def check(data: Path, before: dict[str, Any]) -> list[str]:
    """Problems with the catalogue (empty: none)."""
    problems: list[str] = []
    if not (data / "catalog.sqlite3").exists():
        return problems
    with _connect(data) as conn:
        if conn.execute("PRAGMA integrity_check").fetchone() != ("ok",):
            problems.append("integrity_check failed")
        queries = {
            "ok files without content": "SELECT count(*) FROM file"
                                        " WHERE state = 'ok' AND content_id IS NULL",
            "content present without an ok file": "SELECT count(*) FROM content c WHERE"
                " c.state = 1 AND NOT EXISTS (SELECT 1 FROM file f WHERE f.content_id = c.id"
                " AND f.state = 'ok')",
            "content gone with an ok file": "SELECT count(*) FROM content c WHERE"
                " c.state = -1 AND EXISTS (SELECT 1 FROM file f WHERE f.content_id = c.id"
                " AND f.state = 'ok')",
            "stage rows of unknown content": "SELECT count(*) FROM stage s WHERE NOT EXISTS"
                " (SELECT 1 FROM content c WHERE c.id = s.content_id)",
            "OCR results of unknown content": "SELECT count(*) FROM ocr_result o WHERE NOT"
                " EXISTS (SELECT 1 FROM content c WHERE c.id = o.content_id)",
            "OCR done without its result": "SELECT count(*) FROM stage s WHERE"
                " s.stage = 'ocr' AND s.status = 'done' AND NOT EXISTS"
                " (SELECT 1 FROM ocr_result o WHERE o.content_id = s.content_id)",
            "errors recorded": "SELECT count(*) FROM file WHERE state = 'error'",
        }
        for what, sql in queries.items():
            count = conn.execute(sql).fetchone()[0]
            if count:
                problems.append(f"{what}: {count}")
    after = snapshot(data)
    redone = [key for key, ns in before["stages"].items() if after["stages"].get(key) != ns]
    if redone:
        problems.append(f"model results redone or lost: {len(redone)}")
    changed = [sha for sha, row in before["content"].items() if after["content"].get(sha) != row]
    if changed:
        problems.append(f"content decoded again or lost: {len(changed)}")
    return problems


def burst(library: Path, rng: random.Random, next_seed: int) -> int:
    """New files and renames, for a daemon's watcher to be busy with."""
    folder = library / f"burst-{next_seed}"
    folder.mkdir()
    for i in range(30):
        draw(folder / f"{i}.png", next_seed + i)
    names = sorted(library.glob("base/*.png"))
    for path in rng.sample(names, min(10, len(names))):
        path.rename(path.with_name(f"renamed-{next_seed}-{path.name}"))
    return next_seed + 30


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-wait", type=float, default=30.0,
                        help="each run is killed 0.5 s to this many seconds after it starts")
    args = parser.parse_args()
    print(machine_line())
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="pximse-kill-loop-"))
    library, data = work / "lib", work / "data"
    (library / "base").mkdir(parents=True)
    for i in range(args.images):
        draw(library / "base" / f"{i}.png", i)
    config = work / "config.toml"
    config.write_text(f'[[library.roots]]\nname = "lib"\npath = "{library}"\n'
                      '[models]\ntagger = ""\nclip = ""\nocr = "rapidocr"\nbatch_size = 4\n'
                      '[watch]\ndebounce_ms = 200\n')
    phases: dict[str, int] = {}
    problems: list[str] = []
    kills = 0
    seed = 10_000
    started = time.monotonic()
    try:
        while kills < args.kills:
            kind = "index" if kills % 2 == 0 else "serve"
            before = snapshot(data)
            run = Run(kind, config, data, work / "runs.log")
            if kind == "serve" and kills % 4 == 3:
                time.sleep(rng.uniform(2.0, 4.0))
                seed = burst(library, rng, seed)
            wait = rng.uniform(0.5, args.max_wait)
            on_disk = sum(1 for _ in library.rglob("*.png"))
            phase = run.kill_after(wait, lambda n=on_disk: phase_of(data, n))
            if phase is None:
                progress(f"{kind} ended before its kill at {wait:.1f}s")
                continue
            kills += 1
            phases[f"{kind}:{phase}"] = phases.get(f"{kind}:{phase}", 0) + 1
            found = check(data, before)
            progress(f"kill {kills}: {kind} after {wait:.1f}s ({phase}): "
                     + ("; ".join(found) or "consistent, nothing redone"))
            problems += [f"kill {kills}: {p}" for p in found]
        before = snapshot(data)
        final = subprocess.run(pximse("index", "--config", str(config), "--data-dir", str(data)),
                               capture_output=True, text=True, timeout=3600)
        if final.returncode != 0:
            problems.append(f"the last index failed: {final.stderr[-500:]}")
        problems += [f"last run: {p}" for p in check(data, before)]
        on_disk = {str(p) for p in library.rglob("*.png")}
        with _connect(data) as conn:
            catalogued = [row[0] for row in
                          conn.execute("SELECT path FROM file WHERE state = 'ok'")]
            missing_ocr = conn.execute(
                "SELECT count(*) FROM content c WHERE c.state = 1 AND NOT EXISTS (SELECT 1 FROM"
                " stage s WHERE s.content_id = c.id AND s.stage = 'ocr')").fetchone()[0]
        if sorted(catalogued) != sorted(on_disk):
            problems.append(f"catalogue has {len(catalogued)} files, the disk {len(on_disk)}")
        if missing_ocr:
            problems.append(f"{missing_ocr} images without OCR after the last run")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.monotonic() - started
    ok = not problems
    detail = (f"{kills} kills ({', '.join(f'{k} {v}' for k, v in sorted(phases.items()))}) "
              f"in {seconds:.0f}s; " + ("integrity ok, nothing lost, duplicated or redone"
                                        if ok else "; ".join(problems[:5])))
    verdict("kill -9 loop", ok, detail)
    emit_result({"name": "kill_loop", "pass": ok, "kills": kills, "phases": phases,
                 "problems": problems, "seconds": round(seconds, 1)})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
