"""Where the configuration and the data live, and how a path written by a
person (an argument, an environment variable, a value in the file) becomes an
absolute one.

One rule for every path that can be moved from outside the file, so that the
CLI, the environment and the file cannot disagree on which one wins.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import platformdirs

__all__ = ["argument_or_env", "default_config_path", "default_data_dir", "expand_path"]

APP_NAME = "pximse"
CONFIG_FILENAME = "config.toml"


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


def argument_or_env(argument: str | os.PathLike[str] | None, env: Mapping[str, str],
                    name: str) -> str | None:
    """An explicit argument beats the environment variable ``name``; an empty
    value counts as not given. None when neither says anything."""
    if argument is not None and os.fspath(argument) != "":
        return os.fspath(argument)
    value = env.get(name, "")
    return value or None


_VAR_RE = re.compile(r"\$(\w+)|\$\{([^}]*)\}" + (r"|%(\w+)%" if os.name == "nt" else ""))


def expand_path(text: str, env: Mapping[str, str], base: Path) -> Path:
    """``text`` with environment variables and ``~`` expanded, made absolute
    against ``base``. Unknown variables are left as they are, as
    :func:`os.path.expandvars` does. ``env`` rather than ``os.environ``, so that
    a caller's stand-in environment also governs ``$VARS`` and ``~``."""

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
