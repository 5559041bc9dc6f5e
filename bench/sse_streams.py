"""Searches while 200 event streams are open.

A real ``pximse serve`` on a synthetic catalogue (``make_catalog.py``, 20k
images by default). In the same run:

- baseline: ``GET /api/search?q=1girl&limit=50``, one after another, with no
  event stream open;
- streams: the same searches while 200 ``/api/events`` clients connect at once
  and stay open (each gets its own status snapshot on connect; none of them
  costs the others one).

Pass: with the streams open, the 95th percentile search is under 100 ms.

    .venv/bin/python bench/sse_streams.py [--images 20000] [--streams 200] [--searches 300]
"""

from __future__ import annotations

import argparse
import selectors
import socket
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from _common import emit_result, fmt_ms, machine_line, percentile, progress, verdict
from make_catalog import ensure_catalog
from page_search import start_daemon

TARGET_P95_S = 0.100


def searches(url: str, count: int) -> list[float]:
    took = []
    for i in range(count):
        started = time.perf_counter()
        with urllib.request.urlopen(f"{url}/api/search?q=1girl&limit=50&offset={i % 5}",
                                    timeout=60) as answer:
            answer.read()
        took.append(time.perf_counter() - started)
    return took


class Streams:
    """``count`` event-stream clients, read by one thread (a browser tab each)."""

    def __init__(self, url: str, count: int) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.selector = selectors.DefaultSelector()
        self.received = 0
        self.snapshots = 0
        self.stop = threading.Event()
        self.sockets = []
        for _ in range(count):
            conn = socket.create_connection((host, int(port)))
            conn.sendall(f"GET /api/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
                         "Accept: text/event-stream\r\n\r\n".encode())
            conn.setblocking(False)
            self.selector.register(conn, selectors.EVENT_READ)
            self.sockets.append(conn)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self.stop.is_set():
            for key, _ in self.selector.select(timeout=0.2):
                try:
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                self.received += len(data)
                self.snapshots += data.count(b"event: status")

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for conn in self.sockets:
            conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--searches", type=int, default=300)
    args = parser.parse_args()
    print(machine_line())
    catalog, _ = ensure_catalog(args.images, 4000, 1, False)
    with tempfile.TemporaryDirectory(prefix="pximse-sse-bench-") as tmp:
        process, url = start_daemon(Path(tmp), catalog)
        try:
            searches(url, 30)  # warm
            progress("baseline: no streams")
            baseline = searches(url, args.searches)
            progress(f"{args.streams} streams connecting, searching meanwhile")
            streams = Streams(url, args.streams)
            loaded = searches(url, args.searches)
            time.sleep(1)
            snapshots = streams.snapshots
            streams.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
    base_p95, load_p95 = percentile(baseline, 95), percentile(loaded, 95)
    print(f"search p50/p95 without streams: {fmt_ms(percentile(baseline, 50))} / "
          f"{fmt_ms(base_p95)}")
    print(f"search p50/p95 with {args.streams} streams: {fmt_ms(percentile(loaded, 50))} / "
          f"{fmt_ms(load_p95)}  ({load_p95 / base_p95:.2f}x the baseline; "
          f"{snapshots} status snapshots reached the {args.streams} clients)")
    ok = load_p95 < TARGET_P95_S
    verdict("sse_streams", ok, f"p95 {fmt_ms(load_p95)} with {args.streams} streams "
            f"(target < {fmt_ms(TARGET_P95_S)}; baseline {fmt_ms(base_p95)})")
    emit_result({"bench": "sse_streams", "pass": ok, "streams": args.streams,
                 "baseline_p95_s": base_p95, "streams_p95_s": load_p95,
                 "snapshots": snapshots})
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
