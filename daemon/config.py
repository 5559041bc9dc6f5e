"""The configuration: one TOML file, where it lives, what it may say, what is in effect.

The file sits in the platform's config folder (``~/.config/pximse/config.toml``
on Linux) and is written, with every setting at its default and a comment on
each, the first time the daemon starts. Two things can be moved from outside
the file, each through :func:`_argument_or_env` so that the rule is the same
everywhere: an explicit argument (the CLI's ``--config`` / ``--data-dir``)
beats an environment variable (``PXIMSE_CONFIG`` / ``PXIMSE_DATA_DIR``), which
beats the file (``data_dir``), which beats the platform default.

Everything is validated when the file is loaded, so that a typo is one clear
message naming the key rather than a surprise an hour into a scan. The full
reference is ``docs/config.md``; a test keeps it complete.
"""

from __future__ import annotations

import difflib
import ipaddress
import logging
import os
import re
import tempfile
import tomllib
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import platformdirs

__all__ = [
    "CONFIG_ENV",
    "DATA_DIR_ENV",
    "DEFAULT_EXCLUDE",
    "Config",
    "ConfigError",
    "RootConfig",
    "ScanConfig",
    "SearchConfig",
    "ServerConfig",
    "config_to_toml",
    "default_config_path",
    "default_config_text",
    "default_data_dir",
    "load_config",
]

logger = logging.getLogger(__name__)

APP_NAME = "pximse"
CONFIG_FILENAME = "config.toml"
CONFIG_ENV = "PXIMSE_CONFIG"
DATA_DIR_ENV = "PXIMSE_DATA_DIR"

DEFAULT_EXCLUDE: tuple[str, ...] = (
    ".*",
    "@eaDir",
    "#recycle",
    "$RECYCLE.BIN",
    "System Volume Information",
)
"""What a root in the file skips when it does not say ``exclude``: hidden files
and folders (names starting with ``.``, which also covers macOS ``._*`` files),
Synology's thumbnail folders and recycle bin, and Windows' recycle bin and
system folder at the top of a drive. Writing ``exclude`` replaces this list."""

_DATA_DIR_PLACEHOLDER = "@DEFAULT_DATA_DIR@"
_ROOT_NAME_MAX = 64
_ROOT_NAME_RE = re.compile(r"[\w .\-]+")


class ConfigError(Exception):
    """A configuration that cannot be used, with what to fix.

    ``message`` names the key and the problem (``server.port: must be between 1
    and 65535``); ``key`` is that key alone (None for a file that cannot be read
    or parsed); ``path`` is the configuration file; ``line`` and ``column`` are
    set for TOML syntax errors. ``str()`` puts them together for people.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        path: Path | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.message = message
        self.key = key
        self.path = path
        self.line = line
        self.column = column
        super().__init__(self.describe())

    def describe(self) -> str:
        where = "" if self.path is None else str(self.path)
        if self.line is not None:
            where += f":{self.line}" + ("" if self.column is None else f":{self.column}")
        return f"{where}: {self.message}" if where else self.message


# --- the configuration's shape ------------------------------------------------------


@dataclass(frozen=True)
class RootConfig:
    """A library folder to index, and which files in it count.

    Patterns are globs on the path relative to the root, ``/``-separated (a
    ``\\`` in a pattern is read as ``/``), matched without regard to case, in
    the manner of ``.gitignore``:

    - ``*`` and ``?`` match within one name, ``[abc]``/``[!abc]`` one character,
      ``**`` as a whole segment any number of folders (``**/x``, ``a/**/b``);
    - a pattern without a ``/`` matches a file or folder name at any depth
      (``*.png``, ``.*``, ``@eaDir``); one with a ``/`` is anchored at the root
      (``pixiv/*.png``, ``/*.png``);
    - a pattern that matches a folder matches everything under it; a trailing
      ``/`` (``tmp/``) matches folders only.

    A file counts when ``include`` is empty or one include pattern matches it,
    and no exclude pattern does: exclude wins. Built in code, a root excludes
    nothing; read from the file, a root that leaves ``exclude`` out gets
    :data:`DEFAULT_EXCLUDE`.
    """

    name: str
    path: Path
    recursive: bool = True
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    _include_re: re.Pattern[str] | None = field(
        init=False, repr=False, compare=False, default=None
    )
    _exclude_re: re.Pattern[str] | None = field(
        init=False, repr=False, compare=False, default=None
    )

    def __post_init__(self) -> None:
        # Accept lists and strings from callers, keep the instance hashable, and
        # compile the patterns once: includes() runs for every file of a scan.
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "include", tuple(self.include))
        object.__setattr__(self, "exclude", tuple(self.exclude))
        object.__setattr__(self, "_include_re", _compile_patterns(self.include))
        object.__setattr__(self, "_exclude_re", _compile_patterns(self.exclude))

    def includes(self, relpath: str) -> bool:
        """Whether the file at ``relpath`` (POSIX, relative to the root) counts.

        A file in a subfolder of a root that is not recursive does not.
        """
        if not self.recursive and "/" in relpath:
            return False
        if self._exclude_re is not None and self._exclude_re.fullmatch(relpath):
            return False
        return self._include_re is None or self._include_re.fullmatch(relpath) is not None

    def skips_folder(self, relpath: str) -> bool:
        """Whether nothing under the folder at ``relpath`` can count, so a scan
        or a watch need not go into it (``.git``, an excluded tree).

        When this is True, :meth:`includes` is False for every path under the
        folder; when it is False, some files under it may still be excluded.
        """
        if not relpath:
            return False
        if not self.recursive:
            return True
        exclude = self._exclude_re
        return exclude is not None and exclude.fullmatch(relpath + "/") is not None


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8741
    token: str | None = None

    @property
    def is_loopback(self) -> bool:
        """Whether only this machine can reach the API (no token needed)."""
        return _is_loopback(self.host)


@dataclass(frozen=True)
class ScanConfig:
    workers: int = 0
    batch_size: int = 256
    thumbnail_size: int = 256
    max_image_pixels: int = 100_000_000
    follow_symlinks: bool = False


@dataclass(frozen=True)
class SearchConfig:
    tag_threshold: float = 0.5
    default_sort: str = "-date"
    page_size: int = 50
    max_page_size: int = 1000
    query_timeout_ms: int = 5000


@dataclass(frozen=True)
class Config:
    config_path: Path
    data_dir: Path
    roots: tuple[RootConfig, ...]
    server: ServerConfig
    scan: ScanConfig
    search: SearchConfig

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.sqlite3"

    @property
    def thumbnail_dir(self) -> Path:
        return self.data_dir / "thumbnails"


# --- where things live --------------------------------------------------------------


def default_config_path() -> Path:
    """The platform's config file: ``~/.config/pximse/config.toml`` on Linux,
    ``%LOCALAPPDATA%\\pximse\\config.toml`` on Windows,
    ``~/Library/Application Support/pximse/config.toml`` on macOS."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / CONFIG_FILENAME


def default_data_dir() -> Path:
    """The platform's data folder: ``~/.local/share/pximse`` on Linux,
    ``%LOCALAPPDATA%\\pximse`` on Windows,
    ``~/Library/Application Support/pximse`` on macOS."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def _argument_or_env(argument: str | os.PathLike[str] | None, env: Mapping[str, str],
                     name: str) -> str | None:
    """An explicit argument beats the environment variable ``name``; an empty
    value counts as not given. None when neither says anything."""
    if argument is not None and os.fspath(argument) != "":
        return os.fspath(argument)
    value = env.get(name, "")
    return value or None


_VAR_RE = re.compile(r"\$(\w+)|\$\{([^}]*)\}" + (r"|%(\w+)%" if os.name == "nt" else ""))


def _expand_path(text: str, env: Mapping[str, str], base: Path) -> Path:
    """``text`` with environment variables and ``~`` expanded, made absolute
    against ``base``. Unknown variables are left as they are, as
    :func:`os.path.expandvars` does."""

    def variable(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group is not None)
        return env.get(name, match.group(0))

    text = _VAR_RE.sub(variable, text)
    if text == "~" or text.startswith(("~/", "~" + os.sep)):
        home = env.get("USERPROFILE" if os.name == "nt" else "HOME") or str(Path.home())
        text = home + text[1:]
    else:
        text = os.path.expanduser(text)
    return Path(os.path.normpath(base / text))


# --- loading ------------------------------------------------------------------------


def default_config_text() -> str:
    """The commented default file, as written on first run."""
    template = resources.files("pximse").joinpath("default_config.toml").read_text("utf-8")
    return template.replace(_DATA_DIR_PLACEHOLDER, _toml_string(str(default_data_dir())))


def load_config(
    config_path: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    create: bool = True,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Read and validate the configuration in effect.

    ``config_path`` beats ``PXIMSE_CONFIG`` beats :func:`default_config_path`;
    ``data_dir`` beats ``PXIMSE_DATA_DIR`` beats the file's ``data_dir`` beats
    :func:`default_data_dir`. ``env`` stands in for ``os.environ`` (also for
    ``$VARS`` in paths). A missing file is written with the commented defaults
    when ``create`` is true; otherwise a missing file that was named is an
    error and a missing default file means all defaults.
    """
    env = os.environ if env is None else env
    cwd = Path.cwd()
    named = _argument_or_env(config_path, env, CONFIG_ENV)
    path = default_config_path() if named is None else _expand_path(named, env, cwd)

    try:
        exists = path.exists()
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file: {_reason(exc)}", path=path) from exc
    if not exists:
        if create:
            _write_default(path)
        elif named is not None:
            raise ConfigError("the configuration file does not exist", path=path)
    data = _read_toml(path) if exists or create else {}

    try:
        config = _build(data, path, env)
    except ConfigError as exc:
        exc.path = path
        exc.args = (exc.describe(),)
        raise
    data_dir_override = _argument_or_env(data_dir, env, DATA_DIR_ENV)
    if data_dir_override is not None:
        config = _replace(config, data_dir=_expand_path(data_dir_override, env, cwd))
    return config


def _replace(config: Config, **changes: Any) -> Config:
    values = {f.name: getattr(config, f.name) for f in fields(config)}
    values.update(changes)
    return Config(**values)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _write_default(path: Path) -> None:
    try:
        text = default_config_text()
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write beside and rename, so that a second process starting at the same
        # moment never reads half a file.
        fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as file:
                file.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(
            f"cannot write the default configuration file: {_reason(exc)}", path=path
        ) from exc
    logger.info("wrote the default configuration to %s", path)


_TOML_POSITION_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_TOML_END_RE = re.compile(r"\s*\(at end of document\)$")


def _read_toml(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise ConfigError("is a folder, not a configuration file", path=path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file: {_reason(exc)}", path=path) from exc
    try:
        text = raw.decode("utf-8-sig")  # Notepad's byte-order mark is harmless
    except UnicodeDecodeError as exc:
        raise ConfigError("invalid TOML: the file is not UTF-8 text", path=path,
                          line=raw[: exc.start].count(b"\n") + 1) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line: int | None = None
        column: int | None = None
        if found := _TOML_POSITION_RE.search(message):
            line, column = int(found.group(1)), int(found.group(2))
            message = message[: found.start()]
        elif found := _TOML_END_RE.search(message):
            lines = text.split("\n")
            line, column = len(lines), len(lines[-1]) + 1
            message = message[: found.start()] + " at the end of the file"
        raise ConfigError(f"invalid TOML: {message}", path=path, line=line,
                          column=column) from exc


# --- validation ---------------------------------------------------------------------


_TOP_KEYS = ("data_dir", "library", "server", "scan", "search")
_LIBRARY_KEYS = ("roots",)
_ROOT_KEYS = ("name", "path", "recursive", "include", "exclude")


def _section_keys() -> dict[str, tuple[str, ...]]:
    return {
        "": _TOP_KEYS,
        "library": _LIBRARY_KEYS,
        "server": tuple(f.name for f in fields(ServerConfig)),
        "scan": tuple(f.name for f in fields(ScanConfig)),
        "search": tuple(f.name for f in fields(SearchConfig)),
    }


def _error(key: str, problem: str) -> ConfigError:
    return ConfigError(f"{key}: {problem}", key=key)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _check_keys(table: Mapping[str, Any], prefix: str, known: tuple[str, ...]) -> None:
    for key in table:
        if key in known:
            continue
        full = _join(prefix, key)
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        if close:
            suggestion: str | None = _join(prefix, close[0])
        else:
            # A key put in the wrong section: `port = 8000` at the top.
            suggestion = next(
                (_join(section, key) for section, keys in _section_keys().items()
                 if section != prefix and key in keys),
                None,
            )
        if suggestion:
            hint = f" (did you mean {suggestion!r}?)"
        else:
            hint = f"; expected one of: {', '.join(known)}"
        raise ConfigError(f"unknown key {full!r}{hint}", key=full)


def _describe(value: Any) -> str:
    """A value as the TOML reader would recognise it in a message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"a date/time ({value})"


def _string(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise _error(key, f"expected a string, got {_describe(value)}")
    return value


def _boolean(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise _error(key, f"expected true or false, got {_describe(value)}")
    return value


def _integer(value: Any, key: str, low: int, high: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _error(key, f"expected an integer, got {_describe(value)}")
    if value < low or (high is not None and value > high):
        if high is None:
            raise _error(key, f"must be at least {low}, got {value}")
        raise _error(key, f"must be between {low} and {high}, got {value}")
    return value


def _number(value: Any, key: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _error(key, f"expected a number, got {_describe(value)}")
    if not low <= value <= high:  # also catches nan
        raise _error(key, f"must be between {low} and {high}, got {value}")
    return float(value)


def _path_text(value: Any, key: str) -> str:
    text = _string(value, key)
    if not text.strip():
        raise _error(key, "must not be empty")
    if "\0" in text:
        raise _error(key, "must not contain a NUL character")
    return text


Rule = Callable[[Any, str], Any]


def _int_rule(low: int, high: int | None = None) -> Rule:
    return lambda value, key: _integer(value, key, low, high)


def _sort_key(value: Any, key: str) -> str:
    from pximse.query import fields as query_fields  # pure data, no cycle

    text = _string(value, key)
    name = text[1:] if text[:1] in "+-" else text
    found = query_fields.lookup(name)
    if not (found is not None and found.sortable) and name.lower() not in query_fields.SORT_ONLY:
        raise _error(
            key,
            f"{text!r} is not a sort key; use a field name, '-' before it for descending "
            f"(one of: {', '.join(query_fields.sortable_names())})",
        )
    return text


def _host(value: Any, key: str) -> str:
    text = _string(value, key)
    if not text or any(ch.isspace() for ch in text):
        raise _error(key, f"expected a host name or IP address, got {_describe(text)}")
    return text


def _token(value: Any, key: str) -> str:
    text = _string(value, key)
    if not text.strip():
        raise _error(key, "must not be empty (leave the key out to run without a token)")
    return text


_SERVER_RULES: dict[str, Rule] = {
    "host": _host,
    "port": _int_rule(1, 65535),
    "token": _token,
}
_SCAN_RULES: dict[str, Rule] = {
    "workers": _int_rule(0, 1024),
    "batch_size": _int_rule(1, 100_000),
    "thumbnail_size": _int_rule(16, 4096),
    "max_image_pixels": _int_rule(1),
    "follow_symlinks": _boolean,
}
_SEARCH_RULES: dict[str, Rule] = {
    "tag_threshold": lambda value, key: _number(value, key, 0.0, 1.0),
    "default_sort": _sort_key,
    "page_size": _int_rule(1),
    "max_page_size": _int_rule(1, 100_000),
    "query_timeout_ms": _int_rule(1),
}


def _table(data: Mapping[str, Any], key: str, prefix: str = "") -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise _error(_join(prefix, key), f"expected a table ([{_join(prefix, key)}]), "
                                         f"got {_describe(value)}")
    return value


def _section(data: Mapping[str, Any], name: str, cls: type, rules: Mapping[str, Rule]) -> Any:
    table = _table(data, name)
    _check_keys(table, name, tuple(f.name for f in fields(cls)))
    values = {key: rules[key](value, f"{name}.{key}") for key, value in table.items()}
    return cls(**values)


def _build(data: Mapping[str, Any], path: Path, env: Mapping[str, str]) -> Config:
    _check_keys(data, "", _TOP_KEYS)
    base = path.parent
    data_dir = default_data_dir()
    if "data_dir" in data:
        data_dir = _expand_path(_path_text(data["data_dir"], "data_dir"), env, base)

    library = _table(data, "library")
    _check_keys(library, "library", _LIBRARY_KEYS)
    raw_roots = library.get("roots", [])
    if not isinstance(raw_roots, list):
        raise _error("library.roots", "expected an array of tables ([[library.roots]]), "
                                      f"got {_describe(raw_roots)}")
    roots: list[RootConfig] = []
    for index, raw in enumerate(raw_roots):
        roots.append(_root(raw, f"library.roots[{index}]", env, base))
    _check_unique_names(roots)

    server = _section(data, "server", ServerConfig, _SERVER_RULES)
    if server.token is None and not server.is_loopback:
        raise _error(
            "server.token",
            f"required when server.host is not a loopback address (it is {server.host!r}): "
            "anyone who can reach the port could read the library. Set a long random "
            "token, e.g. from: python -c \"import secrets; print(secrets.token_urlsafe(32))\"",
        )
    scan = _section(data, "scan", ScanConfig, _SCAN_RULES)
    search = _section(data, "search", SearchConfig, _SEARCH_RULES)
    if search.page_size > search.max_page_size:
        raise _error("search.page_size", f"must not be larger than search.max_page_size "
                                         f"({search.max_page_size}), got {search.page_size}")
    return Config(
        config_path=path,
        data_dir=data_dir,
        roots=tuple(roots),
        server=server,
        scan=scan,
        search=search,
    )


def _root(raw: Any, where: str, env: Mapping[str, str], base: Path) -> RootConfig:
    if not isinstance(raw, dict):
        raise _error(where, f"expected a table ([[library.roots]]), got {_describe(raw)}")
    _check_keys(raw, where, _ROOT_KEYS)
    if "name" not in raw:
        raise _error(f"{where}.name", "missing: every root needs a name")
    if "path" not in raw:
        raise _error(f"{where}.path", "missing: every root needs the folder to index")
    name = _root_name(raw["name"], f"{where}.name")
    path = _expand_path(_path_text(raw["path"], f"{where}.path"), env, base)
    recursive = _boolean(raw.get("recursive", True), f"{where}.recursive")
    include = _patterns(raw.get("include", []), f"{where}.include")
    exclude = _patterns(raw.get("exclude", list(DEFAULT_EXCLUDE)), f"{where}.exclude")
    return RootConfig(name=name, path=path, recursive=recursive, include=include,
                      exclude=exclude)


def _root_name(value: Any, key: str) -> str:
    # The name goes into URLs and folder names (thumbnails, exports), so only
    # characters that are safe in both, in one Unicode form.
    name = unicodedata.normalize("NFC", _string(value, key))
    if not name.strip():
        raise _error(key, "must not be empty")
    if name != name.strip():
        raise _error(key, f"{name!r} must not start or end with a space")
    if len(name) > _ROOT_NAME_MAX:
        raise _error(key, f"must be at most {_ROOT_NAME_MAX} characters, got {len(name)}")
    if not _ROOT_NAME_RE.fullmatch(name):
        bad = "".join(dict.fromkeys(ch for ch in name if not _ROOT_NAME_RE.fullmatch(ch)))
        raise _error(key, f"{name!r} has characters that cannot be used in a root name "
                          f"({bad!r}); use letters, digits, spaces and - _ .")
    if not name.strip("."):
        raise _error(key, f"{name!r} must not be only dots")
    return name


def _check_unique_names(roots: list[RootConfig]) -> None:
    seen: dict[str, int] = {}
    for index, root in enumerate(roots):
        folded = root.name.casefold()
        if folded in seen:
            raise _error(
                f"library.roots[{index}].name",
                f"{root.name!r} is already the name of library.roots[{seen[folded]}] "
                "(names must differ, ignoring case)",
            )
        seen[folded] = index


def _patterns(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _error(key, f"expected an array of glob patterns, got {_describe(value)}")
    patterns = []
    for index, item in enumerate(value):
        item_key = f"{key}[{index}]"
        pattern = _string(item, item_key)
        if not pattern.replace("\\", "/").strip("/"):
            raise _error(item_key, "must not be empty")
        try:
            re.compile(_pattern_regex(pattern))
        except re.error as exc:
            raise _error(item_key, f"{pattern!r} is not a valid pattern: {exc.msg}") from exc
        patterns.append(pattern)
    return tuple(patterns)


def _is_loopback(host: str) -> bool:
    bare = host.strip("[]")
    if bare.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


# --- glob patterns ------------------------------------------------------------------


def _segment_regex(segment: str) -> str:
    """One path segment of a glob as a regex that never crosses a ``/``."""
    out: list[str] = []
    i, n = 0, len(segment)
    while i < n:
        ch = segment[i]
        if ch == "*":
            while i < n and segment[i] == "*":
                i += 1
            out.append("[^/]*")
            continue
        if ch == "?":
            out.append("[^/]")
        elif ch == "[":
            j = i + 1
            if j < n and segment[j] == "!":
                j += 1
            if j < n and segment[j] == "]":
                j += 1
            while j < n and segment[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal '[', as fnmatch does
                out.append(re.escape(ch))
            else:
                body = segment[i + 1 : j]
                negate = body.startswith("!")
                if negate:
                    body = body[1:]
                body = "".join("\\" + c if c in "\\[]^&~|" else c for c in body)
                out.append(f"[^/{body}]" if negate else f"[{body}]")
                i = j
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def _pattern_regex(pattern: str) -> str:
    """A glob (see :class:`RootConfig`) as a regex for ``fullmatch`` on a relative path."""
    text = re.sub(r"/+", "/", pattern.replace("\\", "/"))
    folders_only = text.endswith("/")
    text = text.rstrip("/")
    anchored = "/" in text
    segments = text.lstrip("/").split("/")
    parts = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            parts.append(".*" if last else "(?:[^/]*/)*")
        else:
            parts.append(_segment_regex(segment) + ("" if last else "/"))
    prefix = "" if anchored else "(?:[^/]*/)*"
    suffix = "/.*" if folders_only else "(?:/.*)?"
    return prefix + "".join(parts) + suffix


def _compile_patterns(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    joined = "|".join(f"(?:{_pattern_regex(p)})" for p in patterns)
    return re.compile(joined, re.IGNORECASE | re.DOTALL)


# --- writing TOML -------------------------------------------------------------------


_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n",
                 "\f": "\\f", "\r": "\\r"}


def _toml_string(text: str) -> str:
    needs_escape = any(ch in _TOML_ESCAPES or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)
    plain_literal = "'" not in text and not any(
        ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text
    )
    if needs_escape and plain_literal:
        return f"'{text}'"  # a Windows path reads better without doubled backslashes
    out = []
    for ch in text:
        if ch in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, Path):
        return _toml_string(str(value))
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _toml_section(obj: Any) -> list[str]:
    lines = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if value is None:
            lines.append(f"# {f.name} is not set")
        else:
            lines.append(f"{f.name} = {_toml_value(value)}")
    return lines


def config_to_toml(config: Config, *, redact: bool = False) -> str:
    """The configuration in effect as TOML that :func:`load_config` reads back
    to the same thing (for ``pximse config show``). ``redact`` hides the token,
    for output meant to be pasted into a bug report."""
    lines = [
        "# The configuration in effect: the file",
        f"# {_toml_string(str(config.config_path))}",
        "# with defaults, PXIMSE_* environment variables and command-line options applied.",
        "",
        f"data_dir = {_toml_value(config.data_dir)}",
        "",
        "[library]",
    ]
    if not config.roots:
        lines.append("roots = []")
    for root in config.roots:
        lines += [
            "",
            "[[library.roots]]",
            f"name = {_toml_value(root.name)}",
            f"path = {_toml_value(root.path)}",
            f"recursive = {_toml_value(root.recursive)}",
            f"include = {_toml_value(root.include)}",
            f"exclude = {_toml_value(root.exclude)}",
        ]
    server = config.server
    if redact and server.token is not None:
        server = ServerConfig(server.host, server.port, "<redacted>")
    for name, section in (("server", server), ("scan", config.scan),
                          ("search", config.search)):
        lines += ["", f"[{name}]", *_toml_section(section)]
    return "\n".join(lines) + "\n"
