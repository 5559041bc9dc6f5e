"""Open the folder that holds an image, in the file manager of the computer running PxIMSE.

The page cannot open a local folder itself (browsers do not let pages open
``file://`` links), so it asks the daemon: ``POST /api/images/{id}/open-folder``.
The daemon picks the folder by catalogue id (the first online file holding
the content), never from a path in the request, and starts the platform's own
opener with that path as one argument (no shell).

Only a request from this computer may do it: the folder opens on the daemon's
screen, so a request from another address (allowed when the daemon listens
beyond loopback with a token) is refused with 403. A request a browser says
comes from another site never gets here (:mod:`pximse.api.guards`), so no web
page can make the daemon open windows. The opener is waited for in the
background, so it never lingers as a zombie process.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import subprocess
import sys
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from pximse.api.deps import get_catalog, get_config
from pximse.api.routes_images import checked_image_id, recorded_file
from pximse.config import Config
from pximse.store.backends import Catalog
from pximse.store.pathtext import readable

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


@router.post("/{image_id}/open-folder", summary="Show the image's folder on this computer")
def open_folder(
    image_id: str,
    request: Request,
    catalog: Annotated[Catalog, Depends(get_catalog)],
    config: Annotated[Config, Depends(get_config)],
) -> dict[str, Any]:
    sha = checked_image_id(image_id)
    if not is_local_client(request):
        raise HTTPException(
            status_code=403,
            detail="folders open on the computer running PxIMSE, so only a request from "
                   "that computer may open one")
    found = recorded_file(catalog, config, sha)
    if found is None:
        raise HTTPException(
            status_code=404, detail="no online file holds this image as it was recorded "
                                    "(unknown id, offline, or changed since the last scan)")
    found[1].close()
    path = found[0].path
    command = opener_command(path)
    if command is None:
        raise HTTPException(
            status_code=503,
            detail="this computer has no way to open a folder that PxIMSE knows "
                   "(on Linux, install xdg-utils for xdg-open)")
    try:
        opener = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        threading.Thread(target=opener.wait, name="open-folder reaper", daemon=True).start()
    except OSError as exc:
        log.warning("could not open the folder of %s: %s", path, exc)
        raise HTTPException(status_code=503,
                            detail=f"the folder could not be opened: {exc}") from None
    return {"opened": readable(os.path.dirname(path)), "path": readable(path)}
