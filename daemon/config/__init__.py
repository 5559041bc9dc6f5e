"""The configuration: one TOML file, where it lives, what it may say, what is in effect.

The file sits in the platform's config folder (``~/.config/pximse/config.toml``
on Linux) and is written, with every setting at its default and a comment on
each, the first time the daemon starts. Two things can be moved from outside
the file, each through :func:`~pximse.config.paths.argument_or_env` so that the
rule is the same everywhere: an explicit argument (the CLI's ``--config`` /
``--data-dir``) beats an environment variable (``PXIMSE_CONFIG`` /
``PXIMSE_DATA_DIR``), which beats the file (``data_dir``), which beats the
platform default.

Everything is validated when the file is loaded, so that a typo is one clear
message naming the key rather than a surprise an hour into a scan. The full
reference is ``docs/config.md``; a test keeps it complete.

This module is the public face and does the loading; the parts live beside it,
one job each: :mod:`.settings` (the dataclasses), :mod:`.errors`
(:class:`ConfigError`), :mod:`.paths` (default locations, ``$VARS`` and ``~``),
:mod:`.files` (reading and writing the file), :mod:`.validate` (parsed TOML to
:class:`Config`), :mod:`.toml_writer` (:func:`config_to_toml`); the glob
patterns of a root are :mod:`pximse.config.patterns`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any

from pximse.config.errors import ConfigError
from pximse.config.files import os_reason, read_toml, write_atomically
from pximse.config.paths import (  # the defaults are looked up here, see load_config
    argument_or_env,
    default_config_path,
    default_data_dir,
    expand_path,
)
from pximse.config.settings import (
    DEFAULT_EXCLUDE,
    Config,
    ModelsConfig,
    RootConfig,
    ScanConfig,
    SearchConfig,
    ServerConfig,
)
from pximse.config.toml_writer import config_to_toml, toml_string
from pximse.config.validate import build_config

__all__ = [
    "CONFIG_ENV",
    "DATA_DIR_ENV",
    "DEFAULT_EXCLUDE",
    "Config",
    "ConfigError",
    "RootConfig",
    "ScanConfig",
    "ModelsConfig",
    "SearchConfig",
    "ServerConfig",
    "config_to_toml",
    "default_config_path",
    "default_config_text",
    "default_data_dir",
    "load_config",
]

logger = logging.getLogger(__name__)

CONFIG_ENV = "PXIMSE_CONFIG"
DATA_DIR_ENV = "PXIMSE_DATA_DIR"

_DATA_DIR_PLACEHOLDER = "@DEFAULT_DATA_DIR@"


def default_config_text() -> str:
    """The commented default file, as written on first run."""
    template = resources.files("pximse").joinpath("default_config.toml").read_text("utf-8")
    return template.replace(_DATA_DIR_PLACEHOLDER, toml_string(str(default_data_dir())))


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
    # default_config_path and default_data_dir are called through this module's
    # namespace, so replacing them on pximse.config (as the tests do) moves both.
    env = os.environ if env is None else env
    cwd = Path.cwd()
    named = argument_or_env(config_path, env, CONFIG_ENV)
    path = default_config_path() if named is None else expand_path(named, env, cwd)

    try:
        exists = path.exists()
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file: {os_reason(exc)}",
                          path=path) from exc
    if not exists:
        if create:
            _write_default(path)
        elif named is not None:
            raise ConfigError("the configuration file does not exist", path=path)
    data = read_toml(path) if exists or create else {}

    try:
        config = build_config(data, path, env, default_data_dir())
    except ConfigError as exc:
        exc.path = path
        exc.args = (exc.describe(),)
        raise
    data_dir_override = argument_or_env(data_dir, env, DATA_DIR_ENV)
    if data_dir_override is not None:
        config = _replace(config, data_dir=expand_path(data_dir_override, env, cwd))
    return config


def _replace(config: Config, **changes: Any) -> Config:
    values = {f.name: getattr(config, f.name) for f in fields(config)}
    values.update(changes)
    return Config(**values)


def _write_default(path: Path) -> None:
    try:
        write_atomically(path, default_config_text())
    except OSError as exc:
        raise ConfigError(
            f"cannot write the default configuration file: {os_reason(exc)}", path=path
        ) from exc
    logger.info("wrote the default configuration to %s", path)
