"""The configuration file: first run, precedence, validation, patterns, round trip."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pximse import config as config_module
from pximse.config import (
    DEFAULT_EXCLUDE,
    Config,
    ConfigError,
    RootConfig,
    ScanConfig,
    SearchConfig,
    ServerConfig,
    config_to_toml,
    default_config_text,
    load_config,
)
from pximse.config.settings import SECTIONS

DOCS = Path(__file__).resolve().parent.parent / "docs" / "config.md"


@pytest.fixture(autouse=True)
def platform_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Keep every test away from the real user folders and environment."""
    dirs = {
        "config": tmp_path / "platform-config" / "pximse" / "config.toml",
        "data": tmp_path / "platform-data" / "pximse",
    }
    monkeypatch.setattr(config_module, "default_config_path", lambda: dirs["config"])
    monkeypatch.setattr(config_module, "default_data_dir", lambda: dirs["data"])
    monkeypatch.delenv("PXIMSE_CONFIG", raising=False)
    monkeypatch.delenv("PXIMSE_DATA_DIR", raising=False)
    return dirs


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Config:
    path = write(tmp_path / "config.toml", text)
    return load_config(path, create=False, env=env or {})


def error_for(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text)
    return info.value


# --- first run ----------------------------------------------------------------------


def test_first_run_writes_the_commented_default_file(platform_dirs: dict[str, Path]) -> None:
    path = platform_dirs["config"]
    assert not path.parent.exists()

    config = load_config(env={})

    assert path.is_file()
    assert config == Config(
        config_path=path,
        data_dir=platform_dirs["data"],
        roots=(),
        server=ServerConfig(),
        scan=ScanConfig(),
        search=SearchConfig(),
    )
    text = path.read_text("utf-8")
    assert text == default_config_text()
    assert f'# data_dir = "{platform_dirs["data"]}"' in text
    # A second start reads the file it wrote, unchanged.
    assert load_config(env={}) == config
    assert path.read_text("utf-8") == text


def test_default_file_sets_every_key_to_its_default() -> None:
    data = tomllib.loads(default_config_text())
    for name, cls in SECTIONS.items():
        expected = {f.name: list(f.default) if isinstance(f.default, tuple) else f.default
                    for f in fields(cls) if f.default is not None}
        assert data[name] == expected
    assert data["library"] == {}  # no root active
    assert "data_dir" not in data


def test_default_file_and_docs_mention_every_key() -> None:
    keys = ["data_dir", "name", "path", "recursive", "include", "exclude"]
    for cls in SECTIONS.values():
        keys += [f.name for f in fields(cls)]
    default_text = default_config_text()
    docs = DOCS.read_text("utf-8")
    for key in keys:
        assert re.search(rf"^#? ?{key} = ", default_text, re.MULTILINE), key
        assert f"`{key}`" in docs, key
    for variable in ("PXIMSE_CONFIG", "PXIMSE_DATA_DIR"):
        assert variable in docs


def docs_tables() -> dict[str, dict[str, list[str]]]:
    """docs/config.md's key tables: section -> key -> the row's cells."""
    tables: dict[str, dict[str, list[str]]] = {}
    section = None
    for line in DOCS.read_text("utf-8").splitlines():
        heading = re.match(r"#+ `\[(\w+)\]`", line)
        if heading:
            section = heading.group(1)
            tables[section] = {}
        elif line.startswith("#"):
            section = None
        elif section and line.startswith("| `"):
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
            tables[section][cells[0].strip("`")] = cells
    return tables


def test_the_reference_documents_each_section_key_by_key_with_its_default() -> None:
    """docs/config.md is held to the validator: each section's table names exactly
    the keys the validator accepts, each with the default the code has."""
    from pximse.config.toml_writer import toml_value
    from pximse.config.validate import _RULES

    tables = docs_tables()
    for name, cls in SECTIONS.items():
        assert name in tables, f"docs/config.md has no [{name}] table"
        accepted = set(_RULES[name])
        assert accepted == {f.name for f in fields(cls)}
        assert set(tables[name]) == accepted, name
        for f in fields(cls):
            documented = tables[name][f.name][2]
            if f.default is None:
                assert documented == "not set", (name, f.name)
            else:
                value = list(f.default) if isinstance(f.default, tuple) else f.default
                assert documented == f"`{toml_value(value)}`", (name, f.name, documented)


def test_example_root_in_the_default_file_is_valid(tmp_path: Path) -> None:
    lines = default_config_text().splitlines()
    start = lines.index("# [[library.roots]]")
    example = [line[2:] for line in lines[start:] if line.startswith("# ")]
    example = example[: next(i for i, line in enumerate(example) if line.startswith("exclude")) + 1]
    config = load_text(tmp_path, "\n".join(example) + "\n", env={"HOME": "/home/u"})
    (root,) = config.roots
    assert root.name == "pixiv"
    assert root.path == Path("/home/u/Pictures/pixiv")


def test_missing_default_file_without_create_means_defaults(
    platform_dirs: dict[str, Path],
) -> None:
    config = load_config(create=False, env={})
    assert config.roots == () and config.server == ServerConfig()
    assert not platform_dirs["config"].exists()


def test_missing_named_file_without_create_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="does not exist") as info:
        load_config(missing, create=False, env={})
    assert str(missing) in str(info.value)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(create=False, env={"PXIMSE_CONFIG": str(missing)})


def test_missing_named_file_with_create_is_written(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "pximse.toml"
    config = load_config(path, env={})
    assert path.is_file() and config.config_path == path


def test_derived_paths(tmp_path: Path) -> None:
    config = load_text(tmp_path, 'data_dir = "data"\n')
    assert config.catalog_path == tmp_path / "data" / "catalog.sqlite3"
    assert config.thumbnail_dir == tmp_path / "data" / "thumbnails"


# --- precedence ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "from_env", "expected"),
    [
        ("arg.toml", "env.toml", "arg.toml"),
        (None, "env.toml", "env.toml"),
        (None, None, "default"),
        ("", "env.toml", "env.toml"),  # empty counts as not given
        (None, "", "default"),
    ],
)
def test_config_path_precedence(
    tmp_path: Path,
    platform_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    argument: str | None,
    from_env: str | None,
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {} if from_env is None else {"PXIMSE_CONFIG": from_env}
    config = load_config(argument, env=env)
    want = platform_dirs["config"] if expected == "default" else tmp_path / expected
    assert config.config_path == want
    assert want.is_file()


def test_config_path_from_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "from-environ.toml", "[server]\nport = 9000\n")
    monkeypatch.setenv("PXIMSE_CONFIG", str(path))
    assert load_config(create=False).server.port == 9000


@pytest.mark.parametrize(
    ("argument", "from_env", "in_file", "expected"),
    [
        ("arg", "env", "file", "arg"),
        (None, "env", "file", "env"),
        (None, None, "file", "file"),
        (None, None, None, "default"),
        ("arg", None, None, "arg"),
        (None, "env", None, "env"),
    ],
)
def test_data_dir_precedence(
    tmp_path: Path,
    platform_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    argument: str | None,
    from_env: str | None,
    in_file: str | None,
    expected: str,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    conf = write(tmp_path / "conf" / "config.toml",
                 "" if in_file is None else f'data_dir = "{in_file}"\n')
    env = {} if from_env is None else {"PXIMSE_DATA_DIR": from_env}
    config = load_config(conf, argument, env=env)
    # Arguments and variables are relative to the working folder, the file's
    # key to the file's folder.
    want = {
        "arg": work / "arg",
        "env": work / "env",
        "file": conf.parent / "file",
        "default": platform_dirs["data"],
    }[expected]
    assert config.data_dir == want


def test_paths_expand_home_and_variables(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        'data_dir = "~/pximse-data"\n'
        "[[library.roots]]\n"
        'name = "a"\npath = "$PICS/pixiv"\n'
        "[[library.roots]]\n"
        'name = "b"\npath = "${PICS}/../twitter"\n'
        "[[library.roots]]\n"
        'name = "c"\npath = "relative/folder"\n'
        "[[library.roots]]\n"
        'name = "d"\npath = "$UNSET_VARIABLE/x"\n',
        env={"HOME": "/home/u", "PICS": "/mnt/pics"},
    )
    assert config.data_dir == Path("/home/u/pximse-data")
    assert [root.path for root in config.roots] == [
        Path("/mnt/pics/pixiv"),
        Path("/mnt/twitter"),
        tmp_path / "relative" / "folder",
        tmp_path / "$UNSET_VARIABLE" / "x",
    ]
    assert all(root.path.is_absolute() for root in config.roots)


def test_a_root_that_does_not_exist_is_fine(tmp_path: Path) -> None:
    config = load_text(
        tmp_path, '[[library.roots]]\nname = "nas"\npath = "/mnt/unplugged/drive"\n'
    )
    assert config.roots[0].path == Path("/mnt/unplugged/drive")
    assert config.roots[0].exclude == DEFAULT_EXCLUDE


# --- validation ---------------------------------------------------------------------

ROOT = '[[library.roots]]\nname = "pixiv"\npath = "/pics"\n'


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ("data_dir = 3\n", "data_dir", "expected a string, got 3"),
        ('data_dir = ""\n', "data_dir", "must not be empty"),
        ('library = "x"\n', "library", "expected a table"),
        ("[library]\nroots = 1\n", "library.roots", "expected an array of tables"),
        ("[library.roots]\n", "library.roots", "expected an array of tables"),
        ("[library]\nroots = [1]\n", "library.roots[0]", "expected a table"),
        ('[[library.roots]]\npath = "/p"\n', "library.roots[0].name", "missing"),
        ('[[library.roots]]\nname = "a"\n', "library.roots[0].path", "missing"),
        (ROOT + '[[library.roots]]\nname = "b"\npath = 12\n',
         "library.roots[1].path", "expected a string, got 12"),
        ('[[library.roots]]\nname = "a"\npath = ""\n', "library.roots[0].path", "empty"),
        ('[[library.roots]]\nname = ""\npath = "/p"\n', "library.roots[0].name", "empty"),
        ('[[library.roots]]\nname = 5\npath = "/p"\n', "library.roots[0].name",
         "expected a string, got 5"),
        ('[[library.roots]]\nname = "a/b"\npath = "/p"\n', "library.roots[0].name",
         "characters that cannot be used"),
        ('[[library.roots]]\nname = "what?"\npath = "/p"\n', "library.roots[0].name", "'?'"),
        ('[[library.roots]]\nname = ".."\npath = "/p"\n', "library.roots[0].name", "only dots"),
        ('[[library.roots]]\nname = " a"\npath = "/p"\n', "library.roots[0].name",
         "start or end with a space"),
        ('[[library.roots]]\nname = "' + "x" * 65 + '"\npath = "/p"\n',
         "library.roots[0].name", "at most 64"),
        (ROOT + '[[library.roots]]\nname = "Pixiv"\npath = "/other"\n',
         "library.roots[1].name", "already the name of library.roots[0]"),
        (ROOT + "recursive = 1\n", "library.roots[0].recursive", "expected true or false, got 1"),
        (ROOT + 'include = "*.png"\n', "library.roots[0].include", "expected an array"),
        (ROOT + 'exclude = ["ok", 3]\n', "library.roots[0].exclude[1]",
         "expected a string, got 3"),
        (ROOT + 'include = [""]\n', "library.roots[0].include[0]", "must not be empty"),
        (ROOT + 'include = ["[z-a]"]\n', "library.roots[0].include[0]", "not a valid pattern"),
        ('[server]\nhost = ""\n', "server.host", "expected a host name"),
        ("[server]\nhost = 1\n", "server.host", "expected a string, got 1"),
        ("[server]\nport = 0\n", "server.port", "must be between 1 and 65535"),
        ("[server]\nport = 70000\n", "server.port", "must be between 1 and 65535"),
        ('[server]\nport = "8741"\n', "server.port", 'expected an integer, got "8741"'),
        ("[server]\nport = true\n", "server.port", "expected an integer, got true"),
        ('[server]\ntoken = ""\n', "server.token", "must not be empty"),
        ("[scan]\nworkers = -1\n", "scan.workers", "must be between 0 and 1024"),
        ("[scan]\nworkers = 1.5\n", "scan.workers", "expected an integer, got 1.5"),
        ("[scan]\nbatch_size = 0\n", "scan.batch_size", "must be between 1"),
        ("[scan]\nthumbnail_size = 8\n", "scan.thumbnail_size", "must be between 16 and 4096"),
        ("[scan]\nmax_image_pixels = 0\n", "scan.max_image_pixels", "must be at least 1"),
        ('[scan]\nfollow_symlinks = "yes"\n', "scan.follow_symlinks", "expected true or false"),
        ("[search]\ntag_threshold = 1.5\n", "search.tag_threshold", "between 0.0 and 1.0"),
        ("[search]\ntag_threshold = nan\n", "search.tag_threshold", "between 0.0 and 1.0"),
        ("[search]\ntag_threshold = true\n", "search.tag_threshold", "expected a number"),
        ('[search]\ndefault_sort = "-nonsense"\n', "search.default_sort", "not a sort key"),
        ("[search]\ndefault_sort = 1\n", "search.default_sort", "expected a string"),
        ("[search]\npage_size = 0\n", "search.page_size", "must be at least 1"),
        ("[search]\npage_size = 2000\n", "search.page_size",
         "must not be larger than search.max_page_size (1000)"),
        ("[search]\nmax_page_size = 0\n", "search.max_page_size", "must be between 1"),
        ("[search]\nquery_timeout_ms = 0\n", "search.query_timeout_ms", "must be at least 1"),
        ("[search]\nquery_timeout_ms = 1979-05-27\n", "search.query_timeout_ms",
         "expected an integer, got a date/time"),
        ('scan = [1]\n', "scan", "expected a table ([scan]), got an array"),
    ],
)
def test_every_validation_message_names_its_key(
    tmp_path: Path, text: str, key: str, fragment: str
) -> None:
    error = error_for(tmp_path, text)
    assert error.key == key
    assert error.message.startswith(f"{key}: ")
    assert fragment in error.message
    assert str(error) == f"{tmp_path / 'config.toml'}: {error.message}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[sevrer]\nport = 1\n", "unknown key 'sevrer' (did you mean 'server'?)"),
        ("[server]\nprot = 1\n", "unknown key 'server.prot' (did you mean 'server.port'?)"),
        ("port = 9000\n", "unknown key 'port' (did you mean 'server.port'?)"),
        ("[pixiv]\ntoken = \"x\"\n",
         "unknown key 'pixiv.token' (did you mean 'pixiv.refresh_token'?)"),
        ("[search]\ntag_treshold = 0.3\n",
         "unknown key 'search.tag_treshold' (did you mean 'search.tag_threshold'?)"),
        (ROOT + "recursve = false\n",
         "unknown key 'library.roots[0].recursve' (did you mean 'library.roots[0].recursive'?)"),
        ("[library]\nroot = []\n", "unknown key 'library.root' (did you mean 'library.roots'?)"),
        ("[[roots]]\nname = 'a'\n", "unknown key 'roots' (did you mean 'library.roots'?)"),
        ("zzz = 1\n", "unknown key 'zzz'; expected one of: data_dir, library, server, scan, "
                      "search, models, watch, indexing, xmp, hydrus, pixiv, backend"),
    ],
)
def test_unknown_keys_suggest_the_nearest(tmp_path: Path, text: str, message: str) -> None:
    assert error_for(tmp_path, text).message == message


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("[server]\nport = 8741\nhost = \n", 3, 8),
        ("[server]\nport 8741\n", 2, 6),
        ("[server]\n[server]\n", 2, 8),
        ("[server]\nport = 1\nport = 2", 3, 9),  # reported at the end of the file
    ],
)
def test_bad_toml_gives_line_and_column(
    tmp_path: Path, text: str, line: int, column: int
) -> None:
    error = error_for(tmp_path, text)
    assert error.key is None
    assert (error.line, error.column) == (line, column)
    assert error.message.startswith("invalid TOML: ")
    assert str(error).startswith(f"{tmp_path / 'config.toml'}:{line}:{column}: invalid TOML: ")


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"[server]\n# caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8") as info:
        load_config(path, create=False, env={})
    assert info.value.line == 2


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes("\ufeff[server]\nport = 9001\n".encode())
    assert load_config(path, create=False, env={}).server.port == 9001


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path, env={})


def test_unicode_root_names_are_allowed(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        '[[library.roots]]\nname = "イラスト 2024_v1.0-b"\npath = "/a"\n'
        # The same name decomposed (as macOS writes it) is the same name.
        '[[library.roots]]\nname = "cafe\u0301"\npath = "/b"\n',
    )
    assert [root.name for root in config.roots] == ["イラスト 2024_v1.0-b", "caf\u00e9"]


# --- the token rule -----------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2", "[::1]"])
def test_loopback_hosts_need_no_token(tmp_path: Path, host: str) -> None:
    config = load_text(tmp_path, f'[server]\nhost = "{host}"\n')
    assert config.server.token is None
    assert config.server.is_loopback


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "my-desktop.lan"])
def test_other_hosts_need_a_token(tmp_path: Path, host: str) -> None:
    error = error_for(tmp_path, f'[server]\nhost = "{host}"\n')
    assert error.key == "server.token"
    assert error.message.startswith("server.token: required when server.host")
    assert repr(host) in error.message

    config = load_text(tmp_path, f'[server]\nhost = "{host}"\ntoken = "s3cret-token"\n')
    assert config.server.token == "s3cret-token"
    assert not config.server.is_loopback


# --- include / exclude --------------------------------------------------------------


@pytest.mark.parametrize(
    ("include", "exclude", "relpath", "counted"),
    [
        ((), (), "a.png", True),
        ((), (), "deep/er/a.png", True),
        # A pattern without '/' matches a name at any depth.
        (("*.png",), (), "a.png", True),
        (("*.png",), (), "x/y/a.PNG", True),  # case does not matter
        (("*.png",), (), "x/a.jpg", False),
        ((), ("*.tmp",), "x/a.tmp", False),
        ((), ("*.tmp",), "x/a.tmp.png", True),
        # ... and a folder name matches everything under it.
        ((), ("@eaDir",), "a/@eaDir/SYNOPHOTO_THUMB_M.jpg", False),
        ((), ("@eaDir",), "a/not@eaDir/b.jpg", True),
        # Hidden files and folders, the default exclude.
        ((), DEFAULT_EXCLUDE, ".hidden.png", False),
        ((), DEFAULT_EXCLUDE, "a/.cache/b.png", False),
        ((), DEFAULT_EXCLUDE, "a/._b.png", False),
        ((), DEFAULT_EXCLUDE, "a/b.c/d.png", True),
        ((), DEFAULT_EXCLUDE, "$Recycle.Bin/x.png", False),
        ((), DEFAULT_EXCLUDE, "System Volume Information/x.png", False),
        # A pattern with '/' is anchored at the root.
        (("pixiv/*.png",), (), "pixiv/a.png", True),
        (("pixiv/*.png",), (), "pixiv/sub/a.png", False),  # * stays within a name
        (("pixiv/*.png",), (), "old/pixiv/a.png", False),
        (("/*.png",), (), "a.png", True),
        (("/*.png",), (), "x/a.png", False),
        (("pixiv",), (), "old/pixiv/a.png", True),
        (("pixiv/",), (), "pixiv/a.png", True),
        # A trailing '/' matches folders only.
        ((), ("tmp/",), "tmp", True),
        ((), ("tmp/",), "tmp/a.png", False),
        ((), ("tmp/",), "x/tmp/a.png", False),
        # ** spans any number of folders, including none.
        (("**/*.png",), (), "a.png", True),
        (("**/*.png",), (), "a/b/c.png", True),
        (("artists/**",), (), "artists/x/y.png", True),
        (("artists/**",), (), "other/x.png", False),
        (("a/**/b.png",), (), "a/b.png", True),
        (("a/**/b.png",), (), "a/x/y/b.png", True),
        ((), ("**/.thumbnails/**",), "x/.thumbnails/a.png", False),
        ((), ("**/.thumbnails/**",), ".thumbnails/a.png", False),
        # ?, [...], [!...]
        (("page?.png",), (), "page1.png", True),
        (("page?.png",), (), "page10.png", False),
        (("p[0-9].png",), (), "p5.png", True),
        (("p[!0-9].png",), (), "p5.png", False),
        (("p[!0-9].png",), (), "px.png", True),
        (("[unclosed",), (), "[unclosed", True),
        # Backslashes in a pattern are folder separators.
        (("pixiv\\*.png",), (), "pixiv/a.png", True),
        # Regex characters are literal.
        (("a+b (1).png",), (), "a+b (1).png", True),
        (("a+b (1).png",), (), "aab (1).png", False),
        # Exclude wins over include.
        (("*.png",), ("r18/",), "r18/a.png", False),
        (("*.png",), ("r18/",), "safe/a.png", True),
    ],
)
def test_include_exclude(
    include: tuple[str, ...], exclude: tuple[str, ...], relpath: str, counted: bool
) -> None:
    root = RootConfig("r", Path("/r"), include=include, exclude=exclude)
    assert root.includes(relpath) is counted


def test_non_recursive_root_counts_only_top_level_files() -> None:
    root = RootConfig("r", Path("/r"), recursive=False)
    assert root.includes("a.png")
    assert not root.includes("sub/a.png")
    assert root.skips_folder("sub")
    assert not root.skips_folder("")


@pytest.mark.parametrize(
    ("exclude", "folder", "skipped"),
    [
        (DEFAULT_EXCLUDE, ".git", True),
        (DEFAULT_EXCLUDE, "a/.git", True),
        (DEFAULT_EXCLUDE, "a/b", False),
        (("tmp/",), "x/tmp", True),
        (("*.tmp",), "x/y.tmp", True),
        (("artists/**",), "artists", True),
        (("artists/*",), "artists", True),
        (("artists/*.png",), "artists", False),
        (("**/*.png",), "a", False),
        ((), "a", False),
    ],
)
def test_skips_folder_only_when_nothing_under_it_counts(
    exclude: tuple[str, ...], folder: str, skipped: bool
) -> None:
    root = RootConfig("r", Path("/r"), exclude=exclude)
    assert root.skips_folder(folder) is skipped
    if skipped:
        for child in ("a.png", "sub/b.png", ".x", "deep/er/c.tmp"):
            assert not root.includes(f"{folder}/{child}")


_segments = st.lists(st.sampled_from(["a", "b", ".a", "a.b"]), min_size=1, max_size=3)
_pattern_parts = st.sampled_from(["a", "b", ".*", "*", "**", "?", "a*", "[ab]", "[!a]"])


@given(
    patterns=st.lists(
        st.tuples(st.lists(_pattern_parts, min_size=1, max_size=3), st.booleans(),
                  st.booleans()),
        min_size=1,
        max_size=3,
    ),
    folder=_segments,
    child=_segments,
)
def test_skipped_folders_never_hold_a_counted_file(
    patterns: list[tuple[list[str], bool, bool]], folder: list[str], child: list[str]
) -> None:
    exclude = tuple(
        ("/" if anchored else "") + "/".join(parts) + ("/" if folders_only else "")
        for parts, anchored, folders_only in patterns
    )
    root = RootConfig("r", Path("/r"), exclude=exclude)
    folder_path = "/".join(folder)
    if root.skips_folder(folder_path):
        assert not root.includes(folder_path + "/" + "/".join(child))


def test_root_config_accepts_lists_and_stays_hashable() -> None:
    root = RootConfig("r", "/r", include=["*.png"], exclude=[".*"])  # type: ignore[arg-type]
    assert root.include == ("*.png",) and root.exclude == (".*",)
    assert root.path == Path("/r")
    assert hash(root) == hash(RootConfig("r", Path("/r"), include=("*.png",), exclude=(".*",)))


# --- config_to_toml -----------------------------------------------------------------


def test_config_to_toml_round_trips(tmp_path: Path) -> None:
    source = write(
        tmp_path / "in" / "config.toml",
        'data_dir = "/var/lib/pximse data"\n'
        "[[library.roots]]\n"
        'name = "pixiv"\npath = "/pics/pixiv"\nrecursive = false\ninclude = ["*.png", "a/**"]\n'
        "[[library.roots]]\n"
        "name = 'イラスト'\npath = 'C:\\Users\\me\\\"quoted\" pics'\nexclude = []\n"
        "[server]\n"
        'host = "0.0.0.0"\nport = 9999\ntoken = "t\\"ok\\\\en"\n'
        "[scan]\n"
        "workers = 3\nbatch_size = 10\nthumbnail_size = 512\nmax_image_pixels = 5\n"
        "follow_symlinks = true\n"
        "[search]\n"
        'tag_threshold = 0.35\ndefault_sort = "random"\npage_size = 7\nmax_page_size = 8\n'
        "query_timeout_ms = 100\n",
    )
    config = load_config(source, env={})
    text = config_to_toml(config)

    out = write(tmp_path / "out" / "config.toml", text)
    again = load_config(out, env={})
    assert again == Config(**{**config.__dict__, "config_path": out})
    assert again.server.token == 't"ok\\en'
    assert config_to_toml(again).split("\n", 4)[4] == text.split("\n", 4)[4]


def test_config_to_toml_round_trips_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path / "config.toml", env={})
    out = write(tmp_path / "shown.toml", config_to_toml(config))
    assert load_config(out, env={}) == Config(**{**config.__dict__, "config_path": out})


def test_config_to_toml_can_hide_the_token(tmp_path: Path) -> None:
    config = load_text(tmp_path, '[server]\nhost = "0.0.0.0"\ntoken = "secret-value"\n')
    assert "secret-value" in config_to_toml(config)
    assert "secret-value" not in config_to_toml(config, redact=True)


def test_config_to_toml_writes_every_section_and_hides_every_secret(tmp_path: Path) -> None:
    config = load_text(tmp_path, (
        '[watch]\ndebounce_ms = 50\n[indexing]\npaused = true\n'
        '[xmp]\nwrite = true\n[hydrus]\naccess_key = "hydrus-key-1"\ntag_service = "PxIMSE"\n'
        '[pixiv]\nrefresh_token = "pixiv-token-2"\n'
        '[backend]\nmongodb_uri = "mongodb://me:mongo-pass-3@db:27017"\n'
        'meili_key = "meili-key-4"\n'))
    text = config_to_toml(config)
    for name in SECTIONS:
        assert f"\n[{name}]\n" in text
    again = load_config(write(tmp_path / "shown.toml", text), env={})
    for name in SECTIONS:
        assert getattr(again, name) == getattr(config, name), name
    hidden = config_to_toml(config, redact=True)
    for secret in ("hydrus-key-1", "pixiv-token-2", "mongo-pass-3", "meili-key-4"):
        assert secret in text and secret not in hidden
    assert "mongodb://me:***@db:27017" in hidden and 'tag_service = "PxIMSE"' in hidden


def test_config_show_hides_the_keys_unless_asked(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pximse.cli import main

    path = write(tmp_path / "config.toml",
                 '[server]\ntoken = "server-token-8"\n[hydrus]\naccess_key = "hydrus-key-9"\n')
    common = ["config", "show", "--config", str(path), "--data-dir", str(tmp_path / "d")]
    hidden = CliRunner().invoke(main, common, env={})
    also_hidden = CliRunner().invoke(main, [*common, "--redact"], env={})
    shown = CliRunner().invoke(main, [*common, "--show-secrets"], env={})
    assert shown.exit_code == hidden.exit_code == also_hidden.exit_code == 0
    for secret in ("server-token-8", "hydrus-key-9"):
        assert secret in shown.output
        assert secret not in hidden.output and secret not in also_hidden.output
    assert "[indexing]" in hidden.output and 'token = "<redacted>"' in hidden.output
