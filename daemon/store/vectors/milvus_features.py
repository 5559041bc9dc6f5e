"""What the Milvus server at hand supports, read once when a store opens.

PxIMSE runs on the Milvus servers users run, 2.3 through 2.6, and on
milvus-lite. They differ where the store cares:

- **nullable scalar fields** came with Milvus 2.5. A 2.3 or 2.4 server accepts
  a schema that asks for them and then refuses every insert that leaves one
  out (``the num_rows (0) of field (posted) is not equal to passed num_rows``).
  On those servers a collection stores a missing value as ``0`` beside a
  ``has_<field>`` flag (:data:`PRESENCE_PREFIX`), and the filter compiler
  tests the flag where it would test ``is not null``.
- **scalar indexes**: ``INVERTED`` on any scalar from 2.4; 2.3 knows
  ``STL_SORT`` for numbers and ``Trie`` for strings.
- **limits**: ``offset + limit`` of one search is at most ``maxTopK``
  (16,384 by default) on every server version; milvus-lite has no such limit.

The version comes from the server itself (``get_server_version``:
``v2.3.5-lite`` for the ``milvus`` package's server, ``v2.5.4`` for a
standalone one, ``milvus_lite-3.2.2`` for milvus-lite); a version that cannot
be read is taken as the newest, whose features every later server keeps.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

PRESENCE_PREFIX = "has_"
"""Prefix of the flag that says a nullable column has a value, on servers
without nullable fields."""

MAX_TOPK = 16_384
"""Milvus' default limit on ``offset + limit`` for one search (``maxTopK``)."""

_NEWEST = (2, 6, 0)


@dataclass(frozen=True)
class MilvusFeatures:
    """What one server offers the store."""

    version: str
    lite: bool
    nullable: bool
    """Nullable scalar fields (Milvus 2.5+, milvus-lite)."""
    inverted_index: bool
    """``INVERTED`` scalar indexes (Milvus 2.4+, milvus-lite)."""

    def scalar_index(self, kind: str) -> str:
        """The scalar index type for a column of ``kind`` (``int``, ``float``, ``str``)."""
        if self.inverted_index:
            return "INVERTED"
        return "Trie" if kind == "str" else "STL_SORT"


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``(major, minor, patch)`` of a Milvus server's version string.

    >>> parse_version("v2.3.5-lite")
    (2, 3, 5)
    >>> parse_version("2.5.10") is not None
    True
    >>> parse_version("milvus_lite-3.2.2") is None
    True
    """
    if text.startswith("milvus_lite"):
        return None
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if match is None:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def features_of(version: str) -> MilvusFeatures:
    """The features of a server that reports ``version``."""
    lite = version.startswith("milvus_lite")
    number = _NEWEST if lite else (parse_version(version) or _NEWEST)
    return MilvusFeatures(version=version, lite=lite, nullable=number >= (2, 5, 0),
                          inverted_index=number >= (2, 4, 0))


def detect_features(client: Any) -> MilvusFeatures:
    """Ask the server behind ``client`` what it is."""
    try:
        version = str(client.get_server_version())
    except Exception as exc:  # noqa: BLE001 - an old server or a proxy that will not say
        log.info("Milvus did not give its version (%s); assuming a current server", exc)
        version = "unknown"
    found = features_of(version)
    log.info("Milvus %s: nullable fields %s, INVERTED indexes %s", found.version,
             "yes" if found.nullable else "no (has_ flags instead)",
             "yes" if found.inverted_index else "no (STL_SORT/Trie instead)")
    return found
