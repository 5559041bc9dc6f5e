"""One long-lived exiftool process (``-stay_open``) that reads and writes many
files per call.

Starting exiftool costs a Perl interpreter's start-up (~0.2 s) per call; kept
open, a read or write costs a millisecond or two per file. Reads go many files
to one command; writes need per-file values, so a batch is many commands
joined by ``-execute`` and sent in one round trip.
"""

from __future__ import annotations

import html
import json
import logging
import os
import select
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "ExiftoolMissing",
    "ExiftoolPool",
    "ExiftoolSession",
    "default_workers",
    "exiftool_value",
    "find_exiftool",
]

log = logging.getLogger(__name__)

PXIMSE_NAMESPACE = "http://ns.pximse.local/xmp/1.0/"
"""The XMP namespace of PxIMSE's own marker (``Xmp.pximse.Sidecar``)."""

# Teaches exiftool the pximse namespace, so it can write the marker that says a
# sidecar was created by PxIMSE (and may be deleted by `pximse xmp remove`).
_CONFIG = f"""
%Image::ExifTool::UserDefined = (
    'Image::ExifTool::XMP::Main' => {{
        pximse => {{ SubDirectory => {{ TagTable => 'Image::ExifTool::UserDefined::pximse' }} }},
    }},
);
%Image::ExifTool::UserDefined::pximse = (
    GROUPS => {{ 0 => 'XMP', 1 => 'XMP-pximse', 2 => 'Image' }},
    NAMESPACE => {{ 'pximse' => '{PXIMSE_NAMESPACE}' }},
    WRITABLE => 'string',
    Sidecar => {{ }},
);
1;
"""


class ExiftoolMissing(RuntimeError):
    """exiftool is not installed (or not where the configuration says)."""


def find_exiftool() -> str:
    """The exiftool executable: ``PXIMSE_EXIFTOOL`` if set, else the one on PATH."""
    named = os.environ.get("PXIMSE_EXIFTOOL", "")
    found = shutil.which(named or "exiftool")
    if found is None:
        raise ExiftoolMissing(
            "exiftool is needed to write XMP sidecars and was not found"
            + (f" at PXIMSE_EXIFTOOL={named!r}" if named else " on PATH")
            + ": install it (Debian/Ubuntu: apt install libimage-exiftool-perl; "
            "macOS: brew install exiftool; Windows: exiftool.org) or set PXIMSE_EXIFTOOL"
        )
    return found


def exiftool_value(text: str) -> str:
    """A value for an argument of a command run with ``-E``: exiftool reads one
    argument per line, so newlines travel as HTML entities (and ``&`` as ``&amp;``)."""
    return (
        html.escape(text, quote=False).replace("\r", "&#13;").replace("\n", "&#10;")
    )


class ExiftoolStopped(RuntimeError):
    """The exiftool process ended in the middle of a conversation."""


def _read_until(fd: int, ending: bytes, block_size: int) -> bytes:
    """pyexiftool's reader, but an exiftool that ends (EOF) raises instead of
    being read from forever: pyexiftool 0.5's loop spins at full CPU on a dead
    process's pipe, which hangs whoever waits for the answer."""
    chunks: list[bytes] = []
    tail = b""
    while not tail.strip().endswith(ending):
        select.select([fd], [], [])
        chunk = os.read(fd, block_size)
        if not chunk:
            raise ExiftoolStopped("exiftool stopped before it answered")
        chunks.append(chunk)
        tail = (tail + chunk)[-(len(ending) + 4):]
    return b"".join(chunks)


def _use_eof_safe_reader(module: Any) -> None:
    if sys.platform != "win32":  # pyexiftool reads differently there (no select)
        module._read_fd_endswith = _read_until


_START_TRIES = 3


class ExiftoolSession:
    """A running exiftool; use as a context manager, or call :meth:`close`."""

    def __init__(self, executable: str | None = None) -> None:
        try:
            import exiftool  # pyexiftool
        except ImportError as exc:
            raise ExiftoolMissing(
                "writing XMP sidecars needs the pyexiftool package: pip install 'pximse[xmp]'"
            ) from exc

        self._config = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as we do
            "w", suffix=".config", prefix="pximse-exiftool-", delete=False, encoding="utf-8"
        )
        self._config.write(_CONFIG)
        self._config.close()
        _use_eof_safe_reader(exiftool.exiftool)
        for attempt in range(1, _START_TRIES + 1):
            self._tool = exiftool.ExifTool(
                executable=executable or find_exiftool(),
                common_args=["-charset", "filename=utf8"],
                config_file=self._config.name,
                encoding="utf-8",
            )
            try:
                self._tool.run()
                break
            except (RuntimeError, OSError) as exc:  # ExiftoolStopped included
                # An exiftool that dies as it starts (seen on a machine short of
                # resources) gets another try before the error is the user's.
                log.warning("exiftool did not start (try %d of %d): %s",
                            attempt, _START_TRIES, exc)
                try:
                    if self._tool.running:
                        self._tool.terminate()
                except Exception:  # noqa: BLE001 - the process is gone either way
                    pass
                if attempt == _START_TRIES:
                    Path(self._config.name).unlink(missing_ok=True)
                    raise

    def __enter__(self) -> ExiftoolSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self._tool.running:
                self._tool.terminate()
        finally:
            Path(self._config.name).unlink(missing_ok=True)

    def read(self, paths: Sequence[str], tags: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``tags`` (``-G1`` names such as ``XMP-dc:Subject``) of each file, by path;
        values are strings or lists of strings, exactly as written (exiftool's
        JSON writes number-like values bare, which would lose ``1.50``'s zero)."""
        if not paths:
            return {}
        output = self._tool.execute(
            "-j", "-G1", *[f"-{tag}" for tag in tags], *[str(p) for p in paths]
        )
        found: dict[str, dict[str, Any]] = {}
        if not output.strip():
            return found
        for record in json.loads(output, parse_float=str, parse_int=str):
            source = record.pop("SourceFile", None)
            if source is not None:
                found[source] = record
        return found

    def run_commands(self, commands: Iterable[Sequence[str]]) -> str:
        """Run many exiftool commands in one round trip; their outputs, joined.
        Whether each one did what it should is for the caller to check on disk."""
        args: list[str] = []
        for command in commands:
            if args:
                args.append("-execute")
            args.extend(command)
        if not args:
            return ""
        output = self._tool.execute(*args)
        errors = self._tool.last_stderr
        if errors and errors.strip():
            log.debug("exiftool: %s", errors.strip())
        return str(output)

    @property
    def last_errors(self) -> str:
        return str(self._tool.last_stderr or "")


def default_workers() -> int:
    """exiftool processes to run side by side: one per core, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


class ExiftoolPool:
    """Several sessions, for writing several batches at once."""

    def __init__(self, count: int = 1, executable: str | None = None) -> None:
        self.sessions: list[ExiftoolSession] = []
        try:
            for _ in range(max(1, count)):
                self.sessions.append(ExiftoolSession(executable))
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> ExiftoolPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for session in self.sessions:
            session.close()
        self.sessions = []
