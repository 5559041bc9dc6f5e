"""The daemon's side of background indexing: one worker process
(``service.index_child``) at a time, started when there is work, told about
new files, paused and resumed, and stopped cleanly with the daemon.

Whether there is work is asked of the catalogue before a worker starts: each
configured stage's model id (no model is loaded for it) and one indexed lookup
for an image that still needs it. On an unchanged library no worker starts,
so no runtime (onnxruntime, PyTorch, RapidOCR) is loaded at all."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from typing import IO, Any

from pximse.config import Config
from pximse.service.state import DaemonState

__all__ = ["BackgroundIndexer"]

log = logging.getLogger(__name__)

STOP_WAIT_S = 60.0
"""How long stopping waits for the batch in hand to finish before killing the worker."""


class BackgroundIndexer:
    def __init__(self, config: Config, state: DaemonState, *, new_after: int,
                 catalog: Any = None) -> None:
        self.config = config
        self.state = state
        self.new_after = new_after
        self.catalog = catalog
        self._lock = threading.Lock()
        self._child: subprocess.Popen[str] | None = None
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0  # worker processes started (for tests and status)

    # -- control -------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="indexer", daemon=True)
        self._thread.start()
        self.wake()

    def wake(self) -> None:
        """There may be new work: tell the worker, or start one."""
        self._wanted.set()
        self._send("wake")

    def restart(self) -> None:
        """A stage's weights arrived: a worker that planned without it stops
        after its batch, and the next one starts with it."""
        self._send("stop")
        self.wake()

    def pause(self) -> None:
        self.state.set_indexing(paused=True)
        self.state.set_stage_state("paused")
        self._send("pause")

    def resume(self) -> None:
        self.state.set_indexing(paused=False)
        self.state.set_stage_state("running")
        self._send("resume")
        self.wake()

    def begin_stop(self) -> None:
        self._stopping.set()
        self._wanted.set()
        self._send("stop")

    def stop(self, timeout: float = STOP_WAIT_S) -> None:
        """Let the worker finish and commit the batch in hand, then end it."""
        self.begin_stop()
        with self._lock:
            child = self._child
        if child is not None:
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("the indexing worker did not stop in %.0fs: killing it", timeout)
                child.kill()
                child.wait()
        if self._thread is not None:
            self._thread.join(5)

    # -- the worker ------------------------------------------------------------------

    def _send(self, command: str) -> None:
        with self._lock:
            child = self._child
            if child is None or child.stdin is None or child.poll() is not None:
                return
            try:
                child.stdin.write(command + "\n")
                child.stdin.flush()
            except (OSError, ValueError):  # it is exiting; the loop sees that
                pass

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wanted.wait()
            if self._stopping.is_set():
                break
            self._wanted.clear()
            try:
                if not self._has_work():
                    self.state.set_stage_state("paused" if self.state.paused else "idle")
                    self.state.publish_status(unless_within_s=0)
                    continue
                self._run_worker()
            except Exception:  # keep serving searches; the next wake tries again
                log.exception("the indexing worker failed")
                self.state.error("", "indexing", "the indexing worker failed; see the log")

    def _has_work(self) -> bool:
        """Whether any image waits for a stage that can run (see the module docstring)."""
        if self.catalog is None:
            return True
        from pximse.pipeline.build import downloadable_weights, plan_stages

        try:
            plan = plan_stages(self.config, allow_download=False, for_running=False)
            if plan.needs_repair():
                self.state.set_stage_plan(plan.describe())
                return True
            # open_clip's weights for a PyTorch CLIP: only the worker can fetch them.
            models = self.config.models
            if models.allow_download and not models.clip_path and "clip" in \
                    plan.missing_weights - set(downloadable_weights(self.config)):
                self.state.set_stage_plan(plan.describe())
                return True
            pending = plan.pending(self.catalog)
            self.state.set_stage_plan(plan.describe(), pending)
        except Exception:  # asking must never keep the work from being done
            log.exception("could not tell whether images need a model; starting the worker")
            return True
        log.info("images waiting for each stage: %s", pending or "no stage can run")
        return any(pending.values())

    def _run_worker(self) -> None:
        command = [
            sys.executable, "-m", "pximse.service.index_child",
            "--config", str(self.config.config_path), "--data-dir", str(self.config.data_dir),
            "--new-after", str(self.new_after), "--parent", str(os.getpid()),
        ]
        if self.state.paused:
            command.append("--paused")
        env = dict(os.environ)
        if self.config.models.allow_download:
            env.pop("HF_HUB_OFFLINE", None)  # set in this process only so that it never waits
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True, bufsize=1, env=env)
        with self._lock:
            self._child = child
        self.runs += 1
        self.state.set_indexing(running=True)
        try:
            assert child.stdout is not None
            self._follow(child.stdout)
            child.wait()
        finally:
            with self._lock:
                self._child = None
            self.state.set_indexing(running=False)
            self.state.set_stage_state("paused" if self.state.paused else "idle")
        if child.returncode not in (0, -15) and not self._stopping.is_set():
            self.state.models["error"] = (
                f"the indexing worker exited with status {child.returncode}; see the log")
            self.state.error("", "indexing", self.state.models["error"])

    def _follow(self, stdout: IO[str]) -> None:
        state = self.state
        for line in stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "stage" in message:
                state.stage_progress(message["stage"], message["done"], message["total"],
                                     message["rate"], message["eta_s"],
                                     "paused" if state.paused else "running")
                state.models.setdefault("progress", {})[message["stage"]] = message
            elif "plan" in message:
                state.models["stages"] = message["plan"]
                state.set_stage_plan(message["plan"])
            elif "report" in message:
                if message["report"]["images"] or state.models.get("last") is None:
                    state.models["last"] = message["report"]  # the last run that did work
            elif "state" in message:
                if message["state"] == "idle":
                    self._wanted.clear()  # it has done all there was; a wake sets this again
                state.set_indexing(running=message["state"] in ("running", "paused",
                                                                "waiting for idle CPU"))
                state.set_stage_state(message["state"])
                state.publish_status(unless_within_s=0)
