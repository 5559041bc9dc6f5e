"""A model in its own process: for runtimes that must not share the daemon's process.

Some runtimes do not get along inside one process: with torch 2.14 + torchvision
0.29 and tensorflow-cpu 2.21 installed together, importing TensorFlow before
torchvision kills the process inside triton, and TensorFlow, torch and Paddle
each want their own CUDA set-up. Such a model runs here, in a child process that
only it lives in, and the daemon talks to it over a pipe.

* The child is started with the ``spawn`` method (never ``fork``: a forked child
  would inherit the parent's torch/CUDA state), lazily, on the first call.
* It builds its adapter from a :class:`WorkerSpec`: ``"module:callable"`` plus
  keyword arguments, all picklable; environment variables in ``spec.env`` are
  set before that import, so a runtime reads them when it starts.
* Each call sends a method name and its arguments (numpy arrays, lists, plain
  values) and gets back the method's result, or the exception's text as a
  :class:`WorkerError`.
* If the child has died (killed, out of memory, a crash in native code), the
  call starts a new one and tries once more; if that one dies too,
  :class:`WorkerDied` says so with the exit code. A later call tries again.
* :meth:`ModelWorker.close` (and ``atexit``) stops it; on Linux the child also
  asks the kernel for ``SIGKILL`` when its parent dies (``PR_SET_PDEATHSIG``),
  so a killed daemon leaves no model process behind.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["ModelWorker", "WorkerDied", "WorkerError", "WorkerSpec"]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_POLL_S = 0.2
_STOP_WAIT_S = 5.0


class WorkerError(RuntimeError):
    """The model raised in its process; the message carries its traceback."""


class WorkerDied(WorkerError):
    """The model's process died, and again after one restart."""


@dataclass(frozen=True)
class WorkerSpec:
    """How the child builds its adapter: ``factory`` is ``"package.module:callable"``."""

    factory: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.factory


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _build(spec: WorkerSpec) -> Any:
    module_name, _, attr = spec.factory.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(**dict(spec.kwargs))


def _child_main(conn: Connection, spec: WorkerSpec, parent_pid: int) -> None:
    """The child's whole life: build the adapter, then answer calls until told to stop."""
    _die_with_parent(parent_pid)
    os.environ.update(spec.env)
    try:
        adapter = _build(spec)
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        return
    conn.send(("ready", dict(getattr(adapter, "info", {}) or {})))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        method, args, kwargs = message
        try:
            result = getattr(adapter, method)(*args, **kwargs)
        except Exception:
            conn.send(("error", traceback.format_exc()))
            continue
        conn.send(("ok", result))


class _Died(Exception):
    pass


class ModelWorker:
    """One child process holding one adapter; thread-safe, one call at a time."""

    def __init__(self, spec: WorkerSpec, *, start_timeout_s: float = 600.0) -> None:
        self.spec = spec
        self.start_timeout_s = start_timeout_s
        self.info: dict[str, Any] = {}
        self.restarts = 0
        self._lock = threading.Lock()
        self._process: Any = None
        self._conn: Connection | None = None
        self._atexit = weakref.WeakMethod(self.close)
        atexit.register(_close_at_exit, self._atexit)

    @property
    def pid(self) -> int | None:
        process = self._process
        return None if process is None else process.pid

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def start(self) -> None:
        """Start the child now (a call starts it anyway); raises if its adapter fails."""
        with self._lock:
            if not self.alive:
                self._start()

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``adapter.method(*args, **kwargs)`` in the child; restarts a dead child once."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    if not self.alive:
                        if self._process is not None:
                            self._note_death("before the call")
                        self._start()
                    return self._roundtrip((method, args, kwargs))
                except _Died as died:
                    self._note_death(str(died))
                    if attempt == 2:
                        raise WorkerDied(
                            f"{self.spec.label}: its process died twice in a row "
                            f"({died}); see the log above for why (out of memory, a crash "
                            "in the runtime); the next call starts it again"
                        ) from None
            raise AssertionError("unreachable")

    def close(self) -> None:
        """Ask the child to stop; kill it if it does not within a few seconds."""
        with self._lock:
            self._stop()

    def __enter__(self) -> ModelWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals (called with the lock held) --

    def _start(self) -> None:
        self._stop()
        context = multiprocessing.get_context("spawn")
        parent_conn, child_conn = context.Pipe()
        process = context.Process(
            target=_child_main,
            args=(child_conn, self.spec, os.getpid()),
            name=f"pximse-model-{self.spec.label}",
            daemon=True,
        )
        started = time.perf_counter()
        process.start()
        child_conn.close()
        self._process, self._conn = process, parent_conn
        try:
            status, payload = self._receive(self.start_timeout_s)
        except _Died as died:
            self._stop()
            raise WorkerDied(
                f"{self.spec.label}: its process died while starting ({died})"
            ) from None
        if status != "ready":
            self._stop()
            raise WorkerError(f"{self.spec.label}: could not start:\n{payload}")
        self.info = payload
        log.info(
            "%s: started in process %d in %.1fs",
            self.spec.label,
            process.pid,
            time.perf_counter() - started,
        )

    def _roundtrip(self, message: Any) -> Any:
        assert self._conn is not None
        try:
            self._conn.send(message)
        except (BrokenPipeError, ConnectionResetError, EOFError, OSError) as e:
            raise _Died(f"could not send to it: {e}") from None
        status, payload = self._receive(None)
        if status == "error":
            raise WorkerError(f"{self.spec.label} failed:\n{payload}")
        return payload

    def _receive(self, timeout_s: float | None) -> tuple[str, Any]:
        assert self._conn is not None and self._process is not None
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            try:
                if self._conn.poll(_POLL_S):
                    return self._conn.recv()  # type: ignore[no-any-return]
            except (EOFError, OSError):
                self._process.join(_STOP_WAIT_S)
                raise _Died(self._exit_text()) from None
            if not self._process.is_alive():
                raise _Died(self._exit_text())
            if deadline is not None and time.monotonic() > deadline:
                self._stop()
                raise WorkerError(f"{self.spec.label}: not ready after {timeout_s:.0f}s")

    def _exit_text(self) -> str:
        code = None if self._process is None else self._process.exitcode
        if code is None:
            return "its pipe closed"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"

    def _note_death(self, how: str) -> None:
        self.restarts += 1
        log.warning("%s: its process died (%s); starting it again", self.spec.label, how)
        self._stop()

    def _stop(self) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            try:
                if process is not None and process.is_alive():
                    conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            conn.close()
        if process is not None:
            process.join(_STOP_WAIT_S)
            if process.is_alive():
                process.kill()
                process.join(_STOP_WAIT_S)
            process.close()


def _close_at_exit(ref: weakref.WeakMethod[Any]) -> None:
    close = ref()
    if close is not None:
        close()
