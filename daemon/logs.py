"""Log files: one rotating file per long-running process, in the platform's log folder.

The daemon (``pximse serve``) writes ``daemon.log`` and the tray icon
(``pximse tray``) writes ``tray.log``: separate files, because two processes
rotating one file would lose lines. The folder is the platform's own
(``~/.local/state/pximse/log`` on Linux, ``%LOCALAPPDATA%\\pximse\\Logs`` on
Windows, ``~/Library/Logs/pximse`` on macOS), or ``PXIMSE_LOG_DIR``.

The file records INFO and up even when the terminal shows only warnings, so
that what a background process did can be read afterwards; a crash's
traceback (an uncaught exception in any thread) is written there too.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType

import platformdirs

from pximse.config.data_folder import make_private_folder
from pximse.config.paths import APP_NAME, expand_path

__all__ = [
    "BACKUP_COUNT",
    "LOG_DIR_ENV",
    "MAX_BYTES",
    "default_log_dir",
    "log_dir",
    "log_file",
    "log_to_file",
]

LOG_DIR_ENV = "PXIMSE_LOG_DIR"
MAX_BYTES = 5 * 1024 * 1024
"""A file is rotated when it would grow past this (``daemon.log`` becomes ``daemon.log.1``)."""
BACKUP_COUNT = 5
"""Rotated files kept beside the current one (``.1`` newest to ``.5`` oldest)."""
FILE_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"

log = logging.getLogger(__name__)


def default_log_dir() -> Path:
    """The platform's log folder for PxIMSE."""
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def log_dir(env: Mapping[str, str] | None = None) -> Path:
    """``PXIMSE_LOG_DIR`` when set (``~`` and ``$VARS`` expanded), else the platform's."""
    env = os.environ if env is None else env
    named = env.get(LOG_DIR_ENV, "")
    return expand_path(named, env, Path.cwd()) if named else default_log_dir()


def log_file(name: str, env: Mapping[str, str] | None = None) -> Path:
    """Where the process called ``name`` (``daemon``, ``tray``) writes its log."""
    return log_dir(env) / f"{name}.log"


def log_to_file(
    name: str,
    *,
    level: int = logging.INFO,
    env: Mapping[str, str] | None = None,
    max_bytes: int = MAX_BYTES,
    backup_count: int = BACKUP_COUNT,
) -> Path | None:
    """Add a rotating file handler for ``name`` to the root logger, and return
    the file's path (None, with a warning, when the folder cannot be written:
    a process must not fail to start for want of a log).

    The handlers already there (the terminal's) keep the level they showed
    before, so asking the file for INFO does not make the terminal chattier.
    """
    path = log_file(name, env)
    try:
        make_private_folder(path.parent)  # the log names the library's files
        handler = RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8"
        )
    except OSError as exc:
        log.warning("cannot write the log file %s: %s", path, exc.strerror or exc)
        return None
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    root = logging.getLogger()
    shown = root.getEffectiveLevel()
    handler.setLevel(min(level, shown))  # -vv on the terminal: debug lines in the file too
    for existing in root.handlers:
        if existing.level == logging.NOTSET:
            existing.setLevel(shown)
    root.addHandler(handler)
    root.setLevel(min(shown, level))
    _log_uncaught_exceptions(handler)
    return path


def _log_uncaught_exceptions(handler: logging.Handler) -> None:
    """Write a crash's traceback to the log file too (the terminal gets it from
    Python's own hook, so through a logger of its own that reaches only the file)."""
    crash = logging.getLogger("pximse.crash")
    crash.propagate = False
    crash.addHandler(handler)
    if getattr(sys.excepthook, "_pximse_logs", False):
        return
    previous_hook = sys.excepthook
    previous_thread_hook = threading.excepthook

    def hook(kind: type[BaseException], value: BaseException,
             traceback: TracebackType | None) -> None:
        if not issubclass(kind, KeyboardInterrupt):
            crash.critical("uncaught exception", exc_info=(kind, value, traceback))
        previous_hook(kind, value, traceback)

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is not SystemExit and args.exc_value is not None:
            name = args.thread.name if args.thread is not None else "?"
            crash.critical("uncaught exception in thread %s", name,
                         exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
        previous_thread_hook(args)

    hook._pximse_logs = True  # type: ignore[attr-defined]
    sys.excepthook = hook
    threading.excepthook = thread_hook
