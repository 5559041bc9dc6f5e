"""What the search page does with a selection of images: copy their paths, open
their folders, send them to Hydrus as a page, write their XMP sidecars now.

Every route takes the images by SHA-256 (``{"ids": [...]}``) and finds their
files in the catalogue; no route takes a path. The ones that change something
(open folders, Hydrus, sidecars) are POSTs, so the origin guard lets only the
daemon's own page (or a configured front end) make them; opening folders is
for a request from this computer only, as for one image
(:mod:`pximse.api.routes_folder`).
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from pximse.api.deps import get_catalog, get_config
from pximse.api.features import xmp_feature
from pximse.api.page_reads import online_paths
from pximse.api.routes_folder import is_local_client, opener_command
from pximse.api.routes_results import ImageIds
from pximse.config import Config

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/selection", tags=["selection"])

MAX_FOLDERS = 10
"""Folders one request may open: a selection spread over more is refused, not
turned into a wall of windows."""

_xmp_lock = threading.Lock()


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


class HydrusPage(ImageIds):
    name: str | None = Field(None, max_length=200,
                             description="the page's name (default: PxIMSE: N selected)")


@router.post("/hydrus", summary="Show a selection on a new Hydrus page")
def selection_to_hydrus(body: HydrusPage, request: Request) -> Any:
    """The selected files Hydrus has, in the order given, on a new page of the
    Hydrus GUI; the others are counted in ``not_in_hydrus``. Refusals as for
    ``POST /api/hydrus/show``: 409 without a Hydrus configured, 503 when it does
    not answer or refuses."""
    from pximse.api.routes_hydrus import get_bridge
    from pximse.integrations.hydrus.errors import HydrusError, HydrusNotConfigured
    from pximse.integrations.hydrus.show import PAGE_PREFIX, show_in_hydrus

    name = (body.name or "").strip() or (
        f"{PAGE_PREFIX}: {len(body.ids)} selected")
    try:
        client = get_bridge(request).client()
        result = show_in_hydrus(client, body.ids, name, len(body.ids))
    except HydrusError as exc:
        status = 409 if isinstance(exc, HydrusNotConfigured) else 503
        return JSONResponse(status_code=status, content=exc.to_dict())
    return result.to_json()


@router.post("/xmp", summary="Write a selection's XMP sidecars now")
def selection_xmp(body: ImageIds, catalog: Annotated[Any, Depends(get_catalog)],
                  config: Annotated[Config, Depends(get_config)]) -> Any:
    """The sidecars of the selected images' files, in the roots that write
    sidecars (``[xmp] write``, a root's ``xmp``), written now rather than when
    the daemon's follower next gets to them. 409 when no root writes sidecars,
    503 without exiftool; the answer counts what was created, updated, left
    unchanged, and which files failed and why."""
    from pximse.integrations.digikam.catalog_images import XmpSettings, sidecar_jobs
    from pximse.integrations.digikam.exiftool_session import ExiftoolMissing, ExiftoolPool
    from pximse.integrations.digikam.follower import record_tag_root, tag_roots
    from pximse.integrations.digikam.sidecar_writer import SidecarWriter

    feature = xmp_feature(config)
    if not feature["available"]:
        status = 409 if feature["code"] == "off" else 503
        return JSONResponse(status_code=status, content={
            "error": "xmp", "message": f"{feature['reason']}: {feature['what_to_do']}"})
    ids = catalog.content_ids(body.ids)
    jobs = sidecar_jobs(catalog, [ids[sha] for sha in body.ids if sha in ids],
                        XmpSettings.from_config(config))
    with _xmp_lock:  # one selection at a time: exiftool sessions are a few processes each
        try:
            pool = ExiftoolPool(1)
        except ExiftoolMissing as exc:
            return JSONResponse(status_code=503, content={"error": "xmp", "message": str(exc)})
        try:
            report = SidecarWriter(pool.sessions, tag_roots(config)).write(jobs)
            record_tag_root(config)
        finally:
            pool.close()
    return {**report.to_json(), "images": len(body.ids), "files": len(jobs)}
