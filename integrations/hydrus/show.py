"""Showing a PxIMSE search in the Hydrus GUI: the results on a new page.

Any search works (tags, OCR, CLIP text, similar image): it runs through the
same planner as the API, and the hashes it finds, in rank order, go to a new
file search page (``/manage_pages/new_page``, Hydrus v676 and later). An
older client has no such call: there the results go to an open page whose
name is the page name PxIMSE would have given (make one and name it), since
page keys only last for a client's session. Files Hydrus does not have are
left out, and counted.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from pximse.integrations.hydrus.client import HydrusClient
from pximse.integrations.hydrus.errors import HydrusRequestError
from pximse.query.ast import Nearest
from pximse.query.errors import QueryError
from pximse.query.parse import parse_query
from pximse.search.planner import VectorPlan, plan_query, search_json

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "ShowResult", "page_name", "search_hashes",
           "show_in_hydrus"]

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
PAGE_PREFIX = "PxIMSE"


@dataclass
class ShowResult:
    sent: int
    not_in_hydrus: int
    total: int
    page: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def page_name(q: str = "", text: str | None = None, similar: str | None = None) -> str:
    """``PxIMSE: <what was searched>``, short enough for a tab."""
    parts = [q.strip()] if q.strip() else []
    if text and text.strip():
        parts.append(f'"{text.strip()}"')
    if similar and similar.strip():
        parts.append(f"like {similar.strip()[:8]}")
    what = " ".join(parts) or "everything"
    if len(what) > 48:
        what = what[:47] + "…"
    return f"{PAGE_PREFIX}: {what}"


def search_hashes(clip: Any, catalog: Any, config: Any, *, q: str = "",
                  text: str | None = None, similar: str | None = None, sort: str = "",
                  limit: int = DEFAULT_LIMIT) -> tuple[list[str], int]:
    """The hashes a search finds, best first (at most ``limit``), and how many match."""
    plan = plan_query(parse_query(q, sort), text=text or "")
    if similar and similar.strip():
        value = similar.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{8,64}", value):
            raise QueryError(f"similar: {similar!r} is not an image id (8 to 64 hex digits)")
        if plan.nearest is not None:
            raise QueryError("only one vector search per query, but got similar= and "
                             + ("text=" if text else "clip:/similar: in the query"))
        plan = VectorPlan(plan.filter, Nearest("image", value))
    body = search_json(clip, catalog, plan, limit=max(1, min(limit, MAX_LIMIT)), offset=0,
                       timeout_ms=config.search.query_timeout_ms)
    return [item["id"] for item in body["items"]], int(body["total"])


def show_in_hydrus(client: HydrusClient, hashes: list[str], name: str,
                   total: int | None = None) -> ShowResult:
    """Put the files Hydrus has among ``hashes`` (in order) on a new page called ``name``."""
    held = client.present(hashes)
    ordered = [h for h in hashes if h in held]
    missing = len(hashes) - len(ordered)
    total = len(hashes) if total is None else total
    if not ordered:
        return ShowResult(0, missing, total, {"name": name, "key": None})
    first, rest = ordered[:client.batch_size], ordered[client.batch_size:]
    try:
        key = client.new_page(name, first)
    except HydrusRequestError as exc:
        if exc.status != 404:
            raise
        key = _open_page_named(client, name)
        rest = ordered
    client.add_files(key, rest)
    return ShowResult(len(ordered), missing, total, {"name": name, "key": key})


def _open_page_named(client: HydrusClient, name: str) -> str:
    """An older client's open media page to use instead of a new one."""
    wanted = {name.casefold(), PAGE_PREFIX.casefold()}
    stack = [client.pages()]
    while stack:
        page = stack.pop()
        if page.get("is_media_page") and str(page.get("name", "")).casefold() in wanted:
            return str(page["page_key"])
        stack.extend(page.get("pages") or [])
    raise HydrusRequestError(
        "this Hydrus client cannot open a new page from the Client API (that came in "
        f"v676): open a file search page, name it {PAGE_PREFIX!r} (right-click the tab > "
        "rename), and send again", 404, "/manage_pages/new_page")
