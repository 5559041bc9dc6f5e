"""The bridge as configured: a client, the ledger and the tag service from ``[hydrus]``.

What the commands, the API routes and the daemon's background push share, so
that each builds the same client (batch size, request rate) and the same
ledger file from one place.
"""

from __future__ import annotations

import threading
from typing import Any

from pximse.config import Config
from pximse.integrations.hydrus.client import DEFAULT_RETRY, HydrusClient, RetryPolicy
from pximse.integrations.hydrus.errors import HydrusNotConfigured
from pximse.integrations.hydrus.ledger import LEDGER_FILE, Ledger
from pximse.integrations.hydrus.payload import PayloadOptions
from pximse.integrations.hydrus.push import Pusher

__all__ = ["HydrusBridge"]


class HydrusBridge:
    def __init__(self, config: Config, *, retry: RetryPolicy = DEFAULT_RETRY) -> None:
        self.config = config
        self.settings = config.hydrus
        self.retry = retry
        self._client: HydrusClient | None = None
        self._ledger: Ledger | None = None
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        """Whether there is a client to talk to (the tag service is needed to push only)."""
        return bool(self.settings.url.strip() and self.settings.access_key.strip())

    def describe(self) -> dict[str, Any]:
        """The configuration, without the access key."""
        return {"configured": self.configured, "url": self.settings.url,
                "tag_service": self.settings.tag_service, "push": self.settings.push}

    def client(self) -> HydrusClient:
        with self._lock:
            if self._client is None:
                self._client = HydrusClient(
                    self.settings.url, self.settings.access_key, retry=self.retry,
                    batch_size=self.settings.batch_size,
                    requests_per_second=self.settings.requests_per_second)
            return self._client

    def ledger(self) -> Ledger:
        with self._lock:
            if self._ledger is None:
                self._ledger = Ledger(self.config.data_dir / LEDGER_FILE)
            return self._ledger

    def pusher(self, catalog: Any) -> Pusher:
        """A pusher to the configured tag service (looked up now, by name)."""
        if not self.settings.tag_service.strip():
            raise HydrusNotConfigured(
                "set [hydrus] tag_service to the name of a local tag service in Hydrus "
                "(create one under services > manage services > add > local tag service)")
        client = self.client()
        service = client.tag_service(self.settings.tag_service)
        return Pusher(catalog, client, self.ledger(), service,
                      PayloadOptions.from_config(self.settings))

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None
