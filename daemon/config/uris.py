"""Server addresses as they may be shown: credentials taken out."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_uri(uri: str) -> str:
    """``uri`` with its password replaced by ``***``, for messages and logs.

    >>> redact_uri("mongodb://pximse:secret@db.example:27017/?authSource=admin")
    'mongodb://pximse:***@db.example:27017/?authSource=admin'
    """
    if "@" not in uri:
        return uri
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<an address that cannot be parsed>"
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, f"{user}:***@{host}" if user else f"***@{host}",
                       parts.path, parts.query, parts.fragment))
