"""What the icon shows, read from the daemon's ``/api/status``.

Pure functions of the status JSON, so the look of every state is tested
without a display. The status may come from a daemon older than the live
status API (no ``indexing`` key): the scan and model-run fields it has are
read instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Kind", "TrayState", "state_from_status", "status_lines"]

Kind = Literal["idle", "indexing", "paused", "error"]


@dataclass(frozen=True)
class TrayState:
    kind: Kind
    title: str
    """The icon's tooltip: one line."""
    progress: float | None = None
    """0..1 while indexing, when the amount of work is known."""
    paused: bool = False
    reachable: bool = True


def state_from_status(status: Mapping[str, Any] | None, problem: str | None = None) -> TrayState:
    """The state for a status (None when the daemon did not answer; ``problem`` says why)."""
    if status is None:
        return TrayState("error", f"PxIMSE: {problem or 'the daemon is not answering'}",
                         reachable=False)
    indexing = status.get("indexing") or {}
    paused = bool(indexing.get("paused"))
    trouble = _daemon_trouble(status)
    if trouble:
        return TrayState("error", f"PxIMSE: {trouble}", paused=paused)
    if paused:
        return TrayState("paused", f"PxIMSE: indexing paused · {_count(status)}", paused=True)
    work = _work(status)
    if work is not None:
        label, done, total = work
        progress = done / total if total else None
        percent = f" {progress:.0%}" if progress is not None else ""
        rate = _overall_rate(status)
        return TrayState("indexing", f"PxIMSE: {label}{percent}"
                         + (f" · {rate}" if rate else ""), progress=progress)
    waiting = _waiting_for_weights(status)
    return TrayState("idle", f"PxIMSE: idle · {_count(status)}"
                     + (f" · {', '.join(waiting)} waiting for weights" if waiting else ""))


def _weights(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Each model's weights download, as the daemon reports it (``models.weights``)."""
    weights = (status.get("models") or {}).get("weights") or {}
    return {name: value for name, value in weights.items() if isinstance(value, Mapping)}


def _waiting_for_weights(status: Mapping[str, Any]) -> list[str]:
    return sorted(name for name, entry in _weights(status).items()
                  if entry.get("state") in ("waiting", "missing"))


def _count(status: Mapping[str, Any]) -> str:
    return f"{int(status.get('images') or 0):,} images"


def _daemon_trouble(status: Mapping[str, Any]) -> str | None:
    """A failure of the daemon's own work (not one bad file: those are listed,
    they do not turn the icon red)."""
    data_folder = status.get("data_folder")
    if isinstance(data_folder, Mapping) and data_folder.get("message"):
        return str(data_folder["message"])  # a full disk: the work waits for room
    models = status.get("models") or {}
    if isinstance(models, Mapping) and models.get("error"):
        return str(models["error"])
    last_scan = (status.get("scan") or {}).get("last") or {}
    if isinstance(last_scan, Mapping) and last_scan.get("error"):
        return str(last_scan["error"])
    roots = ((status.get("watch") or {}).get("roots") or {})
    offline = sorted(name for name, state in roots.items() if state == "offline")
    if offline:
        return f"library folder offline: {', '.join(offline)}"
    return None


def _stages(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Each model stage's progress: the live API's ``indexing.stages``, or the
    older ``models.progress``."""
    stages = (status.get("indexing") or {}).get("stages")
    if not stages:
        stages = (status.get("models") or {}).get("progress") or {}
    return {name: value for name, value in stages.items() if isinstance(value, Mapping)}


def _work(status: Mapping[str, Any]) -> tuple[str, int, int] | None:
    """What the daemon is busy with: a label, work done and the total."""
    scan = status.get("scan") or {}
    if scan.get("running"):
        progress = scan.get("progress") or {}
        return "scanning", int(progress.get("done") or 0), int(progress.get("total") or 0)
    downloading = [w for w in _weights(status).values() if w.get("state") == "downloading"]
    if downloading:
        return ("downloading model weights", sum(int(w.get("done") or 0) for w in downloading),
                sum(int(w.get("total") or 0) for w in downloading))
    indexing = status.get("indexing") or {}
    stages = _stages(status)
    busy = {name: s for name, s in stages.items()
            if int(s.get("done") or 0) < int(s.get("total") or 0)}
    running = indexing.get("running") if "running" in indexing else \
        (status.get("models") or {}).get("running")
    if running and busy:
        done = sum(int(s.get("done") or 0) for s in busy.values())
        total = sum(int(s.get("total") or 0) for s in busy.values())
        return "indexing", done, total
    return None


def _overall_rate(status: Mapping[str, Any]) -> str:
    """The slowest busy stage's time left: when the whole queue is done."""
    etas = [float(s["eta_s"]) for s in _stages(status).values()
            if s.get("eta_s") is not None and int(s.get("done") or 0) < int(s.get("total") or 0)]
    return f"{_duration(max(etas))} left" if etas else ""


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def status_lines(status: Mapping[str, Any] | None, problem: str | None = None,
                 where: str = "") -> list[str]:
    """The status as lines of text for the status window: counts, what is
    running with rate and time left, the library folders, the last errors."""
    state = state_from_status(status, problem)
    lines = [state.title.removeprefix("PxIMSE: ").capitalize()]
    if where:
        lines.append(where)
    if status is None:
        return lines
    lines.append(
        f"{int(status.get('images') or 0):,} images ({int(status.get('images_offline') or 0):,} "
        f"offline), {int(status.get('files') or 0):,} files, {int(status.get('tags') or 0):,} "
        f"tags, {int(status.get('errors') or 0):,} errors"
    )
    indexing = status.get("indexing") or {}
    if indexing:
        lines.append("Indexing: " + ("paused" if indexing.get("paused") else
                                     "running" if indexing.get("running") else "idle"))
    for name, stage in sorted(_stages(status).items()):
        done, total = int(stage.get("done") or 0), int(stage.get("total") or 0)
        parts = [f"  {name}: {done:,}/{total:,}"]
        if stage.get("rate"):
            parts.append(f"{float(stage['rate']):.1f} images/s")
        if stage.get("eta_s") is not None and done < total:
            parts.append(f"about {_duration(float(stage['eta_s']))} left")
        if stage.get("state"):
            parts.append(str(stage["state"]))
        lines.append(", ".join(parts))
    scan = status.get("scan") or {}
    if scan.get("running"):
        progress = scan.get("progress") or {}
        lines.append(f"Scan: running ({progress.get('phase', 'walking')} "
                     f"{progress.get('done', 0)}/{progress.get('total', '?')})")
    watched = (status.get("watch") or {}).get("roots") or {}
    for root in status.get("roots") or []:
        if not isinstance(root, Mapping):
            continue
        name = root.get("name", "?")
        mode = watched.get(name) or ("online" if root.get("online", True) else "OFFLINE")
        lines.append(f"Folder {name}: {root.get('path', '')} ({mode}, "
                     f"{int(root.get('files') or 0):,} files)")
    errors = status.get("recent_errors") or []
    if errors:
        lines.append("Last errors:")
        for error in errors[:5]:
            reason = error.get("reason") or error.get("message") or ""
            lines.append(f"  {error.get('path', '?')}: {reason}")
    return lines
