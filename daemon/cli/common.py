"""What every ``pximse`` command shares: the config options, the context, progress bars."""

from __future__ import annotations

import logging
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("pximse")


def config_options(func: F) -> F:
    """``--config`` and ``--data-dir`` on every command (and on the group)."""
    func = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Data folder (catalogue, thumbnails). Env: PXIMSE_DATA_DIR.",
    )(func)
    func = click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Configuration file. Env: PXIMSE_CONFIG.",
    )(func)
    return func


class Context:
    def __init__(self, config_path: Path | None, data_dir: Path | None) -> None:
        self.config_path = config_path
        self.data_dir = data_dir
        self.config: Any = None  # the configuration a command loaded

    def load(self, config_path: Path | None, data_dir: Path | None):  # type: ignore[no-untyped-def]
        from pximse.config import ConfigError, load_config

        try:
            self.config = load_config(config_path or self.config_path,
                                      data_dir or self.data_dir)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        return self.config

    def catalog(self, config):  # type: ignore[no-untyped-def]
        """The catalogue ``[backend]`` names (SQLite in the data folder, or MongoDB)."""
        from pximse.store.backends import BackendUnavailable, SchemaError, open_catalog

        try:
            return open_catalog(config)
        except (SchemaError, BackendUnavailable) as exc:
            raise click.ClickException(str(exc)) from exc
        except OSError as exc:
            raise data_folder_error(config, exc) from exc
        except sqlite3.Error as exc:  # a full disk while the catalogue is migrated
            from pximse.data_folder import data_folder_problem

            problem = data_folder_problem(exc, config.data_dir)
            if problem is None:
                raise
            raise click.ClickException(problem.message) from exc


class PximseGroup(click.Group):
    """The ``pximse`` group: a full disk (or another data-folder problem) met by
    any command is one line that says what is full and how much room is needed,
    not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            from pximse.data_folder import data_folder_problem

            obj = ctx.obj if isinstance(ctx.obj, Context) else None
            config = obj.config if obj is not None else None
            problem = data_folder_problem(exc, config.data_dir) if config is not None else None
            if problem is None:
                raise
            raise click.ClickException(problem.message) from exc


def data_folder_error(config: Any, exc: OSError) -> click.ClickException:
    """A data folder that cannot be made or written, said in one line."""
    from pximse.data_folder import data_folder_problem

    problem = data_folder_problem(exc, config.data_dir)
    if problem is not None and problem.kind == "full":
        return click.ClickException(problem.message)
    where = exc.filename or config.data_dir
    return click.ClickException(
        f"the data folder {config.data_dir} cannot be used: {exc.strerror or exc} ({where}); "
        "set --data-dir, PXIMSE_DATA_DIR or data_dir in the configuration file")


def progress_bar(quiet: bool) -> tuple[Any, Any]:
    from contextlib import nullcontext

    if quiet or not sys.stderr.isatty():
        return nullcontext(), None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    progress = Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), transient=True,
    )
    tasks: dict[str, Any] = {}
    labels = {"hash": "Reading new files", "decode": "Decoding new images",
              "tagger": "Tagging", "ocr": "Reading text (OCR)", "clip": "CLIP embeddings"}

    def callback(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = progress.add_task(labels.get(phase, phase), total=total)
        progress.update(tasks[phase], completed=done, total=total)

    return progress, callback


def human_size(size: int) -> str:
    """``1.5MB``: a byte count for people (1024-based, as the query language's units)."""
    from pximse.data_folder import human_bytes

    return human_bytes(size, separator="", byte_unit="B")
