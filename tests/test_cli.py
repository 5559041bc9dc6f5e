"""The ``pximse`` command, run through click's runner and as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pximse.cli import main


def invoke(*args: str, env: dict[str, str] | None = None):
    result = CliRunner().invoke(main, list(args), env=env or {}, catch_exceptions=False)
    return result


def test_parse_name_json_contract() -> None:
    result = invoke(
        "parse-name", "--json", "12345_67890123_p2.png", "unknown.jpg",
        "twitter_名前(@someone)_20210304-102030_1367447052853293058_photo.jpg",
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert len(lines) == 3
    for line in lines:
        assert {"source", "user_id", "user_name", "post_id", "page", "posted", "tags"} <= set(line)
    assert lines[0]["source"] == "pixiv" and lines[0]["post_id"] == "67890123"
    assert lines[0]["page"] == 2 and lines[0]["user_id"] == "12345"
    assert lines[1]["source"] == "other"
    assert lines[2]["source"] == "twitter" and lines[2]["posted"].startswith("2021-03-04T10:20:30")


def test_parse_name_reads_danbooru_names_with_the_taggers_list(tmp_path: Path) -> None:
    """What parse-name shows is what indexing stores: the configured tagger's tag
    list takes Danbooru's names apart; no configuration file is written."""
    from pximse.store import names

    tagger = tmp_path / "tagger"
    tagger.mkdir()
    (tagger / "selected_tags.csv").write_text(
        "tag_id,name,category,count\n1,hatsune_miku,4,50\n2,2b_(nier:automata),4,9\n",
        encoding="utf-8")
    config = tmp_path / "c.toml"
    config.write_text(f'[models]\ntagger_path = "{tagger}"\n', encoding="utf-8")
    md5 = "0123456789abcdef" * 2
    try:
        result = invoke("--config", str(config), "--data-dir", str(tmp_path / "data"),
                        "parse-name", "--json", f"__hatsune_miku_vocaloid_drawn_by_xyz__{md5}.png",
                        f"__2b_nier_automata_drawn_by_xyz__{md5}.png")
        assert result.exit_code == 0, result.output
        first, second = (json.loads(line) for line in result.output.splitlines())
        assert first["tags"] == ["character:hatsune_miku", "copyright:vocaloid", "artist:xyz"]
        assert second["tags"] == ["character:2b_(nier:automata)", "copyright:nier:automata",
                                  "artist:xyz"]
        missing = tmp_path / "none.toml"
        result = invoke("--config", str(missing), "parse-name", "a.jpg")
        assert result.exit_code != 0 and "does not exist" in result.output
        assert not missing.exists()
    finally:
        names.set_default_vocabulary(None)


def test_index_then_search_json_contract(tmp_path: Path, library: Path, make_image) -> None:
    make_image(library / "67890123_p0.png", seed=1, size=(90, 60))
    make_image(library / "b.jpg", seed=2, size=(30, 40))
    common = ["--config", str(tmp_path / "c.toml"), "--data-dir", str(tmp_path / "data")]

    indexed = invoke("index", "--no-models", *common, str(library))
    assert indexed.exit_code == 0, indexed.output
    assert "2 new images" in indexed.output

    found = invoke("search", *common, "--json", "source:pixiv")
    assert found.exit_code == 0, found.output
    [item] = json.loads(found.output)
    assert {"id", "path", "width", "height", "filesize", "format", "source", "post_id"} <= set(item)
    assert (item["width"], item["height"], item["format"], item["post_id"]) == (
        90, 60, "png", "67890123")
    assert len(item["id"]) == 64

    everything = json.loads(invoke("search", *common, "--json", "--sort", "width;1").output)
    assert [i["width"] for i in everything] == [30, 90]

    status = invoke("status", *common, "--json")
    assert json.loads(status.output)["images"] == 2


def test_search_reports_a_parse_error_with_its_column(tmp_path: Path) -> None:
    common = ["--config", str(tmp_path / "c.toml"), "--data-dir", str(tmp_path / "data")]
    result = CliRunner().invoke(main, ["search", *common, "width:>abc"], env={})
    assert result.exit_code == 1
    assert "column 8" in result.output and "^" in result.output


def test_config_path_and_show_honour_the_environment(tmp_path: Path) -> None:
    env = {"PXIMSE_CONFIG": str(tmp_path / "x.toml"), "PXIMSE_DATA_DIR": str(tmp_path / "d")}
    result = invoke("config", "path", env=env)
    assert result.output.strip() == str(tmp_path / "x.toml")
    assert (tmp_path / "x.toml").exists()
    shown = invoke("config", "show", env=env)
    assert "[server]" in shown.output and str(tmp_path / "d") in shown.output


def test_bad_config_names_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nport = 99999\n")
    result = CliRunner().invoke(main, ["status", "--config", str(bad)], env={})
    assert result.exit_code == 1 and "server.port" in result.output


def test_the_console_script_runs_as_a_process(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pximse", "parse-name", "--json", "yande.re 5 a b.jpg"],
        capture_output=True, text=True, check=True,
    )
    assert json.loads(result.stdout)["tags"] == ["a", "b"]


@pytest.mark.parametrize("command", [["search", "x"], ["index"], ["serve", "--port", "1"]])
def test_a_data_folder_that_cannot_be_made_is_one_clear_line(
        tmp_path: Path, command: list[str]) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    config = tmp_path / "config.toml"
    config.write_text("", encoding="utf-8")
    result = CliRunner().invoke(
        main, [*command, "--config", str(config), "--data-dir", str(blocker / "data")], env={})
    assert result.exit_code == 1
    assert f"the data folder {blocker / 'data'} cannot be used: Not a directory" in result.output
    assert "Traceback" not in result.output
