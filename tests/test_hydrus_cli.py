"""``pximse hydrus push|import|show|sidecars|status`` end to end against the fake Hydrus."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.hydrus_fake import FakeHydrus
from helpers.hydrus_target import SERVICE, TEST_KEY, fake_hydrus_fixture  # noqa: F401 (fixture)

from pximse.cli import main
from pximse.config import load_config
from pximse.store.sqlite.catalog import SqliteCatalog

MODEL = "wd-vit-tagger-v3"


def _config(tmp_path: Path, url: str, roots: dict[str, Path] | None = None,
            key: str = TEST_KEY) -> Path:
    lines = []
    for name, path in (roots or {}).items():
        lines += ["[[library.roots]]", f'name = "{name}"', f"path = '{path}'", ""]
    lines += ["[hydrus]", f'url = "{url}"', f'access_key = "{key}"',
              f'tag_service = "{SERVICE}"']
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, [args[0], args[1], "--config", str(config), "--data-dir",
               str(config.parent / "data"), *args[2:]], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def library(tmp_path: Path, make_image, fake_hydrus: FakeHydrus) -> dict[str, Path]:
    """Three indexed images with tagger results; Hydrus holds two of them."""
    folder = tmp_path / "library"
    files = {
        "pixiv": make_image(folder / "12345_67890123_p0.png", seed=11),
        "yandere": make_image(folder / "yande.re 431721 thighhighs.png", seed=12),
        "other": make_image(folder / "other.png", seed=13),
    }
    config = _config(tmp_path, fake_hydrus.url, {"library": folder})
    code, output = run(config, "index", str(folder), "--no-models")
    assert code == 0, output
    catalog = SqliteCatalog(tmp_path / "data" / "catalog.sqlite3")
    ids = catalog.content_ids([_sha(p) for p in files.values()])
    catalog.set_model_tags_many([(i, MODEL, {"long_hair": 0.9, "rating:general": 0.8})
                                 for i in ids.values()])
    catalog.close()
    for name in ("pixiv", "yandere"):
        fake_hydrus.add_file(files[name].read_bytes())
    return files


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_push_then_nothing_to_push(tmp_path: Path, fake_hydrus: FakeHydrus, library) -> None:
    config = tmp_path / "config.toml"
    code, output = run(config, "hydrus", "push", "--json")
    assert code == 0, output
    report = json.loads(output)
    assert (report["images"], report["updated"], report["not_in_hydrus"]) == (3, 2, 1)
    service = SERVICE.encode().hex()
    assert {"long hair", "rating:general", f"pximse:{MODEL}", "thighhighs"} <= \
        fake_hydrus.current(service, _sha(library["yandere"]))
    code, output = run(config, "hydrus", "push", "--json")
    assert json.loads(output)["unchanged"] == 2
    code, output = run(config, "hydrus", "push", "--again", "--json", "thighhighs")
    assert (json.loads(output)["images"], json.loads(output)["updated"]) == (1, 1)
    code, output = run(config, "hydrus", "status", "--json")
    assert code == 0, output
    assert json.loads(output)["ledger"] == {"pushed": 2, "not_in_hydrus": 1}
    assert json.loads(output)["can_commit"] is True


def test_a_stopped_hydrus_is_one_clear_message(tmp_path: Path, fake_hydrus: FakeHydrus,
                                               library) -> None:
    fake_hydrus.stop()
    code, output = run(tmp_path / "config.toml", "hydrus", "push")
    assert code == 1
    assert "not reachable" in output and "Traceback" not in output


def test_wrong_key_and_missing_service_are_clear(tmp_path: Path,
                                                 fake_hydrus: FakeHydrus) -> None:
    config = _config(tmp_path, fake_hydrus.url, key="99" * 32)
    code, output = run(config, "hydrus", "push")
    assert code == 1 and "403" in output and "access_key" in output
    config.write_text(config.read_text().replace(SERVICE, "Nope").replace("99" * 32, TEST_KEY))
    code, output = run(config, "hydrus", "push")
    assert code == 1 and "no local tag service named 'Nope'" in output
    config.write_text(config.read_text().replace(f'access_key = "{TEST_KEY}"',
                                                 'access_key = ""'))
    code, output = run(config, "hydrus", "push")
    assert code == 1 and "set [hydrus] access_key" in output


def test_import_indexes_hydrus_files_in_place(tmp_path: Path, fake_hydrus: FakeHydrus,
                                              make_image) -> None:
    shas = []
    for seed in (21, 22):
        picture = make_image(tmp_path / "incoming" / f"{seed}.png", seed=seed)
        shas.append(fake_hydrus.add_file(picture.read_bytes(), ext=".png"))
    thumbs = fake_hydrus.client_files / "t00"
    thumbs.mkdir(parents=True)
    (thumbs / "x.thumbnail").write_bytes((tmp_path / "incoming" / "21.png").read_bytes())
    config = _config(tmp_path, fake_hydrus.url)
    code, output = run(config, "hydrus", "import", "--no-models", "--save", "--json")
    assert code == 0, output
    body = json.loads(output.splitlines()[-1])
    assert body["roots"][0]["name"] == "hydrus"
    assert body["scan"]["new_images"] == 2  # the thumbnail folder is not indexed
    catalog = SqliteCatalog(tmp_path / "data" / "catalog.sqlite3")
    assert set(catalog.content_ids(shas)) == set(shas)
    catalog.close()
    saved = load_config(config, tmp_path / "data", env={})
    assert [r.name for r in saved.roots] == ["hydrus"]
    assert saved.roots[0].includes(f"f{shas[0][:2]}/{shas[0]}.png")
    assert not saved.roots[0].includes("t00/x.thumbnail")
    code, output = run(config, "hydrus", "import", "--no-models", "--save", "--json")
    assert json.loads(output.splitlines()[-1])["scan"]["new_images"] == 0
    assert load_config(config, tmp_path / "data", env={}).roots == saved.roots


def test_show_sends_results_to_a_new_page(tmp_path: Path, fake_hydrus: FakeHydrus,
                                          library) -> None:
    config = tmp_path / "config.toml"
    code, output = run(config, "hydrus", "show", "--json", "long_hair")
    assert code == 0, output
    result = json.loads(output)
    assert (result["sent"], result["not_in_hydrus"], result["total"]) == (2, 1, 3)
    page = fake_hydrus.pages[-1]
    assert page.name == "PxIMSE: long_hair" and page.key == result["page"]["key"]
    assert set(page.hashes) == {_sha(library["pixiv"]), _sha(library["yandere"])}


def test_show_on_an_older_client_uses_a_page_named_pximse(
        tmp_path: Path, fake_hydrus: FakeHydrus, library) -> None:
    fake_hydrus.has_new_page = False
    config = tmp_path / "config.toml"
    code, output = run(config, "hydrus", "show", "thighhighs")
    assert code == 1 and "name it 'PxIMSE'" in output
    fake_hydrus.pages[0].name = "PxIMSE"
    code, output = run(config, "hydrus", "show", "--json", "thighhighs")
    assert code == 0, output
    assert fake_hydrus.pages[0].hashes == [_sha(library["yandere"])]


def test_sidecars_for_import_folders(tmp_path: Path, library) -> None:
    config = tmp_path / "config.toml"
    users_own = library["other"].with_name("other.png.txt")
    users_own.write_text("my tag\n", encoding="utf-8")
    code, output = run(config, "hydrus", "sidecars", "--json")
    assert code == 0, output
    report = json.loads(output)
    assert (report["written"], report["kept"]) == (2, [str(users_own)])
    sidecar = library["yandere"].with_name(library["yandere"].name + ".txt")
    lines = sidecar.read_text(encoding="utf-8").splitlines()
    assert lines == sorted(lines) and {"long hair", "thighhighs", "rating:general"} <= set(lines)
    stamp = sidecar.stat().st_mtime_ns
    code, output = run(config, "hydrus", "sidecars", "--json")
    assert json.loads(output)["unchanged"] == 2 and sidecar.stat().st_mtime_ns == stamp
    code, output = run(config, "hydrus", "sidecars", "--remove", "--json")
    assert json.loads(output)["removed"] == 2
    assert not sidecar.exists() and users_own.read_text(encoding="utf-8") == "my tag\n"


def test_import_asks_an_older_client_where_one_file_is(tmp_path: Path, fake_hydrus: FakeHydrus,
                                                        make_image) -> None:
    fake_hydrus.missing.add("/get_files/local_file_storage_locations")
    picture = make_image(tmp_path / "incoming" / "a.png", seed=31)
    sha = fake_hydrus.add_file(picture.read_bytes())
    config = _config(tmp_path, fake_hydrus.url)
    code, output = run(config, "hydrus", "import", "--no-models", "--json")
    assert code == 0, output
    body = json.loads(output.splitlines()[-1])
    assert body["roots"][0]["path"] == str(fake_hydrus.client_files.resolve())
    assert body["scan"]["new_images"] == 1
    catalog = SqliteCatalog(tmp_path / "data" / "catalog.sqlite3")
    assert catalog.content_ids([sha]) != {}
    catalog.close()


def test_import_of_a_folder_that_is_not_a_hydrus_store(tmp_path: Path,
                                                       fake_hydrus: FakeHydrus) -> None:
    config = _config(tmp_path, fake_hydrus.url)
    (tmp_path / "photos").mkdir()
    code, output = run(config, "hydrus", "import", "--no-models", "--path",
                       str(tmp_path / "photos"))
    assert code == 1 and "not a Hydrus file store" in output


def test_no_sidecars_in_hydrus_own_store_nor_empty_ones(tmp_path: Path, fake_hydrus: FakeHydrus,
                                                        library, make_image) -> None:
    """After `hydrus import`, Hydrus's client_files is a root too: its files get no
    .txt (Hydrus has them; a stray file there outlives the file Hydrus deletes),
    and an image without tags gets none either."""
    picture = make_image(tmp_path / "incoming" / "h.png", seed=41)
    sha = fake_hydrus.add_file(picture.read_bytes(), ext=".png")
    config = tmp_path / "config.toml"
    code, output = run(config, "hydrus", "import", "--no-models", "--save", "--json")
    assert code == 0, output
    catalog = SqliteCatalog(tmp_path / "data" / "catalog.sqlite3")
    catalog.set_model_tags_many([(catalog.content_ids([sha])[sha], MODEL,
                                  {"long_hair": 0.9})])
    untagged = _sha(library["other"])
    catalog.set_model_tags_many([(catalog.content_ids([untagged])[untagged], MODEL, {})])
    catalog.close()
    code, output = run(config, "hydrus", "sidecars", "--json")
    assert code == 0, output
    report = json.loads(output)
    # Hydrus's copies of the library's two images are in its store too.
    assert (report["written"], report["in_hydrus"], report["no_tags"]) == (2, 3, 1)
    assert list(fake_hydrus.client_files.rglob("*.txt")) == []
    assert not library["other"].with_name("other.png.txt").exists()
    # A sidecar PxIMSE wrote for an image whose tags are gone is taken away.
    pixiv = _sha(library["pixiv"])
    catalog = SqliteCatalog(tmp_path / "data" / "catalog.sqlite3")
    catalog.set_model_tags_many([(catalog.content_ids([pixiv])[pixiv], MODEL, {})])
    catalog.close()
    code, output = run(config, "hydrus", "sidecars", "--json")
    assert json.loads(output)["removed"] == 1
    assert not library["pixiv"].with_name(library["pixiv"].name + ".txt").exists()


def test_key_problems_say_what_is_wrong(tmp_path: Path, fake_hydrus: FakeHydrus,
                                        library) -> None:
    config = _config(tmp_path, fake_hydrus.url, {"library": library["pixiv"].parent},
                     key="99" * 32)
    for command in (("hydrus", "show", "long_hair"), ("hydrus", "import", "--no-models"),
                    ("hydrus", "push")):
        code, output = run(config, *command)
        assert code == 1 and "does not know the access key" in output, (command, output)
        assert "permission" not in output
    config.write_text(config.read_text().replace("99" * 32, "not-a-key"))
    code, output = run(config, "hydrus", "push")
    assert code == 1 and "not a Hydrus access key" in output
    assert "Problem parsing" not in output
    limited = fake_hydrus.add_key("cd" * 32, {3})  # search only
    config.write_text(config.read_text().replace("not-a-key", limited))
    code, output = run(config, "hydrus", "push")
    assert code == 1 and "'Edit File Tags' permission" in output


def test_show_with_nothing_in_hydrus_makes_no_page(tmp_path: Path, fake_hydrus: FakeHydrus,
                                                   library) -> None:
    config = tmp_path / "config.toml"
    before = len(fake_hydrus.pages)
    code, output = run(config, "hydrus", "show", "long_hair -rating:general")
    assert code == 0, output
    assert output.strip() == "no Hydrus page made: the search found nothing"
    fake_hydrus.files.clear()
    code, output = run(config, "hydrus", "show", "long_hair")
    assert output.strip() == "no Hydrus page made: none of the 3 results is in Hydrus"
    assert len(fake_hydrus.pages) == before and "0 files sent" not in output


def test_an_interrupted_push_reports_what_hydrus_accepted(tmp_path: Path,
                                                          fake_hydrus: FakeHydrus,
                                                          library) -> None:
    config = tmp_path / "config.toml"
    fake_hydrus.crash_after(1)  # killed as it takes the first tags request
    code, output = run(config, "hydrus", "push", "--json")
    assert code == 1 and "stopped early" in output and "?." not in output, output
    report = json.loads(output.splitlines()[0])
    assert fake_hydrus.running.wait(10)
    service = SERVICE.encode().hex()
    accepted = [sha for sha in fake_hydrus.files if fake_hydrus.current(service, sha)]
    assert report["updated"] == len(accepted) < 2  # not the 2 it planned
    code, output = run(config, "hydrus", "push", "--json")
    assert code == 0, output
    report = json.loads(output.splitlines()[0])
    assert report["updated"] + report["unchanged"] == 2 and report["stopped"] is None, output
    assert all(fake_hydrus.current(service, sha) for sha in fake_hydrus.files)


def test_ocr_noise_is_no_note(tmp_path: Path, fake_hydrus: FakeHydrus, library) -> None:
    catalog = SqliteCatalog(tmp_path / "data" / "catalog.sqlite3")
    pixiv, yandere = _sha(library["pixiv"]), _sha(library["yandere"])
    ids = catalog.content_ids([pixiv, yandere])
    catalog.set_ocr(ids[pixiv], "rapidocr", [("■", [[0, 0]] * 4, 0.95), ("1", [[0, 0]] * 4, 0.9),
                                             ("--", [[0, 0]] * 4, 0.99)])
    catalog.set_ocr(ids[yandere], "rapidocr", [("ありがとう", [[0, 0]] * 4, 0.97),
                                               ("x#q", [[0, 0]] * 4, 0.72)])
    catalog.close()
    code, output = run(tmp_path / "config.toml", "hydrus", "push", "--json")
    assert code == 0 and json.loads(output)["notes_set"] == 1, output
    assert fake_hydrus.files[pixiv].notes == {}
    assert fake_hydrus.files[yandere].notes == {"ocr": "ありがとう"}


def test_status_says_when_the_key_cannot_commit(tmp_path: Path, fake_hydrus: FakeHydrus) -> None:
    key = fake_hydrus.add_key("cd" * 32, {0, 2, 3, 7})  # all a push needs but Manage Database
    config = _config(tmp_path, fake_hydrus.url, key=key)
    code, output = run(config, "hydrus", "status")
    assert code == 0 and "lacks 'Manage Database'" in output, output
    code, output = run(config, "hydrus", "status", "--json")
    assert json.loads(output)["can_commit"] is False
