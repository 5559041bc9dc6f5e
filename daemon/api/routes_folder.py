"""Open the folder that holds an image, in the file manager of the computer running PxIMSE.

The page cannot open a local folder itself (browsers do not let pages open
``file://`` links), so it asks the daemon: ``POST /api/images/{id}/open-folder``.
The daemon picks the folder by catalogue id (the first online file holding
the content), never from a path in the request, and starts the platform's own
opener with that path as one argument (no shell).

Only a request from this computer may do it: the folder opens on the daemon's
screen, so a request from another address (allowed when the daemon listens
beyond loopback with a token) is refused with 403, as is a request a browser
says comes from another site (its ``Origin`` differs from the daemon's own, or
``Sec-Fetch-Site: cross-site``), so no web page can make the daemon open windows.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import subprocess
import sys
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request

from pximse.api.deps import get_catalog
from pximse.api.routes_images import checked_image_id
from pximse.store.sqlite.catalog import SqliteCatalog

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/images")


def opener_command(path: str, platform: str = sys.platform) -> list[str] | None:
    """The command that shows ``path`` (a file) in the platform's file manager, or
    None when this machine has none we know."""
    if platform == "darwin":
        return ["open", "-R", path]
    if platform.startswith("win"):
        return ["explorer", f"/select,{path}"]
    opener = shutil.which("xdg-open")
    if opener is None:
        return None
    return [opener, os.path.dirname(path) or "."]


def is_local_client(request: Request) -> bool:
    """The request came over loopback from this computer."""
    host = request.client.host if request.client is not None else ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def is_same_site(request: Request) -> bool:
    """Not sent by a page from another origin (browsers say where a request comes from)."""
    if request.headers.get("sec-fetch-site", "") == "cross-site":
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser page's request (curl, the tray)
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


@router.post("/{image_id}/open-folder", summary="Show the image's folder on this computer")
def open_folder(
    image_id: str,
    request: Request,
    catalog: Annotated[SqliteCatalog, Depends(get_catalog)],
) -> dict[str, Any]:
    sha = checked_image_id(image_id)
    if not is_local_client(request):
        raise HTTPException(
            status_code=403,
            detail="folders open on the computer running PxIMSE, so only a request from "
                   "that computer may open one")
    if not is_same_site(request):
        raise HTTPException(status_code=403, detail="a request from another site is refused")
    found = catalog.file_for(sha)
    if found is None:
        raise HTTPException(status_code=404,
                            detail="no online file holds this image (unknown id, or offline)")
    path = found[0]
    if not os.path.isfile(path):
        raise HTTPException(status_code=404, detail="the file is gone since the last scan")
    command = opener_command(path)
    if command is None:
        raise HTTPException(
            status_code=503,
            detail="this computer has no way to open a folder that PxIMSE knows "
                   "(on Linux, install xdg-utils for xdg-open)")
    try:
        subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        log.warning("could not open the folder of %s: %s", path, exc)
        raise HTTPException(status_code=503,
                            detail=f"the folder could not be opened: {exc}") from None
    return {"opened": os.path.dirname(path), "path": path}
