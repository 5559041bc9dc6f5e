"""``pximse models download`` end to end: the configured WD14 tagger fetched
from a Hugging Face mirror (``HF_ENDPOINT``, here a local HTTP server holding a
tiny tagger in the real file formats) into the cache, then verified, and
never fetched twice."""

from __future__ import annotations

import functools
import http.server
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import http_server
from helpers.wd14_model import build_model, make_weights

from pximse.cli import main
from pximse.models.weights import cache_dir

REPO = "SmilingWolf/wd-vit-tagger-v3"


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[http.server.ThreadingHTTPServer]:
    root = tmp_path / "mirror"
    build_model(root / REPO / "resolve" / "main", *make_weights())
    with http_server(functools.partial(_Handler, directory=str(root))) as httpd:
        yield httpd


def test_download_then_verify_then_nothing_to_fetch(
        tmp_path: Path, mirror: http.server.ThreadingHTTPServer,
        caplog: pytest.LogCaptureFixture) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[models]\nallow_download = false\ntagger = "wd-vit-tagger-v3"\n'
                      'ocr = ""\nclip = ""\n',
                      encoding="utf-8")
    data = tmp_path / "data"
    common = ["--config", str(config), "--data-dir", str(data)]
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{mirror.server_address[1]}/"}
    runner = CliRunner()

    # Downloads are off in the configuration: the stage says what to do.
    listed = runner.invoke(main, ["models", "list", *common, "--json"], env=env)
    tagger = json.loads(listed.output)["tagger"]
    assert tagger["state"] == "unavailable" and "allow_download" in tagger["message"]
    assert tagger["missing_weights"] and tagger["runtime"]["runtime"] == "onnxruntime"
    listed = runner.invoke(main, ["models", "list", *common], env=env)
    assert listed.output.count("tagger: waiting for weights: ") == 1
    # Missing weights are no fault: said once, in the listing, with no warning beside it.
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "it will run on onnxruntime on cpu" in listed.output  # no GPU here
    assert mirror.requests == []  # type: ignore[attr-defined]

    # `models download` fetches whatever allow_download says.
    result = runner.invoke(main, ["models", "download", *common], env=env,
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "tagger: ready: wd-vit-tagger-v3:" in result.output
    folder = cache_dir(data, "wd-vit-tagger-v3")
    assert sorted(p.name for p in folder.iterdir()) == ["model.onnx", "selected_tags.csv"]
    source = tmp_path / "mirror" / REPO / "resolve" / "main"
    for name in ("model.onnx", "selected_tags.csv"):
        assert (folder / name).read_bytes() == (source / name).read_bytes()
    assert sorted(mirror.requests) == [  # type: ignore[attr-defined]
        f"/{REPO}/resolve/main/model.onnx", f"/{REPO}/resolve/main/selected_tags.csv"]

    # The model loads and runs; nothing is fetched again.
    verified = runner.invoke(main, ["models", "verify", *common], env=env,
                             catch_exceptions=False)
    assert verified.exit_code == 0, verified.output
    again = runner.invoke(main, ["models", "download", *common], env=env,
                          catch_exceptions=False)
    assert again.exit_code == 0 and len(mirror.requests) == 2  # type: ignore[attr-defined]
    listed = runner.invoke(main, ["models", "list", *common, "--json"], env=env)
    assert json.loads(listed.output)["tagger"]["state"] == "ready"


def test_a_mirror_without_the_files_fails_cleanly(
        tmp_path: Path, mirror: http.server.ThreadingHTTPServer) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[models]\ntagger = "wd-swinv2-tagger-v3"\nocr = ""\nclip = ""\n',
                      encoding="utf-8")
    data = tmp_path / "data"
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{mirror.server_address[1]}"}
    result = CliRunner().invoke(
        main, ["models", "download", "--config", str(config), "--data-dir", str(data)], env=env)
    assert result.exit_code == 1
    assert "tagger: unavailable:" in result.output and "404" in result.output
    folder = cache_dir(data, "wd-swinv2-tagger-v3")
    assert not folder.exists() or list(folder.iterdir()) == []  # no partial file left
