"""What can go wrong talking to a Hydrus client, as exceptions a caller can act on.

:class:`HydrusUnavailable` means "try again later" (the client is stopped,
unreachable or busy past the retries); every other error needs the user to
change something (the access key, its permissions, the tag service).
"""

from __future__ import annotations

__all__ = [
    "HydrusAuthError",
    "HydrusError",
    "HydrusNotConfigured",
    "HydrusRequestError",
    "HydrusUnavailable",
]


class HydrusError(Exception):
    """Any failure of the Hydrus bridge; ``str()`` is a message for the user."""

    code = "hydrus"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)

    def to_dict(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}


class HydrusNotConfigured(HydrusError):
    """[hydrus] lacks the url, the access key or the tag service a command needs."""

    code = "hydrus_not_configured"


class HydrusUnavailable(HydrusError):
    """The client did not answer, or stayed busy (503) through every retry: retry later."""

    code = "hydrus_unavailable"


class HydrusAuthError(HydrusError):
    """401/403/419: the access key is missing, unknown, expired or lacks a permission."""

    code = "hydrus_auth"

    def __init__(self, message: str, status: int) -> None:
        self.status = status
        super().__init__(message)


class HydrusRequestError(HydrusError):
    """Any other refusal (400, 404, 413, 500...), with the client's own explanation."""

    code = "hydrus_request"

    def __init__(self, message: str, status: int, path: str) -> None:
        self.status = status
        self.path = path
        super().__init__(message)
