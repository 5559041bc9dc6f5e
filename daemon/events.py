"""What the daemon tells its clients as it happens: files added and removed,
indexing progress, errors.

One :class:`EventBus` per daemon. Any thread publishes (the watcher, the
scanner, the background indexer); each subscriber gets every event published
after it subscribed, in order, through its own bounded queue, so a slow client
(a browser tab left open, the tray) can never block the daemon: when its queue
is full the oldest events are dropped and the next one it reads says how many
it missed. The last events of each kind are kept so that a client that
connects late can catch up (``recent``).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event", "EventBus", "Subscription"]

_RECENT_PER_KIND = 50


@dataclass(frozen=True)
class Event:
    id: int
    kind: str  # "files", "scan", "indexing", "error", "status"...
    data: dict[str, Any]
    time: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "time": self.time, "data": self.data}


class Subscription:
    """One client's view of the bus: ``get`` blocks until an event arrives
    (or the timeout passes); ``missed`` counts events dropped because the
    client read too slowly. ``on_event`` is called, on the publishing thread,
    after each event is queued (an asyncio client passes a function that wakes
    its loop with ``call_soon_threadsafe``); it must not block."""

    def __init__(self, bus: EventBus, maxsize: int,
                 on_event: Callable[[], None] | None = None) -> None:
        self._bus = bus
        self._queue: deque[Event] = deque()
        self._maxsize = maxsize
        self._ready = threading.Condition()
        self._on_event = on_event
        self.missed = 0

    def _put(self, event: Event) -> None:
        with self._ready:
            if len(self._queue) >= self._maxsize:
                self._queue.popleft()
                self.missed += 1
            self._queue.append(event)
            self._ready.notify()
        if self._on_event is not None:
            self._on_event()

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event, or ``None`` when none came within ``timeout`` seconds."""
        with self._ready:
            if not self._queue:
                self._ready.wait(timeout)
            return self._queue.popleft() if self._queue else None

    def drain(self) -> list[Event]:
        """Every queued event, without waiting."""
        with self._ready:
            events = list(self._queue)
            self._queue.clear()
            return events

    def close(self) -> None:
        self._bus.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscription] = []
        self._ids = itertools.count(1)
        self._recent: dict[str, deque[Event]] = {}

    def publish(self, kind: str, **data: Any) -> Event:
        """Send an event to every subscriber; never blocks on a client."""
        with self._lock:
            event = Event(next(self._ids), kind, data)
            self._recent.setdefault(kind, deque(maxlen=_RECENT_PER_KIND)).append(event)
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber._put(event)
        return event

    def record(self, kind: str, **data: Any) -> Event:
        """An event with the bus's next id, kept in ``recent`` but sent to nobody:
        for a snapshot one client asked for."""
        with self._lock:
            event = Event(next(self._ids), kind, data)
            self._recent.setdefault(kind, deque(maxlen=_RECENT_PER_KIND)).append(event)
        return event

    def subscribe(self, maxsize: int = 1000,
                  on_event: Callable[[], None] | None = None) -> Subscription:
        subscription = Subscription(self, maxsize, on_event)
        with self._lock:
            self._subscribers.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscribers:
                self._subscribers.remove(subscription)

    def recent(self, kind: str, limit: int = _RECENT_PER_KIND) -> list[Event]:
        """The last ``limit`` events of one kind, oldest first."""
        with self._lock:
            events = list(self._recent.get(kind, ()))
        return events[-limit:] if limit > 0 else []
