"""An idle daemon (watching, nothing to do) uses under 1% of one core,
averaged over a minute.

A real ``pximse serve --no-models`` watches a root of 2,000 files in 100
folders (so there are watches to keep); once its start-up scan is over, its
CPU time (with every child process) is measured over ``--seconds``. Baseline,
in the same run: the same daemon with watching off (``--no-watch``); the
difference is what watching costs.

    .venv/bin/python bench/watch_idle.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from _common import emit_result, machine_line, progress, verdict
from _watch_common import start_daemon, wait_for, write_tree

TARGET_SHARE = 0.01


def cpu_seconds(process: psutil.Process) -> float:
    total = 0.0
    for proc in [process, *process.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def idle_share(work: Path, library: Path, seconds: float, *args: str) -> float:
    daemon, port = start_daemon(work, {"lib": library}, "--no-models", *args)
    try:
        def settled() -> bool:
            body = httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=10).json()
            return bool(body["scan"].get("last")) and not body["scan"]["running"]

        wait_for(settled, 300, 0.5)
        time.sleep(2.0)  # the start-up work's tail (warming, pool shutdown)
        process = psutil.Process(daemon.pid)
        before, started = cpu_seconds(process), time.monotonic()
        time.sleep(seconds)
        used = cpu_seconds(process) - before
        return used / (time.monotonic() - started)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    print(machine_line())
    work = Path(tempfile.mkdtemp(prefix="pximse-bench-idle-"))
    try:
        library = work / "lib"
        progress("making 2000 files in 100 folders")
        write_tree(library, 2000, per_folder=20)
        progress(f"baseline: the daemon without watching, {args.seconds:.0f} s")
        baseline = idle_share(work / "unwatched", library, args.seconds, "--no-watch")
        progress(f"watching, {args.seconds:.0f} s")
        watching = idle_share(work / "watched", library, args.seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"idle daemon: watching {watching * 100:.2f}% of one core, without watching "
          f"{baseline * 100:.2f}% (watching adds {(watching - baseline) * 100:.2f} points); "
          f"ratio {watching / baseline if baseline else float('inf'):.1f}x")
    ok = watching < TARGET_SHARE
    line = verdict("idle daemon", ok, f"{watching * 100:.2f}% of one core over "
                                      f"{args.seconds:.0f} s (target < 1%)")
    emit_result({"pass": ok, "share": watching, "baseline_share": baseline,
                 "seconds": args.seconds, "verdicts": [line]})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
