"""Resident memory of an idle daemon, against a bare Python process.

Target (issue): ``pximse serve --no-scan`` with a fresh data folder, after it
has answered ``/api/status`` and one ``/api/search?q=``, then sat idle ~3 s,
uses less than 150 MB RSS (children included). Baseline in the same run: the
RSS of ``python -c "import time; time.sleep(5)"`` from the same interpreter.

Also measured, for information (not the target), unless ``--no-big``: the same
daemon on the cached synthetic catalogue from ``make_catalog.py`` (hard-linked
into a temp data folder, opened read-mostly), idle after one empty search and
idle again after a few tag searches, since the in-memory query index and
SQLite's page cache and mmap grow with the catalogue and the queries run.

    .venv/bin/python bench/idle_rss.py [--idle 3] [--no-big] [--big-images 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from _common import DATA_DIR, emit_result, machine_line, progress, venv_bin, verdict

TARGET_MB = 150.0
BIG_QUERIES = ("1girl", "1girl long_hair -monochrome filesize:>1MB order:-date",
               "(cat_ears or fox_ears) solo width:>=1000 order:filesize",
               "highres -1girl order:-filesize", "source:pixiv 1girl smile order:-date")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_of(pid: int) -> dict[str, float]:
    """Memory of ``pid`` and its children, in MiB: RSS; USS (pages no other process
    maps); and on Linux, anon = RSS minus file-backed pages (heap, SQLite's page
    cache), as opposed to file pages such as SQLite's mmap of the catalogue."""
    import psutil

    proc = psutil.Process(pid)
    procs = [proc, *proc.children(recursive=True)]
    rss = uss = shared = 0
    for p in procs:
        try:
            rss += p.memory_info().rss
            try:
                full = p.memory_full_info()
                uss += full.uss
                shared += getattr(full, "shared", 0)
            except (psutil.AccessDenied, AttributeError):
                uss = -1
        except psutil.NoSuchProcess:
            pass
    return {"rss_mb": rss / 2**20, "uss_mb": uss / 2**20 if uss >= 0 else float("nan"),
            "anon_mb": (rss - shared) / 2**20, "processes": len(procs)}


def get(url: str, timeout: float = 30.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Daemon:
    """``pximse serve --no-scan`` on a free port with its own config and data folder."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.config = workdir / "config.toml"
        self.data = workdir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.config.write_text(f'[server]\nhost = "127.0.0.1"\nport = {self.port}\n')
        self.log = workdir / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0, extra: tuple[str, ...] = ()) -> float:
        command = [str(venv_bin("pximse")), "serve", "--no-scan", "--config", str(self.config),
                   "--data-dir", str(self.data), "--port", str(self.port), *extra]
        started = time.perf_counter()
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"pximse serve exited with {self.proc.returncode}:\n{self.log_text()}"
                )
            try:
                status, _ = get(self.base + "/api/status", timeout=2)
                if status == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"pximse serve did not answer /api/status in {timeout:.0f} s:\n"
                           f"{self.log_text()}")

    def wait_until_idle(self, timeout: float = 300.0) -> float:
        """Wait until the daemon reports no scan and no model run in progress (a
        worker process runs the model stages when images need them)."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            _, body = get(self.base + "/api/status", timeout=10)
            status = json.loads(body)
            busy = status.get("scan", {}).get("running") or status.get("models", {}).get(
                "running")
            if not busy:
                return time.perf_counter() - started
            time.sleep(0.2)
        raise RuntimeError("the daemon did not become idle")

    def search(self, q: str) -> tuple[int, float, dict[str, object]]:
        t0 = time.perf_counter()
        status, body = get(self.base + "/api/search?" + urllib.parse.urlencode({"q": q}),
                           timeout=120)
        took = time.perf_counter() - t0
        try:
            data = json.loads(body)
        except ValueError:
            data = {"body": body[:200].decode(errors="replace")}
        return status, took, data

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def baseline_rss(wait: float) -> dict[str, float]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        time.sleep(min(wait, 4.0))
        return rss_of(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


def measure_fresh(workroot: Path, idle: float) -> dict[str, object]:
    daemon = Daemon(workroot / "fresh")
    try:
        startup = daemon.start()
        status, took, data = daemon.search("")
        if status != 200:
            raise RuntimeError(f"/api/search?q= answered {status}: {data}")
        busy_s = daemon.wait_until_idle()
        time.sleep(idle)
        mem = rss_of(daemon.proc.pid)  # type: ignore[union-attr]
        return {**mem, "startup_s": startup, "search_ms": took * 1000,
                "total": data.get("total"), "busy_s": busy_s}
    finally:
        daemon.stop()


def measure_big(workroot: Path, idle: float, images: int) -> dict[str, object] | None:
    catalog = DATA_DIR / f"catalog_{images}.sqlite3"
    if not catalog.exists():
        print(f"(no {catalog.name}: run bench/make_catalog.py for the big-catalogue figures)")
        return None
    daemon = Daemon(workroot / "big")
    target = daemon.data / "catalog.sqlite3"
    try:
        os.link(catalog, target)
    except OSError:
        print("(cannot hard-link the cached catalogue here; skipping the big-catalogue figures)")
        return None
    try:
        startup = daemon.start()
        status, took, data = daemon.search("")
        if status != 200:
            raise RuntimeError(f"/api/search?q= answered {status}: {data}")
        time.sleep(idle)
        after_empty = rss_of(daemon.proc.pid)  # type: ignore[union-attr]
        timings = []
        for q in BIG_QUERIES:
            status, q_took, q_data = daemon.search(q)
            timings.append((q, status, q_took, q_data.get("total")))
        time.sleep(idle)
        after_tags = rss_of(daemon.proc.pid)  # type: ignore[union-attr]
        return {"startup_s": startup, "empty_search_ms": took * 1000,
                "after_empty_search": after_empty, "after_tag_searches": after_tags,
                "searches": [{"q": q, "status": s, "ms": t * 1000, "total": n}
                             for q, s, t, n in timings]}
    finally:
        daemon.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=float, default=3.0, help="seconds idle before measuring")
    parser.add_argument("--no-big", action="store_true", help="skip the big-catalogue figures")
    parser.add_argument("--big-images", type=int, default=1_000_000)
    args = parser.parse_args()
    try:
        import psutil  # noqa: F401
    except ImportError:
        print("FAIL: psutil is not installed (pip install psutil, or the project's test extra)")
        return 2

    print(f"idle RSS: pximse serve --no-scan vs a sleeping python; {machine_line()}")
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    workroot = Path(tempfile.mkdtemp(prefix="idle_rss-", dir=DATA_DIR))
    result: dict[str, object] = {"bench": "idle_rss", "target": f"< {TARGET_MB:.0f} MB"}
    try:
        base = baseline_rss(args.idle)
        print(f"baseline: python -c 'import time; time.sleep(5)': RSS {base['rss_mb']:.1f} MiB")
        try:
            fresh = measure_fresh(workroot, args.idle)
        except RuntimeError as exc:
            print(str(exc))
            line = verdict("idle RSS < 150 MB", False, "pximse serve did not come up (see above)")
            emit_result({**result, "pass": False, "error": str(exc)[:2000], "verdicts": [line]})
            return 1
        ratio = fresh["rss_mb"] / base["rss_mb"]  # type: ignore[operator]
        print(f"pximse serve --no-scan, fresh data folder: up in {fresh['startup_s']:.2f} s;"
              f" /api/search?q= {fresh['search_ms']:.1f} ms (total {fresh['total']});"
              f" start-up model check {fresh['busy_s']:.1f} s;"
              f" after {args.idle:.0f} s idle: RSS {fresh['rss_mb']:.1f} MiB"
              f" (USS {fresh['uss_mb']:.1f} MiB, anon {fresh['anon_mb']:.1f} MiB,"
              f" {fresh['processes']} process(es));"
              f" {ratio:.1f}x the bare python")
        mb = fresh["rss_mb"] * 2**20 / 1e6  # type: ignore[operator]
        lines = [verdict("idle RSS < 150 MB", mb < TARGET_MB,
                         f"{mb:.1f} MB ({fresh['rss_mb']:.1f} MiB), {ratio:.1f}x a bare python"
                         f" ({base['rss_mb']:.1f} MiB)")]
        result.update(baseline=base, fresh=fresh, ratio=ratio, rss_mb=fresh["rss_mb"])

        if not args.no_big:
            progress("big catalogue: starting the daemon on the cached synthetic catalogue")
            big = measure_big(workroot, args.idle, args.big_images)
            if big:
                a, b = big["after_empty_search"], big["after_tag_searches"]
                print(f"(info) same daemon on catalog_{args.big_images}: up in"
                      f" {big['startup_s']:.2f} s; empty search {big['empty_search_ms']:.0f} ms;"
                      f" idle RSS {a['rss_mb']:.0f} MiB (anon {a['anon_mb']:.0f});"  # type: ignore[index]
                      f" after {len(BIG_QUERIES)} tag searches, idle RSS {b['rss_mb']:.0f} MiB"  # type: ignore[index]
                      f" (anon {b['anon_mb']:.0f})")  # type: ignore[index]
                for s in big["searches"]:  # type: ignore[union-attr]
                    print(f"       {s['q']!r}: HTTP {s['status']}, {s['ms']:.0f} ms,"
                          f" total {s['total']}")
                result["big"] = big
        result["verdicts"] = lines
        result["pass"] = all(line.startswith("PASS") for line in lines)
        emit_result(result)
        return 0 if result["pass"] else 1
    finally:
        shutil.rmtree(workroot, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
