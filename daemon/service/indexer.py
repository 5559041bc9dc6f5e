"""The daemon's side of background indexing: one worker process
(``service.index_child``) at a time, started when there is work, told about
new files, paused and resumed, and stopped cleanly with the daemon.

Whether there is work is asked of the catalogue before a worker starts: each
configured stage's model id (no model is loaded for it) and one indexed lookup
for an image that still needs it. On an unchanged library no worker starts,
so no runtime (onnxruntime, PyTorch, RapidOCR) is loaded at all.

The worker is supervised. When it dies (the kernel's OOM killer, a crash in a
runtime's native code, a kill) while work remains, a new one starts after a
backoff (:data:`RESTART_BACKOFF_S`, longer after each death in a row, reset
once a worker gets a batch done), and the status says so meanwhile. The
images it had in hand when it died are suspects: the next worker runs them
one at a time first, and one that kills the worker :data:`QUARANTINE_AFTER`
times while alone in hand is quarantined (recorded as failed, with why:
``pipeline.isolation``), so one image can never stall the rest.
"""

from __future__ import annotations

import json
import logging
import os
import signal
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
RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0)
"""The wait before a dead worker's successor starts, by deaths in a row."""
QUARANTINE_AFTER = 2
"""Deaths with one image alone in hand after which that image is quarantined."""


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
        self.deaths = 0  # workers that died while work remained
        self._deaths_in_row = 0
        self._progressed = False  # the running worker got a batch done
        self._in_hand: list[int] = []
        self._suspects: set[int] = set()  # in hand when a worker died: to run alone
        self._alone_deaths: dict[int, int] = {}  # content id -> deaths while alone in hand
        self._quarantine: dict[int, str] = {}  # content id -> why: the next worker records it
        self.quarantined = 0

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
                if not (self._suspects or self._quarantine or self._has_work()):
                    self.state.set_stage_state("paused" if self.state.paused else "idle")
                    self.state.publish_status(unless_within_s=0)
                    continue
                death = self._run_worker()
            except Exception:  # keep serving searches; the next wake tries again
                log.exception("the indexing worker failed")
                self.state.error("", "indexing", "the indexing worker failed; see the log")
                continue
            if death is not None and not self._stopping.is_set():
                self._restart_after(death)

    def _restart_after(self, death: str) -> None:
        """A worker died with work left: start another after a backoff."""
        self.deaths += 1
        self._deaths_in_row += 1
        wait = RESTART_BACKOFF_S[min(self._deaths_in_row, len(RESTART_BACKOFF_S)) - 1]
        message = (f"the indexing worker died ({death}); a new one starts in {wait:.0f} s"
                   + (f", trying the {len(self._suspects)} images it had in hand one at a "
                      "time" if self._suspects else ""))
        log.warning("%s", message)
        self.state.models["error"] = message
        self.state.error("", "indexing", message)
        self.state.set_worker(deaths=self.deaths, last_death=death, in_hand=[],
                              suspects=sorted(self._suspects))
        self.state.set_stage_state(f"restarting in {wait:.0f} s")
        self.state.publish_status(unless_within_s=0)
        if not self._stopping.wait(wait):
            self._wanted.set()

    def _note_death(self, returncode: int) -> str:
        """Why the worker died; its images in hand become suspects, and one that
        was alone in hand counts towards quarantine."""
        if returncode < 0:
            try:
                how = f"killed by {signal.Signals(-returncode).name}"
            except ValueError:
                how = f"killed by signal {-returncode}"
            if -returncode == signal.SIGKILL:
                how += ", often the kernel's out-of-memory killer"
        else:
            how = f"exit status {returncode}; see the log"
        in_hand, self._in_hand = self._in_hand, []
        if returncode >= 0 or not in_hand:
            return how  # a Python error or a death between batches: no image to blame
        if len(in_hand) > 1:
            self._suspects.update(in_hand)
            return how
        [content_id] = in_hand
        deaths = self._alone_deaths.get(content_id, 0) + 1
        self._alone_deaths[content_id] = deaths
        if deaths >= QUARANTINE_AFTER:
            self._suspects.discard(content_id)
            self._quarantine[content_id] = (
                f"quarantined: the indexing worker died {deaths} times while working on this "
                f"image alone ({how}); it is not tried again until the file or the model "
                "changes")
        else:
            self._suspects.add(content_id)
        return how

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

    def _run_worker(self) -> str | None:
        """Run one worker to its end; returns why it died when it did not stop
        cleanly (None when it did)."""
        command = [
            sys.executable, "-m", "pximse.service.index_child",
            "--config", str(self.config.config_path), "--data-dir", str(self.config.data_dir),
            "--new-after", str(self.new_after), "--parent", str(os.getpid()),
        ]
        if self._suspects:
            command += ["--isolate", ",".join(map(str, sorted(self._suspects)))]
        if self._quarantine:
            command += ["--quarantine", json.dumps(self._quarantine)]
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
        self._progressed = False
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
        if child.returncode == 0 or self._stopping.is_set():
            self._in_hand = []
            if self._progressed or child.returncode == 0:
                self._deaths_in_row = 0
            return None
        if self._progressed:
            self._deaths_in_row = 0  # it got work done: start the backoff over
        return self._note_death(child.returncode)

    def _follow(self, stdout: IO[str]) -> None:
        state = self.state
        for line in stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "in_hand" in message:
                # What left the hand went through: it did not kill the worker.
                survived = set(self._in_hand) - set(message["in_hand"])
                self._suspects.difference_update(survived)
                for content_id in survived:
                    self._alone_deaths.pop(content_id, None)
                self._in_hand = list(message["in_hand"])
                state.set_worker(in_hand=self._in_hand, suspects=sorted(self._suspects))
            elif "isolated" in message:  # each went through alone: not what kills it
                self._suspects.difference_update(message["isolated"])
                state.set_worker(suspects=sorted(self._suspects))
            elif "quarantined" in message:
                entry = message["quarantined"]
                self._quarantine.pop(int(entry["id"]), None)
                if entry.get("recorded"):
                    self.quarantined += 1
                    state.set_worker(quarantined=self.quarantined)
                    state.error(entry.get("path") or f"image {entry['id']}", "quarantined",
                                entry["message"])
            elif "stage" in message:
                if not self._progressed:
                    self._progressed = True
                    if str(state.models.get("error", "")).startswith("the indexing worker died"):
                        state.models.pop("error", None)  # working again: no longer the truth
                state.stage_progress(message["stage"], message["done"], message["total"],
                                     message["rate"], message["eta_s"],
                                     "paused" if state.paused else "running")
                state.models.setdefault("progress", {})[message["stage"]] = message
            elif "plan" in message:
                state.models["stages"] = message["plan"]
                state.set_stage_plan(message["plan"])
            elif "problem" in message:  # the data folder's disk is full, or back
                state.set_data_folder_problem(message["problem"])
                if "state" in message:
                    state.set_stage_state(message["state"])
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
