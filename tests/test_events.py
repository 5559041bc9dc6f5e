"""The daemon's event bus: every subscriber sees every event in order, and a
slow one can never block a publisher."""

from __future__ import annotations

import threading

from pximse.events import EventBus


def test_subscribers_get_events_published_after_they_subscribe_in_order() -> None:
    bus = EventBus()
    bus.publish("files", added=1)  # before anyone listens
    with bus.subscribe() as first, bus.subscribe() as second:
        for n in range(5):
            bus.publish("files", added=n)
        for subscription in (first, second):
            got = [event.data["added"] for event in subscription.drain()]
            assert got == [0, 1, 2, 3, 4]
    assert bus.publish("files").id == 7  # closed subscriptions get nothing more


def test_a_slow_subscriber_loses_the_oldest_events_and_is_told_how_many() -> None:
    bus = EventBus()
    subscription = bus.subscribe(maxsize=3)
    for n in range(10):
        bus.publish("indexing", done=n)
    assert [e.data["done"] for e in subscription.drain()] == [7, 8, 9]
    assert subscription.missed == 7


def test_get_waits_for_an_event_from_another_thread_and_times_out_without_one() -> None:
    bus = EventBus()
    subscription = bus.subscribe()
    assert subscription.get(timeout=0.01) is None
    woken: list[int] = []
    subscription_with_callback = bus.subscribe(on_event=lambda: woken.append(1))
    threading.Timer(0.05, lambda: bus.publish("scan", running=True)).start()
    event = subscription.get(timeout=5)
    assert event is not None and event.kind == "scan" and event.data == {"running": True}
    assert woken == [1] and subscription_with_callback.drain()[0].id == event.id


def test_recent_keeps_the_last_events_of_each_kind() -> None:
    bus = EventBus()
    for n in range(60):
        bus.publish("error", n=n)
    bus.publish("files", added=1)
    recent = bus.recent("error", limit=3)
    assert [e.data["n"] for e in recent] == [57, 58, 59]
    assert len(bus.recent("error")) == 50 and bus.recent("nothing") == []
    assert recent[-1].to_json()["kind"] == "error"
