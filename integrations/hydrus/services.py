"""Reading ``GET /get_services`` in both of its shapes, and finding the tag service by name.

Current clients answer ``{"services": {service_key: {"name", "type", ...}}}``
(the "Services Object"); older ones answered one list per kind,
``{"local_tags": [{"name", "service_key", "type"?, ...}], "tag_repositories": [...]}``,
and for a while both at once. The Client API cannot create a tag service, so
a missing one is a message telling the user how to make it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pximse.integrations.hydrus.errors import HydrusNotConfigured

__all__ = ["LOCAL_TAG_SERVICE", "TAG_REPOSITORY", "Service", "find_tag_service", "parse_services"]

TAG_REPOSITORY = 0
LOCAL_TAG_SERVICE = 5

# The old per-kind lists, and the type each implies when an entry omits it.
_LEGACY_KINDS: dict[str, int] = {
    "tag_repositories": TAG_REPOSITORY,
    "file_repositories": 1,
    "local_files": 2,
    "local_tags": LOCAL_TAG_SERVICE,
    "all_known_tags": 10,
    "all_known_files": 11,
    "trash": 14,
    "all_local_files": 15,
    "local_updates": 20,
    "all_local_media": 21,
}


@dataclass(frozen=True)
class Service:
    key: str
    name: str
    type: int
    type_pretty: str = ""


def parse_services(body: Mapping[str, Any]) -> list[Service]:
    """Every service a ``get_services`` answer lists, whichever shape it has."""
    found: dict[str, Service] = {}
    services = body.get("services")
    if isinstance(services, Mapping):
        for key, info in services.items():
            if isinstance(info, Mapping) and "name" in info:
                found[str(key)] = Service(str(key), str(info["name"]),
                                          int(info.get("type", -1)),
                                          str(info.get("type_pretty", "")))
    for kind, entries in body.items():
        if kind == "services" or not isinstance(entries, list):
            continue
        for info in entries:
            if not (isinstance(info, Mapping) and "service_key" in info and "name" in info):
                continue
            key = str(info["service_key"])
            if key not in found:
                found[key] = Service(key, str(info["name"]),
                                     int(info.get("type", _LEGACY_KINDS.get(kind, -1))),
                                     str(info.get("type_pretty", "")))
    return list(found.values())


def find_tag_service(services: list[Service], name: str) -> Service:
    """The local tag service called ``name`` (exact first, then ignoring case)."""
    if not name.strip():
        raise HydrusNotConfigured(
            "set [hydrus] tag_service to the name of a local tag service in Hydrus "
            "(create one under services > manage services > add > local tag service)")
    exact = [s for s in services if s.name == name]
    loose = [s for s in services if s.name.casefold() == name.casefold()]
    for candidates in (exact, loose):
        local = [s for s in candidates if s.type == LOCAL_TAG_SERVICE]
        if local:
            return local[0]
        if candidates:
            kind = candidates[0].type_pretty or f"type {candidates[0].type}"
            raise HydrusNotConfigured(
                f"the Hydrus service {name!r} is a {kind}, not a local tag service; PxIMSE "
                "writes only to a local tag service of its own (services > manage services > "
                "add > local tag service)")
    local_names = sorted(s.name for s in services if s.type == LOCAL_TAG_SERVICE)
    listed = ", ".join(repr(n) for n in local_names) or "none"
    raise HydrusNotConfigured(
        f"Hydrus has no local tag service named {name!r} (local tag services: {listed}); "
        "create it under services > manage services > add > local tag service, or set "
        "[hydrus] tag_service to one of those")
