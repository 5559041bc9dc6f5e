"""Writing TOML, which :mod:`tomllib` only reads: the configuration in effect
for ``pximse config show``, a path in the default file, and a value quoted the
way a person would have typed it in an error message."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from pximse.config.settings import SECTIONS, Config
from pximse.config.uris import redact_uri

__all__ = ["config_to_toml", "toml_string", "toml_value"]

_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n",
                 "\f": "\\f", "\r": "\\r"}


def toml_string(text: str) -> str:
    """``text`` as a TOML string: a literal ``'...'`` when that avoids escapes,
    a basic ``"..."`` otherwise."""
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


def toml_value(value: Any) -> str:
    """A setting's value as TOML; paths as strings, tuples as arrays."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, Path):
        return toml_string(str(value))
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _toml_section(obj: Any) -> list[str]:
    lines = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if value is None:
            lines.append(f"# {f.name} is not set")
        else:
            lines.append(f"{f.name} = {toml_value(value)}")
    return lines


def config_to_toml(config: Config, *, redact: bool = False) -> str:
    """The configuration in effect as TOML that :func:`load_config` reads back
    to the same thing (for ``pximse config show``). ``redact`` hides the token,
    for output meant to be pasted into a bug report."""
    lines = [
        "# The configuration in effect: the file",
        f"# {toml_string(str(config.config_path))}",
        "# with defaults, PXIMSE_* environment variables and command-line options applied.",
        "",
        f"data_dir = {toml_value(config.data_dir)}",
        "",
        "[library]",
    ]
    if not config.roots:
        lines.append("roots = []")
    for root in config.roots:
        lines += [
            "",
            "[[library.roots]]",
            f"name = {toml_value(root.name)}",
            f"path = {toml_value(root.path)}",
            f"recursive = {toml_value(root.recursive)}",
            f"include = {toml_value(root.include)}",
            f"exclude = {toml_value(root.exclude)}",
        ]
        if root.xmp is not None:
            lines.append(f"xmp = {toml_value(root.xmp)}")
    for name in SECTIONS:
        section = getattr(config, name)
        lines += ["", f"[{name}]", *_toml_section(_redacted(name, section) if redact else section)]
    return "\n".join(lines) + "\n"


# Settings that give access to something: hidden by ``redact``. Addresses may
# carry a password (mongodb://user:password@host): only that part is hidden.
_SECRETS = {"server": ("token",), "hydrus": ("access_key",), "pixiv": ("refresh_token",),
            "backend": ("milvus_token", "meili_key")}
_ADDRESSES = {"backend": ("mongodb_uri", "milvus_uri", "meili_url")}


def _redacted(name: str, section: Any) -> Any:
    changes: dict[str, Any] = {key: "<redacted>" for key in _SECRETS.get(name, ())
                               if getattr(section, key)}
    changes.update({key: redact_uri(getattr(section, key)) for key in _ADDRESSES.get(name, ())})
    return replace(section, **changes)
