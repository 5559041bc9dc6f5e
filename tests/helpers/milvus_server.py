"""A real Milvus server for the test run: the ``milvus`` package's standalone server.

PyPI's ``milvus`` package (2.3.5) ships a Milvus standalone binary (with its
own etcd and local storage). It lives in a virtual environment of its own
(``build/milvus-server``, made by ``make milvus-server``: the package's
pymilvus is old and would clash with ours), and is started once per test run
on a free port of 127.0.0.1 with a temporary base directory.

With pytest-xdist every worker asks for the server; the first one starts it
(under a file lock in the run's shared temp folder) and the others read its
address from there. The server stops when the pytest process that started the
run ends, however it ends: the runner below watches that process.

Run as a script (by the server venv's Python), this file is that runner; it
imports nothing but the standard library and ``milvus``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVER_VENV = REPO / "build" / "milvus-server"
READY = "milvus ready"
START_TIMEOUT_S = 240


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def server_python() -> Path:
    """The server venv's Python, made with ``make milvus-server`` when missing."""
    python = SERVER_VENV / "bin" / "python"
    if not (SERVER_VENV / ".installed").exists():
        done = subprocess.run(["make", "-C", str(REPO), "milvus-server"], capture_output=True,
                              text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError("`make milvus-server` failed; the Milvus server tests need it:\n"
                               + done.stdout[-2000:] + done.stderr[-2000:])
    return python


def shared_server(shared: Path, owner_pid: int) -> str:
    """The address of the run's Milvus server, started here if no worker has yet.

    ``shared``: a folder every worker of the run sees; ``owner_pid``: the
    process whose end stops the server (pytest's main process)."""
    import fcntl

    shared.mkdir(parents=True, exist_ok=True)
    state = shared / "milvus.json"
    with open(shared / "milvus.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if state.exists():
            known = json.loads(state.read_text())
            if known.get("error"):
                raise RuntimeError(known["error"])
            if _alive(int(known["pid"])):
                return str(known["uri"])
        try:
            uri, pid = _start(shared, owner_pid)
        except Exception as exc:
            state.write_text(json.dumps({"error": str(exc)}))
            raise
        state.write_text(json.dumps({"uri": uri, "pid": pid}))
        return uri


def _start(shared: Path, owner_pid: int) -> tuple[str, int]:
    python = server_python()
    port = _free_port()
    base = shared / "milvus-data"
    log = open(shared / "milvus-runner.log", "w")  # noqa: SIM115 - the runner keeps it
    runner = subprocess.Popen(
        [str(python), __file__, str(base), str(port), str(owner_pid)],
        stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
    assert runner.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    line = ""
    while time.monotonic() < deadline and runner.poll() is None:
        line = runner.stdout.readline()
        if line.startswith(READY):
            return f"http://127.0.0.1:{port}", runner.pid
    runner.kill()
    server_log = base / "logs" / "milvus-stderr.log"
    tail = server_log.read_text(errors="replace")[-2000:] if server_log.exists() else ""
    raise RuntimeError(f"the Milvus server did not start on port {port} (runner said "
                       f"{line.strip()!r}; see {shared / 'milvus-runner.log'}):\n{tail}")


_ETCD = """name: pximse-test
listen-client-urls: http://127.0.0.1:{client}
advertise-client-urls: http://127.0.0.1:{client}
listen-peer-urls: http://127.0.0.1:{peer}
initial-advertise-peer-urls: http://127.0.0.1:{peer}
initial-cluster: pximse-test=http://127.0.0.1:{peer}
"""


def _serve(base: str, port: int, owner_pid: int) -> None:
    """Start the server, say so, and stop it when ``owner_pid`` ends or on SIGTERM.

    The package picks free ports for Milvus' own services but leaves its embedded
    etcd on etcd's fixed peer port (2380), so a second server on the machine (another
    checkout's test run) would fail to start: etcd gets a configuration of its own
    with free ports."""
    from milvus import default_server  # the server venv's package

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    default_server.set_base_dir(base)
    default_server.listen_port = port
    client, peer = _free_port(), _free_port()
    etcd = Path(base) / "etcd.yaml"
    etcd.parent.mkdir(parents=True, exist_ok=True)
    etcd.write_text(_ETCD.format(client=client, peer=peer))
    default_server.config.set("etcd_port", client)
    config = default_server.config
    anchor = "  use:\n    embed: true"
    if anchor not in config.template_text:
        raise RuntimeError("the milvus package's configuration template has changed: "
                           "no place found for the embedded etcd's configuration")
    config.template_text = config.template_text.replace(
        anchor, f"  config:\n    path: {etcd}\n{anchor}", 1)
    default_server.start()
    print(f"{READY} on {port}", flush=True)
    try:
        while not stopping and _alive(owner_pid) and default_server.running:
            time.sleep(0.5)
    finally:
        default_server.stop()


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
