"""Log files: where they go, rotation, and what `pximse serve` writes there."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pximse.logs import LOG_DIR_ENV, default_log_dir, log_dir, log_file, log_to_file


@pytest.fixture
def clean_root_logger() -> Iterator[logging.Logger]:
    """log_to_file changes process-wide state: put the root logger and the
    exception hooks back as they were."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    hooks = sys.excepthook, threading.excepthook
    crash = logging.getLogger("pximse.crash")
    crash_handlers = list(crash.handlers)
    yield root
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    crash.handlers[:] = crash_handlers
    sys.excepthook, threading.excepthook = hooks


def test_the_folder_is_the_platforms_unless_the_environment_names_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
        assert default_log_dir() == tmp_path / "state" / "pximse" / "log"
    assert log_dir({}) == default_log_dir()
    assert log_dir({LOG_DIR_ENV: ""}) == default_log_dir()  # empty counts as not set
    env = {LOG_DIR_ENV: "~/logs", "HOME": str(tmp_path), "USERPROFILE": str(tmp_path)}
    assert log_dir(env) == tmp_path / "logs"
    assert log_file("tray", env) == tmp_path / "logs" / "tray.log"


def test_the_file_gets_info_while_the_terminal_keeps_its_level(
    tmp_path: Path, clean_root_logger: logging.Logger
) -> None:
    terminal_lines: list[str] = []

    class Terminal(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            terminal_lines.append(record.getMessage())

    clean_root_logger.handlers[:] = [Terminal()]
    clean_root_logger.setLevel(logging.WARNING)
    path = log_to_file("daemon", env={LOG_DIR_ENV: str(tmp_path / "logs")})
    assert path == tmp_path / "logs" / "daemon.log"

    logging.getLogger("pximse.test").info("an info line")
    logging.getLogger("pximse.test").warning("a warning line")
    logging.getLogger("pximse.test").debug("a debug line")
    text = path.read_text(encoding="utf-8")
    assert "INFO pximse.test: an info line" in text
    assert "WARNING pximse.test: a warning line" in text
    assert f" {os.getpid()} " in text  # the process id, so two runs can be told apart
    assert "debug line" not in text
    assert terminal_lines == ["a warning line"]


def test_the_file_rotates_and_keeps_a_bounded_number_of_old_files(
    tmp_path: Path, clean_root_logger: logging.Logger
) -> None:
    clean_root_logger.handlers[:] = []
    path = log_to_file("tray", env={LOG_DIR_ENV: str(tmp_path)}, max_bytes=2000, backup_count=2)
    assert path is not None
    for number in range(200):
        logging.getLogger("pximse.test").info("line %03d %s", number, "x" * 40)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["tray.log", "tray.log.1", "tray.log.2"]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())
    assert "line 199" in path.read_text(encoding="utf-8")  # the newest lines: the current file


def test_an_unwritable_folder_is_a_warning_not_a_failure(
    tmp_path: Path, clean_root_logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.WARNING):
        assert log_to_file("daemon", env={LOG_DIR_ENV: str(blocker / "logs")}) is None
    assert "cannot write the log file" in caplog.text


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_crash_in_a_thread_is_written_to_the_file(
    tmp_path: Path, clean_root_logger: logging.Logger
) -> None:
    clean_root_logger.handlers[:] = []
    path = log_to_file("daemon", env={LOG_DIR_ENV: str(tmp_path)})
    assert path is not None

    def fail() -> None:
        raise RuntimeError("the worker broke")

    worker = threading.Thread(target=fail, name="worker")
    worker.start()
    worker.join()
    text = path.read_text(encoding="utf-8")
    assert "uncaught exception in thread worker" in text
    assert "RuntimeError: the worker broke" in text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(predicate, timeout: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_serve_writes_its_log_file_and_a_start_failure_lands_there(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    env = {**os.environ, LOG_DIR_ENV: str(logs)}
    port = _free_port()
    common = ["--config", str(tmp_path / "config.toml"), "--port", str(port), "--no-scan",
              "--no-models"]
    daemon_log = logs / "daemon.log"
    first = subprocess.Popen([sys.executable, "-m", "pximse", "serve", *common,
                              "--data-dir", str(tmp_path / "data")], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: daemon_log.exists()
                         and "serving on" in daemon_log.read_text(encoding="utf-8"))
        assert _wait_for(lambda: _port_answers(port))
        # A second daemon (on another data folder) cannot have the port; why is in
        # the log file, not only on a terminal nobody watches.
        second = subprocess.run([sys.executable, "-m", "pximse", "serve", *common,
                                 "--data-dir", str(tmp_path / "data2")], env=env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode != 0
        text = daemon_log.read_text(encoding="utf-8")
        assert f"http://127.0.0.1:{port}/" in text
        assert "ERROR" in text and "address already in use" in text.lower(), text
    finally:
        first.terminate()
        first.wait(timeout=30)
        assert first.stderr is not None
        first.stderr.close()


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
