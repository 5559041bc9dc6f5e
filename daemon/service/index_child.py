"""The background indexer's worker process: ``python -m pximse.service.index_child``.

The model runtimes (onnxruntime, PyTorch) load here, never in the daemon, so a
crash in one cannot take the daemon down and the daemon stays small while idle.
The worker runs the model stages in priority order (``pipeline.priority``),
then keeps its models loaded and waits for the daemon to say more work came;
after :data:`KEEP_ALIVE_S` without work it exits, and the daemon starts a new
one when it needs one.

Talking to the daemon: commands arrive one per line on stdin (``wake``,
``pause``, ``resume``, ``stop``; end of input means stop), and JSON lines go to
stdout: ``{"plan": ...}``, progress ``{"stage", "done", "total", "rate",
"eta_s", "class"}``, ``{"state": ...}``, ``{"report": ...}``, and
``{"problem": ...}`` while the data folder cannot be written (a full disk: the
batch in hand is not recorded, and the work goes on once there is room;
``{"problem": null}`` then). ``{"in_hand": [ids]}`` names the images in memory
whenever that changes: if the worker dies, the daemon takes them for suspects
and the next worker runs them one at a time first (``--isolate``), then says
``{"isolated": [ids]}``; an image the daemon found killing the worker is
recorded as failed (``--quarantine``) and reported in ``{"quarantined": ...}``
(see ``pipeline.isolation``). Stopping (stop,
end of input, SIGTERM, the daemon's death) finishes the batch in hand, whose
results are committed with everything before it, and exits.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

log = logging.getLogger("pximse.service.index_child")

KEEP_ALIVE_S = 600.0
"""How long a worker with nothing to do keeps its models loaded."""


class Control:
    """The daemon's commands, read from stdin on a thread of their own."""

    def __init__(self, paused: bool) -> None:
        self.stopping = threading.Event()
        self.work = threading.Event()
        self.resumed = threading.Event()
        if not paused:
            self.resumed.set()

    @property
    def paused(self) -> bool:
        return not self.resumed.is_set()

    def read(self, stream: Any) -> None:
        for line in stream:
            command = line.strip()
            if command == "wake":
                self.work.set()
            elif command == "pause":
                self.resumed.clear()
            elif command == "resume":
                self.resumed.set()
                self.work.set()
            elif command == "stop":
                break
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        self.resumed.set()
        self.work.set()


_control: Control | None = None


def emit(**message: Any) -> None:
    try:
        sys.stdout.write(json.dumps(message, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):  # the daemon is gone: finish the batch in hand, stop
        if _control is not None:
            _control.stop()


def _leave_with_parent(parent_pid: int) -> None:
    """Get SIGTERM when the daemon dies, even by ``kill -9`` (Linux)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PDEATHSIG
        except OSError:
            pass
    if parent_pid and os.getppid() != parent_pid:
        sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pximse-index-worker")
    parser.add_argument("--config", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--new-after", type=int, default=0)
    parser.add_argument("--parent", type=int, default=0)
    parser.add_argument("--paused", action="store_true")
    parser.add_argument("--keep-alive", type=float, default=KEEP_ALIVE_S)
    parser.add_argument("--isolate", default="",
                        help="content ids to run one at a time first (comma-separated)")
    parser.add_argument("--quarantine", default="{}",
                        help="JSON {content id: reason} of images to record as failed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    global _control
    control = _control = Control(args.paused)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon decides; it says "stop"
    signal.signal(signal.SIGTERM, lambda *_: control.stop())
    _leave_with_parent(args.parent)
    threading.Thread(target=control.read, args=(sys.stdin,), daemon=True,
                     name="commands").start()
    return run(args, control)


def run(args: argparse.Namespace, control: Control) -> int:
    from pximse.config import load_config
    from pximse.data_folder import data_folder_problem, wait_for_room
    from pximse.models.threads import rest_share
    from pximse.pipeline.build import downloadable_weights, plan_stages
    from pximse.pipeline.isolation import IsolatedBatches, quarantine
    from pximse.pipeline.priority import PriorityBatches
    from pximse.pipeline.runner import run_pipeline
    from pximse.service.throttle import CpuThrottle
    from pximse.store.backends import open_catalog

    config = load_config(args.config, args.data_dir, create=False)
    catalog = open_catalog(config, memory_index=False)  # SQLite or MongoDB, as [backend] says
    # The daemon downloads the fixed weights files (with progress and retries);
    # open_clip's own weights for a PyTorch CLIP are fetched here, if allowed.
    plan = plan_stages(config, catalog, downloaded_elsewhere=downloadable_weights(config))
    emit(plan=plan.describe(runtimes=True))
    if not plan.stages:
        emit(state="unavailable")
        return 0
    plan.prepare(catalog)
    # Each model's threads follow the CPU share; rests make up the rest of it.
    throttle = CpuThrottle(rest_share(config.indexing.cpu_share),
                           config.indexing.only_when_idle,
                           control.stopping, on_wait=lambda state: emit(state=state))
    order = PriorityBatches(args.new_after)
    isolate = [int(part) for part in args.isolate.split(",") if part.strip()]
    try:
        for content_id, reason in json.loads(args.quarantine).items():
            item = quarantine(catalog, plan.stages, int(content_id), reason)
            emit(quarantined={"id": int(content_id), "message": reason,
                              "path": None if item is None else item.path,
                              "recorded": item is not None})
        while not control.stopping.is_set():
            if control.paused:
                emit(state="paused")
                control.resumed.wait()
                continue
            control.work.clear()
            emit(state="running")
            throttle.wait_turn()
            source = IsolatedBatches(isolate) if isolate else order
            try:
                report = run_pipeline(
                    catalog, plan.stages, max_pixels=config.scan.max_image_pixels,
                    batch_size=1 if isolate else config.models.batch_size,
                    progress=_progress(source), batches=source,
                    should_stop=lambda: _between_batches(control, throttle),
                    in_hand=lambda ids: emit(in_hand=ids), decode_ahead=not isolate,
                )
            except Exception as exc:
                problem = data_folder_problem(exc, config.data_dir)
                if problem is None:
                    raise
                log.warning("indexing waits: %s", problem.message)
                emit(problem=problem.to_json(), state="waiting for room")
                if not wait_for_room(problem, control.stopping):
                    break
                emit(problem=None)
                continue
            emit(report=report.to_json())
            if isolate and not control.stopping.is_set():
                emit(isolated=isolate)  # each went through alone: the worker survived it
                isolate = []
                continue
            if report.images or control.stopping.is_set():
                continue  # more may have come meanwhile: look again
            emit(state="idle")
            if not control.work.wait(args.keep_alive):
                break  # nothing to do for a while: free the models' memory
    finally:
        catalog.close()
    emit(state="stopped")
    return 0


def _between_batches(control: Control, throttle: Any) -> bool:
    """After each batch (its results are committed): rest for the CPU share,
    hold while paused, wait for an idle machine; True ends the run."""
    throttle.rest()
    if control.paused and not control.stopping.is_set():
        emit(state="paused")
        control.resumed.wait()
        if not control.stopping.is_set():
            emit(state="running")
    if not control.stopping.is_set():
        throttle.wait_turn()
    return control.stopping.is_set()


def _progress(order: Any) -> Any:
    """Progress lines with the rate and the time left, from one clock (the stages
    take turns on each batch)."""
    started = time.monotonic()

    def callback(stage: str, done: int, total: int) -> None:
        since = time.monotonic() - started
        rate = done / since if since > 0 and done else 0.0
        total = max(total, done)
        eta = (total - done) / rate if rate and total > done else None
        emit(stage=stage, done=done, total=total, rate=round(rate, 3),
             eta_s=None if eta is None else round(eta, 1), **{"class": order.last_class})

    return callback


if __name__ == "__main__":
    sys.exit(main())
