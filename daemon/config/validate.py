"""Turning the parsed TOML into a :class:`Config`, or one :class:`ConfigError`
that names the key and what is wrong with it.

Everything is checked here, when the file is loaded, so that a typo is one
clear message rather than a surprise an hour into a scan: unknown keys (with a
guess at the one meant), types, ranges, root names, glob patterns, and the
rules that join two settings (a token off loopback, page sizes).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from pximse.config.errors import ConfigError
from pximse.config.paths import expand_path
from pximse.config.patterns import pattern_regex
from pximse.config.settings import (
    DEFAULT_EXCLUDE,
    SECTIONS,
    Config,
    RootConfig,
)
from pximse.config.toml_writer import toml_string
from pximse.config.web_names import parse_host, parse_origin, serialize_origin

__all__ = ["build_config"]

_ROOT_NAME_MAX = 64
_ROOT_NAME_RE = re.compile(r"[\w .\-]+")

_TOP_KEYS = ("data_dir", "library", *SECTIONS)
_LIBRARY_KEYS = ("roots",)
_ROOT_KEYS = ("name", "path", "recursive", "include", "exclude", "xmp")


def _section_keys() -> dict[str, tuple[str, ...]]:
    return {
        "": _TOP_KEYS,
        "library": _LIBRARY_KEYS,
        **{name: tuple(f.name for f in fields(cls)) for name, cls in SECTIONS.items()},
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
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6) or [
            name for name in known if len(key) >= 4 and key.lower() in name]  # token: refresh_token
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
        return toml_string(value)
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


def _string_list(value: Any, key: str) -> list[str]:
    if not isinstance(value, list):
        raise _error(key, f"expected an array of strings, got {_describe(value)}")
    return [_string(item, f"{key}[{index}]") for index, item in enumerate(value)]


def _allowed_hosts(value: Any, key: str) -> tuple[str, ...]:
    names = []
    for index, text in enumerate(_string_list(value, key)):
        parsed = parse_host(text)
        if parsed is None:
            raise _error(f"{key}[{index}]", f"{text!r} is not a host name: write a name or an "
                                            "address, with :port or without (\"pximse.lan\", "
                                            "\"photos.example.org:443\"), no scheme or path")
        host, port = parsed
        shown = f"[{host}]" if ":" in host else host
        names.append(shown if port is None else f"{shown}:{port}")
    return tuple(dict.fromkeys(names))


def _cors_origins(value: Any, key: str) -> tuple[str, ...]:
    origins = []
    for index, text in enumerate(_string_list(value, key)):
        if text.strip() == "*":
            origins.append("*")
            continue
        parsed = parse_origin(text)
        if parsed is None:
            raise _error(f"{key}[{index}]", f"{text!r} is not a web origin: write the scheme, "
                                            "name and port a browser shows, without a path "
                                            "(\"http://localhost:3000\")")
        origins.append(serialize_origin(*parsed))
    return tuple(dict.fromkeys(origins))


_SERVER_RULES: dict[str, Rule] = {
    "host": _host,
    "port": _int_rule(1, 65535),
    "token": _token,
    "allowed_hosts": _allowed_hosts,
    "cors_origins": _cors_origins,
}
_SCAN_RULES: dict[str, Rule] = {
    "workers": _int_rule(0, 1024),
    "batch_size": _int_rule(1, 100_000),
    "thumbnail_size": _int_rule(16, 4096),
    "max_image_pixels": _int_rule(1),
    "follow_symlinks": _boolean,
}
TAGGERS = ("", "wd-vit-tagger-v3", "wd-swinv2-tagger-v3", "wd-convnext-tagger-v3",
           "wd-vit-large-tagger-v3", "wd-eva02-large-tagger-v3", "deepdanbooru")


_MODELS_RULES: dict[str, Rule] = {
    "allow_download": _boolean,
    "download_url": lambda value, key: _optional_url(value, key),
    "device": lambda value, key: _choice(value, key, ("auto", "cpu", "cuda")),
    "tagger": lambda value, key: _choice(value, key, TAGGERS),
    "tagger_path": _string,
    "tag_min_score": lambda value, key: _number(value, key, 0.0, 1.0),
    "ocr": lambda value, key: _choice(value, key, ("", "rapidocr")),
    "ocr_min_confidence": lambda value, key: _number(value, key, 0.0, 1.0),
    "clip": _string,
    "clip_pretrained": _string,
    "clip_path": _string,
    "clip_quick_gelu": lambda value, key: _choice(value, key, ("auto", "true", "false")),
    "clip_runtime": lambda value, key: _choice(value, key, ("auto", "onnxruntime", "torch")),
    "clip_precision": lambda value, key: _choice(value, key, ("fp32", "int8")),
    "batch_size": _int_rule(1, 1024),
}


def _choice(value: Any, key: str, allowed: tuple[str, ...]) -> str:
    text = _string(value, key)
    if text not in allowed:
        names = ", ".join(repr(a) for a in allowed if a)
        off = ' ("" turns it off)' if "" in allowed else ""
        raise _error(key, f"must be one of {names}{off}, got {text!r}")
    return text


_SEARCH_RULES: dict[str, Rule] = {
    "tag_threshold": lambda value, key: _number(value, key, 0.0, 1.0),
    "default_sort": _sort_key,
    "page_size": _int_rule(1),
    "max_page_size": _int_rule(1, 100_000),
    "original_api_limit": _int_rule(1, 100_000),
    "query_timeout_ms": _int_rule(1),
    "dupe_distance": _int_rule(0, 12),
    "dupe_similarity": lambda value, key: _number(value, key, 0.5, 1.0),
    "max_query_image_pixels": _int_rule(1),
}


_WATCH_RULES: dict[str, Rule] = {
    "enabled": _boolean,
    "debounce_ms": _int_rule(0, 60_000),
    "rescan_minutes": _int_rule(0),
    "poll_seconds": _int_rule(1, 3600),
}
_INDEXING_RULES: dict[str, Rule] = {
    "paused": _boolean,
    "cpu_share": lambda value, key: _number(value, key, 0.05, 1.0),
    "only_when_idle": _boolean,
}
XMP_CATEGORIES = ("general", "character", "copyright", "artist", "meta", "rating", "source")


def _xmp_tag_root(value: Any, key: str) -> str:
    text = _string(value, key)
    if not text.strip() or text != text.strip():
        raise _error(key, f"{text!r} must be a name without leading or trailing spaces")
    if "/" in text or "|" in text:
        raise _error(key, f"{text!r} must be one tag name, without '/' or '|'")
    return text


def _xmp_categories(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _error(key, f"expected an array of category names, got {_describe(value)}")
    for index, item in enumerate(value):
        if _string(item, f"{key}[{index}]") not in XMP_CATEGORIES:
            raise _error(f"{key}[{index}]", f"{item!r} is not a category; use any of "
                                            f"{', '.join(XMP_CATEGORIES)}")
    return tuple(dict.fromkeys(value))


_XMP_RULES: dict[str, Rule] = {
    "write": _boolean,
    "tag_root": _xmp_tag_root,
    "threshold": lambda value, key: _number(value, key, 0.0, 1.0),
    "character_threshold": lambda value, key: _number(value, key, 0.0, 1.0),
    "categories": _xmp_categories,
    "ocr_description": _boolean,
}
_HYDRUS_RULES: dict[str, Rule] = {
    "url": _string,
    "access_key": _string,
    "tag_service": _string,
    "push": _boolean,
    "tag_threshold": lambda value, key: _number(value, key, 0.0, 1.0),
    "push_urls": _boolean,
    "push_ocr": _boolean,
    "batch_size": _int_rule(1, 512),
    "requests_per_second": lambda value, key: _number(value, key, 0.0, 1000.0),
    "push_interval_s": _int_rule(5, 86_400),
    "client_files": _string,
}
_LANGUAGE_RE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")


def _language(value: Any, key: str) -> str:
    text = _string(value, key)
    if not _LANGUAGE_RE.fullmatch(text):
        raise _error(key, f"{text!r} is not a language tag; write one such as \"en\", "
                          "\"zh-cn\" or \"ko\"")
    return text


def _http_url(value: Any, key: str) -> str:
    text = _string(value, key).rstrip("/")
    if not re.fullmatch(r"https?://[^\s/]+(?:/\S*)?", text):
        raise _error(key, f"{text!r} is not an http:// or https:// address")
    return text


def _secret(value: Any, key: str) -> str:
    text = _string(value, key)
    if text != text.strip() or any(ch.isspace() for ch in text):
        raise _error(key, "must not contain spaces or line breaks (check the copy and paste)")
    return text


_PIXIV_RULES: dict[str, Rule] = {
    "refresh_token": _secret,
    "language": _language,
    "max_age_days": _int_rule(0, 36_500),
    "request_interval_s": lambda value, key: _number(value, key, 0.0, 3600.0),
    "jitter_s": lambda value, key: _number(value, key, 0.0, 3600.0),
    "max_retries": _int_rule(0, 20),
    "backoff_max_s": lambda value, key: _number(value, key, 1.0, 86_400.0),
    "timeout_s": lambda value, key: _number(value, key, 1.0, 600.0),
    "background": _boolean,
    "background_interval_minutes": _int_rule(1, 525_600),
    "app_api_url": _http_url,
    "ajax_url": _http_url,
}


def _mongodb_uri(value: Any, key: str) -> str:
    text = _string(value, key)
    if not re.fullmatch(r"mongodb(?:\+srv)?://\S+", text):
        raise _error(key, "expected a mongodb:// or mongodb+srv:// address")
    return text


def _database_name(value: Any, key: str) -> str:
    text = _string(value, key)
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,63}", text):
        raise _error(key, f"{text!r} is not a database name: use 1 to 63 letters, digits, "
                          "_ and -")
    return text


def _milvus_uri(value: Any, key: str) -> str:
    text = _string(value, key)
    if text and not (re.fullmatch(r"(?:https?|tcp)://\S+", text) or text.endswith(".db")):
        raise _error(key, "expected an http://host:19530 address, or a file ending in .db "
                          "for milvus-lite (empty: the embedded vector store)")
    return text


def _optional_url(value: Any, key: str) -> str:
    return _http_url(value, key) if _string(value, key) else ""


_BACKEND_RULES: dict[str, Rule] = {
    "kind": lambda value, key: _choice(value, key, ("embedded", "mongodb")),
    "mongodb_uri": _mongodb_uri,
    "mongodb_database": _database_name,
    "milvus_uri": _milvus_uri,
    "milvus_token": _string,
    "meili_url": _optional_url,
    "meili_key": _string,
    "meili_index": _database_name,
}
# Every section's rules, by section name (settings.SECTIONS names the dataclasses).
_RULES: dict[str, dict[str, Rule]] = {
    "server": _SERVER_RULES,
    "scan": _SCAN_RULES,
    "search": _SEARCH_RULES,
    "models": _MODELS_RULES,
    "watch": _WATCH_RULES,
    "indexing": _INDEXING_RULES,
    "xmp": _XMP_RULES,
    "hydrus": _HYDRUS_RULES,
    "pixiv": _PIXIV_RULES,
    "backend": _BACKEND_RULES,
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


def build_config(data: Mapping[str, Any], path: Path, env: Mapping[str, str],
                 data_dir: Path) -> Config:
    """The configuration the file at ``path`` (already parsed into ``data``)
    describes. Relative paths in it are taken from the file's folder, ``$VARS``
    from ``env``; ``data_dir`` is the data folder when the file names none."""
    _check_keys(data, "", _TOP_KEYS)
    base = path.parent
    if "data_dir" in data:
        data_dir = expand_path(_path_text(data["data_dir"], "data_dir"), env, base)

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

    sections = {name: _section(data, name, cls, _RULES[name]) for name, cls in SECTIONS.items()}
    server = sections["server"]
    if server.token is None and not server.is_loopback:
        raise _error(
            "server.token",
            f"required when server.host is not a loopback address (it is {server.host!r}): "
            "anyone who can reach the port could read the library. Set a long random "
            "token, e.g. from: python -c \"import secrets; print(secrets.token_urlsafe(32))\"",
        )
    if "*" in server.cors_origins and server.token is None:
        raise _error(
            "server.cors_origins",
            "\"*\" lets every web site call the API from its visitors' browsers, so it needs "
            "server.token as well (a page then needs the token); or list the front end's "
            "origin instead, such as \"http://localhost:3000\"",
        )
    search = sections["search"]
    if search.page_size > search.max_page_size:
        raise _error("search.page_size", f"must not be larger than search.max_page_size "
                                         f"({search.max_page_size}), got {search.page_size}")
    return Config(config_path=path, data_dir=data_dir, roots=tuple(roots), **sections)


def _root(raw: Any, where: str, env: Mapping[str, str], base: Path) -> RootConfig:
    if not isinstance(raw, dict):
        raise _error(where, f"expected a table ([[library.roots]]), got {_describe(raw)}")
    _check_keys(raw, where, _ROOT_KEYS)
    if "name" not in raw:
        raise _error(f"{where}.name", "missing: every root needs a name")
    if "path" not in raw:
        raise _error(f"{where}.path", "missing: every root needs the folder to index")
    name = _root_name(raw["name"], f"{where}.name")
    path = expand_path(_path_text(raw["path"], f"{where}.path"), env, base)
    recursive = _boolean(raw.get("recursive", True), f"{where}.recursive")
    include = _patterns(raw.get("include", []), f"{where}.include")
    exclude = _patterns(raw.get("exclude", list(DEFAULT_EXCLUDE)), f"{where}.exclude")
    xmp = _boolean(raw["xmp"], f"{where}.xmp") if "xmp" in raw else None
    return RootConfig(name=name, path=path, recursive=recursive, include=include,
                      exclude=exclude, xmp=xmp)


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
            re.compile(pattern_regex(pattern))
        except re.error as exc:
            raise _error(item_key, f"{pattern!r} is not a valid pattern: {exc.msg}") from exc
        patterns.append(pattern)
    return tuple(patterns)
