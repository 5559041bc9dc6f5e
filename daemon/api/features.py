"""Which of the search page's features can run here, and for those that cannot,
why and what to do: so that the page offers a disabled button with its
reason instead of a request that fails after a wait.

Asking loads nothing heavy: CLIP's adapter is made (no weights are read) and
its saved vectors are looked for (the embedded store by its manifest, a Milvus
collection by how many vectors it holds), so an idle daemon stays idle. A
stage whose weights are being downloaded says so in ``/api/status``; this only
says whether a vector search would run now.
"""

from __future__ import annotations

from typing import Any

from pximse.search.planner import ClipSearch, VectorSearchUnavailable

__all__ = ["clip_feature", "open_folder_feature", "unavailable"]


def unavailable(code: str, reason: str, what_to_do: str, detail: str = "") -> dict[str, Any]:
    """A feature that cannot run here: a ``code``, the ``reason`` and ``what_to_do``."""
    return {"available": False, "code": code, "reason": reason, "what_to_do": what_to_do,
            "detail": detail or None}


def clip_feature(clip: ClipSearch) -> dict[str, Any]:
    """``available`` when a CLIP search (describe it, search by image, similar)
    would run now; else ``code`` (``off``, ``weights``, ``runtime``,
    ``settings``, ``vectors``), a short ``reason``, ``what_to_do`` and the full
    message as ``detail``."""
    from pximse.models.weights import WeightsUnavailable

    config = clip.config
    if not config.models.clip:
        return unavailable("off", "CLIP is turned off in the configuration",
                    "set [models] clip in the configuration file (see docs/models.md) and "
                    "restart PxIMSE")
    try:
        model = clip.model()
    except VectorSearchUnavailable as exc:
        cause = exc.__cause__
        if isinstance(cause, WeightsUnavailable):
            return unavailable("weights", "the CLIP model's weights are not here yet",
                        "PxIMSE downloads them by itself ([models] allow_download); the "
                        "status panel shows how far it got, or run `pximse models download`",
                        exc.message)
        if isinstance(cause, ImportError):
            return unavailable("runtime", "the CLIP model's runtime is not installed",
                        "install what the message names, then restart PxIMSE", exc.message)
        return unavailable("settings", "the CLIP settings do not fit together",
                    "correct [models] in the configuration file", exc.message)
    try:
        clip.check_saved()
    except VectorSearchUnavailable as exc:
        return unavailable("vectors", "the library has no CLIP vectors yet",
                    "PxIMSE embeds the library in the background while it runs "
                    "(see the status panel); vector searches work once it has begun",
                    exc.message)
    return {"available": True, "model_id": model.model_id}


def open_folder_feature(local_client: bool) -> dict[str, Any]:
    """Folders open on the screen of the computer running PxIMSE: only for a
    page opened on that computer, and where it has an opener."""
    from pximse.api.routes_folder import opener_command

    if not local_client:
        return unavailable("remote", "folders open on the computer running PxIMSE",
                    "open the page on that computer (http://127.0.0.1)")
    if opener_command("/") is None:
        return unavailable("runtime", "this computer has no way to open a folder that PxIMSE knows",
                    "on Linux, install xdg-utils (xdg-open)")
    return {"available": True}
