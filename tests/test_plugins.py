"""Plug-ins: a distribution that names a plug-in in the ``pximse.plugins``
entry-point group adds a command, a route, a background loop and a page
feature; one that is broken is named in the log and left out, and the daemon
goes on. The distribution is a real one for importlib.metadata: a
``.dist-info`` folder with its ``entry_points.txt``, on the path."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.api_client import api_client

from pximse import plugins
from pximse.api.app import create_app

PLUGIN_MODULE = '''
import threading

import click
from fastapi import APIRouter

from pximse.plugins import Loop, Plugin

router = APIRouter(prefix="/api/hello")
ran = []


@router.get("")
def hello() -> dict:
    return {"hello": "from a plug-in"}


@click.command("hello")
def hello_command() -> None:
    """Say hello from a plug-in."""
    click.echo("hello from a plug-in")


def start_loop(context):
    def run():
        ran.append("started")
        context.stopping.wait()
        ran.append("stopped")

    context.spawn("hello loop", run)
    return ran


def failing_start(context):
    raise RuntimeError("this loop cannot start")


def failing_routers():
    raise RuntimeError("no routers today")


plugin = Plugin(
    name="hello",
    commands=lambda: [hello_command],
    routers=lambda: [router],
    loops=(Loop("hello loop", start_loop),),
    features={"hello": lambda state: {"available": True, "roots": len(state.config.roots)}},
)
faulty = Plugin(name="faulty", routers=failing_routers,
                loops=(Loop("faulty loop", failing_start),))
not_a_plugin = object()
'''

ENTRY_POINTS = """\
[pximse.plugins]
hello = pximse_hello_plugin:plugin
faulty = pximse_hello_plugin:faulty
missing = pximse_no_such_module:plugin
wrong = pximse_hello_plugin:not_a_plugin
"""


@pytest.fixture
def hello_plugin(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "pximse_hello_plugin.py").write_text(PLUGIN_MODULE, encoding="utf-8")
    dist_info = folder / "pximse_hello_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: pximse-hello-plugin\nVersion: 0.1\n", encoding="utf-8")
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS, encoding="utf-8")
    sys.path.insert(0, str(folder))
    plugins.refresh()
    try:
        yield folder
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("pximse_hello_plugin", None)
        plugins.refresh()


def test_pximse_finds_its_own_plugins_through_the_entry_points() -> None:
    names = [plugin.name for plugin in plugins.plugins()]
    assert names == ["digikam", "hydrus", "pixiv", "tray"]
    assert plugins.problems() == []


def test_a_plugin_adds_a_route_a_loop_and_a_feature(
        hello_plugin: Path, make_config, catalog, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="pximse.plugins")
    app = create_app(make_config(), catalog)
    with api_client(app) as client:
        assert client.get("/api/hello").json() == {"hello": "from a plug-in"}
        features = client.get("/api/features").json()
        assert features["hello"] == {"available": True, "roots": 0}
        assert "xmp" in features  # PxIMSE's own plug-ins are still there
        assert client.get("/api/hydrus").status_code == 200

    daemon = app.state.daemon
    daemon.start(scan=False, models=False, watch=False)
    try:
        for _ in range(500):
            if "started" in (daemon.loops.get("hello loop") or []):
                break
            threading.Event().wait(0.01)
        assert daemon.loops["hello loop"] == ["started"]
        assert daemon.loops.get("xmp sidecars") is None  # no root writes sidecars
        assert "faulty loop" not in daemon.loops
        errors = {e["path"]: e["message"] for e in daemon.status()["recent_errors"]}
    finally:
        daemon.stop()
    for _ in range(500):
        if daemon.loops["hello loop"] == ["started", "stopped"]:
            break
        threading.Event().wait(0.01)
    assert daemon.loops["hello loop"] == ["started", "stopped"]

    # The broken ones: each named, none took the others down.
    assert "this loop cannot start" in errors["plug-in faulty"]
    assert "pximse_no_such_module" in errors["plug-in missing"]
    problems = {(p.name, p.message.split(":")[0]) for p in plugins.problems()}
    assert problems == {("faulty", "its routers failed"), ("faulty", "could not start"),
                        ("missing", "could not be loaded"),
                        ("wrong", "is a object, not a pximse.plugins.Plugin")}
    logged = caplog.text
    for said in ("the plug-in 'missing' (pximse_no_such_module:plugin) could not be loaded",
                 "the plug-in 'wrong' (pximse_hello_plugin:not_a_plugin) is a object",
                 "the plug-in 'faulty' failed to give its routers",
                 "the plug-in 'faulty' could not start its 'faulty loop' loop"):
        assert said in logged


def test_a_plugin_adds_a_command(hello_plugin: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(hello_plugin), *filter(None, [os.environ.get("PYTHONPATH")])]),
           "PXIMSE_DATA_DIR": str(tmp_path / "data")}
    run = subprocess.run([sys.executable, "-m", "pximse", "hello"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "hello from a plug-in\n"
    assert ("the plug-in 'missing' (pximse_no_such_module:plugin) could not be loaded"
            in run.stderr)
    assert "Traceback" not in run.stderr  # one line a broken plug-in, not a traceback

    listed = subprocess.run([sys.executable, "-m", "pximse", "--help"], env=env,
                            capture_output=True, text=True, timeout=120)
    commands = listed.stdout.split("Commands:")[1]
    for name in ("hello", "hydrus", "pixiv", "tray", "xmp", "serve", "search"):
        assert f"\n  {name} " in commands
