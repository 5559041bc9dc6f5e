"""The digiKam bridge's routes: write a selection's XMP sidecars now
(``POST /api/selection/xmp``), and whether that can work here (the ``xmp``
entry of ``GET /api/features``).

The route takes the images by SHA-256 (``{"ids": [...]}``) and finds their
files in the catalogue; it takes no path. It is a POST, so the origin guard
lets only the daemon's own page (or a configured front end) make it.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from pximse.api.deps import get_catalog, get_config
from pximse.api.features import unavailable
from pximse.api.routes_results import ImageIds
from pximse.config import Config

router = APIRouter(prefix="/api/selection", tags=["selection"])

_xmp_lock = threading.Lock()


def xmp_feature(config: Config) -> dict[str, Any]:
    """Whether "write XMP now" can write anything: a root that writes sidecars,
    and exiftool to write them."""
    from pximse.integrations.digikam.catalog_images import XmpSettings
    from pximse.integrations.digikam.exiftool_session import ExiftoolMissing, find_exiftool

    settings = XmpSettings.from_config(config)
    if not any(settings.writes(root.name) for root in config.roots):
        return unavailable("off", "no library root writes XMP sidecars",
                           "set write = true in [xmp] of the configuration file, or xmp = true "
                           "in a root (see docs/digikam.md), and restart PxIMSE")
    try:
        find_exiftool()
    except ExiftoolMissing as exc:
        return unavailable("runtime", "exiftool is not installed", "install exiftool "
                           "(Debian/Ubuntu: apt install libimage-exiftool-perl)", str(exc))
    return {"available": True}


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
