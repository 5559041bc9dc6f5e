"""What the search page does with a selection of images: copy their paths, open
their folders (sending them to Hydrus and writing their XMP sidecars are the
Hydrus and digiKam plug-ins' routes, under the same prefix).

Every route takes the images by SHA-256 (``{"ids": [...]}``) and finds their
files in the catalogue; no route takes a path. Opening folders is a POST, so
the origin guard lets only the daemon's own page (or a configured front end)
make it, and it is for a request from this computer only, as for one image
(:mod:`pximse.api.routes_folder`).
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from pximse.api.deps import get_catalog
from pximse.api.page_reads import online_paths
from pximse.api.routes_folder import is_local_client, opener_command
from pximse.api.routes_results import ImageIds

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/selection", tags=["selection"])

MAX_FOLDERS = 10
"""Folders one request may open: a selection spread over more is refused, not
turned into a wall of windows."""


def _ordered_paths(catalog: Any, ids: list[str]) -> list[tuple[str, list[str]]]:
    found = online_paths(catalog, ids)
    return [(sha, found.get(sha, [])) for sha in ids]


@router.post("/paths", summary="The online files of a selection")
def selection_paths(body: ImageIds, catalog: Annotated[Any, Depends(get_catalog)]
                    ) -> dict[str, Any]:
    """Each image's online paths, in the order asked; ``missing`` counts the
    images with no online file (offline, or gone since the last scan)."""
    rows = _ordered_paths(catalog, body.ids)
    return {"images": [{"id": sha, "paths": paths} for sha, paths in rows],
            "missing": sum(1 for _, paths in rows if not paths)}


@router.post("/open-folders", summary="Show a selection's folders on this computer")
def open_folders(body: ImageIds, request: Request,
                 catalog: Annotated[Any, Depends(get_catalog)]) -> dict[str, Any]:
    """Each distinct folder holding a selected image's first online file, in the
    system's file manager (at most :data:`MAX_FOLDERS`)."""
    if not is_local_client(request):
        raise HTTPException(status_code=403, detail=(
            "folders open on the computer running PxIMSE, so only a request from that "
            "computer may open one"))
    folders: dict[str, str] = {}
    for _sha, paths in _ordered_paths(catalog, body.ids):
        if paths:
            folders.setdefault(os.path.dirname(paths[0]), paths[0])
    if not folders:
        raise HTTPException(status_code=404, detail=(
            "none of these images has an online file (offline, or gone since the last scan)"))
    if len(folders) > MAX_FOLDERS:
        raise HTTPException(status_code=400, detail=(
            f"these images are in {len(folders)} folders; PxIMSE opens at most "
            f"{MAX_FOLDERS} at once: select fewer"))
    opened = []
    for folder, path in folders.items():
        command = opener_command(path)
        if command is None:
            raise HTTPException(status_code=503, detail=(
                "this computer has no way to open a folder that PxIMSE knows "
                "(on Linux, install xdg-utils for xdg-open)"))
        try:
            opener = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True)
        except OSError as exc:
            log.warning("could not open the folder %s: %s", folder, exc)
            raise HTTPException(status_code=503,
                                detail=f"the folder could not be opened: {exc}") from None
        threading.Thread(target=opener.wait, name="open-folder reaper", daemon=True).start()
        opened.append(folder)
    return {"opened": opened}
