"""Each model stage over the whole library: how many images it has done, of how
many, and what it is doing now, as one entry per stage of ``/api/status``'s
``library_stages``.

The live counters of a running worker (``indexing.stages``) count one run
only, and start again with each run; a page or a tray that wants "489 of 585"
needs the catalogue's own counts (every image's result per stage and model,
made by :meth:`Catalog.status`) beside the live state. This module only reads
what the snapshot already holds: it costs no query of its own.
"""

from __future__ import annotations

from typing import Any

__all__ = ["STAGE_ORDER", "library_stages", "stage_phase"]

STAGE_ORDER = ("tagger", "ocr", "clip")


def stage_phase(text: str) -> str:
    """The live state's first word, as a code a client can switch on:
    ``unavailable``, ``waiting`` (for weights), ``downloading``, ``running``,
    ``starting``, ``paused``, ``waiting for idle CPU`` reads as ``paused``,
    and everything else (``idle``, ``ready``) as ``idle``."""
    lowered = text.lower()
    for prefix, phase in (("unavailable", "unavailable"), ("waiting for weights", "waiting"),
                          ("downloading", "downloading"), ("running", "running"),
                          ("starting", "starting"), ("paused", "paused"),
                          ("waiting for idle", "paused")):
        if lowered.startswith(prefix):
            return phase
    return "idle"


def _configured(models: Any) -> list[str]:
    names = []
    if models is not None:
        for name, key in (("tagger", "tagger"), ("ocr", "ocr"), ("clip", "clip")):
            if getattr(models, key, ""):
                names.append(name)
    return names


def _failed(counts: dict[str, int]) -> int:
    """Images the model failed on (the catalogue records them as ``error``)."""
    return int(counts.get("error", 0)) + int(counts.get("failed", 0))


def library_stages(snapshot: dict[str, Any], models: Any = None, *,
                   models_enabled: bool = True) -> dict[str, dict[str, Any]]:
    """Per stage: ``done`` (images with the current model's result, or any
    model's while the current one is not known), ``failed``, ``total`` (the
    library's images), ``other_models`` (images with an earlier model's
    result: still searchable while the current one catches up), ``phase``
    (see :func:`stage_phase`), ``state`` (the live state's words, with why a
    stage cannot run and what to do), ``model_id`` and the live run's
    ``rate`` and ``eta_s``.

    ``snapshot`` is the status body so far (the catalogue's counts, the live
    ``indexing`` and ``models`` parts); ``models`` is ``[models]`` of the
    configuration, for the stages configured but not reported yet.
    """
    counts: dict[str, dict[str, dict[str, int]]] = snapshot.get("stages") or {}
    live: dict[str, dict[str, Any]] = (snapshot.get("indexing") or {}).get("stages") or {}
    planned: dict[str, dict[str, Any]] = (snapshot.get("models") or {}).get("stages") or {}
    total = int(snapshot.get("images") or 0)
    names = [n for n in STAGE_ORDER if n in live or n in planned or n in counts
             or n in _configured(models)]
    names += sorted(set(live) | set(counts) - set(names))
    stages: dict[str, dict[str, Any]] = {}
    for name in names:
        by_model = counts.get(name) or {}
        model_id = (planned.get(name) or {}).get("model_id")
        if model_id is not None:
            mine = by_model.get(model_id) or {}
            done, failed = int(mine.get("done", 0)), _failed(mine)
            other = sum(int(c.get("done", 0)) for m, c in by_model.items() if m != model_id)
        else:
            done = sum(int(c.get("done", 0)) for c in by_model.values())
            failed = sum(_failed(c) for c in by_model.values())
            other = 0
        entry = live.get(name) or {}
        state = str(entry.get("state") or "")
        if not state and (planned.get(name) or {}).get("state") == "unavailable":
            state = f"unavailable: {planned[name].get('message', '')}"
        if not state:
            state = "idle" if models_enabled else "not run by this daemon (--no-models)"
        stages[name] = {
            "done": min(done, total),
            "failed": min(failed, total),
            "total": total,
            "other_models": min(other, total),
            "model_id": model_id,
            "phase": stage_phase(state) if models_enabled or entry else "off",
            "state": state,
            "rate": entry.get("rate") or 0.0,
            "eta_s": entry.get("eta_s"),
        }
    return stages
