"""Starting PxIMSE at login, with each platform's own mechanism.

- Linux and other XDG desktops: a desktop entry, ``pximse.desktop``, in
  ``$XDG_CONFIG_HOME/autostart`` (``~/.config/autostart``), which the desktop
  session starts at login. It runs the tray icon, which starts the daemon.
- Linux, alternatively: a systemd user unit, ``pximse.service``, in
  ``$XDG_CONFIG_HOME/systemd/user``, wanted by ``default.target`` (the link
  ``systemctl --user enable`` would make). It runs the daemon without an icon,
  restarts it after a crash and sends its output to the journal.
- Windows: a shortcut, ``PxIMSE.lnk``, in the Startup folder, made by
  PowerShell's ``WScript.Shell`` (a ``.lnk`` is a binary format the standard
  library cannot write); it runs ``pythonw`` so that no console window opens.
- macOS: a LaunchAgent, ``~/Library/LaunchAgents/org.pximse.tray.plist``, which
  launchd loads at login.

Each entry runs this Python (``sys.executable -m pximse``), so that a virtual
environment need not be on the login session's PATH, with ``--config`` and
``--data-dir`` when they were chosen away from the defaults.
"""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "KINDS",
    "AutostartError",
    "Entry",
    "default_kind",
    "entry_command",
    "desktop_entry_text",
    "disable",
    "enable",
    "entry_for",
    "launch_agent_plist",
    "launch_command",
    "platform_kinds",
    "shortcut_script",
    "systemd_unit_text",
]

KINDS = ("xdg", "systemd", "windows", "macos")
PLATFORM_KINDS = {"win32": ("windows",), "darwin": ("macos",)}
"""The kinds each platform offers; any other platform offers ``("xdg", "systemd")``."""
DESKTOP_FILE = "pximse.desktop"
SYSTEMD_UNIT = "pximse.service"
WINDOWS_SHORTCUT = "PxIMSE.lnk"
LAUNCH_AGENT_LABEL = "org.pximse.tray"


class AutostartError(Exception):
    """An entry that cannot be written or removed; the message says why."""


@dataclass(frozen=True)
class Entry:
    """One autostart entry: its kind and the file that makes it."""

    kind: str
    path: Path
    links: tuple[Path, ...] = ()
    """Other files the entry owns (the systemd ``.wants`` link)."""

    @property
    def enabled(self) -> bool:
        return self.path.exists()


def platform_kinds(platform: str = sys.platform) -> tuple[str, ...]:
    """The kinds of entry this platform offers, its default first."""
    return PLATFORM_KINDS.get(platform, ("xdg", "systemd"))


def default_kind(platform: str = sys.platform) -> str:
    """The entry this platform uses unless told otherwise."""
    return platform_kinds(platform)[0]


def entry_command(entry: Entry) -> list[str] | str | None:
    """What an existing entry runs, read back from its file: the argv (a plist),
    the command line (a desktop entry, a unit), or None (a shortcut, or no file)."""
    try:
        if entry.kind == "macos":
            with entry.path.open("rb") as stream:
                return [str(arg) for arg in plistlib.load(stream).get("ProgramArguments", [])]
        if entry.kind in ("xdg", "systemd"):
            key = "Exec=" if entry.kind == "xdg" else "ExecStart="
            for line in entry.path.read_text(encoding="utf-8").splitlines():
                if line.startswith(key):
                    return line[len(key):]
    except (OSError, ValueError, plistlib.InvalidFileException):
        return None
    return None


def launch_command(
    command: str,
    *,
    config_path: Path | None = None,
    data_dir: Path | None = None,
    python: str | None = None,
) -> list[str]:
    """The command line an entry runs: ``python -m pximse [--config C]
    [--data-dir D] COMMAND``."""
    python = python or _gui_python()
    argv = [python, "-m", "pximse"]
    if config_path is not None:
        argv += ["--config", str(config_path)]
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    return [*argv, command]


def _gui_python() -> str:
    """``pythonw.exe`` on Windows (no console window) when it is there."""
    executable = Path(sys.executable)
    if sys.platform == "win32":
        windowless = executable.with_name("pythonw.exe")
        if windowless.exists():
            return str(windowless)
    return str(executable)


def entry_for(kind: str, env: Mapping[str, str] | None = None) -> Entry:
    """Where the entry of ``kind`` lives for the user whose environment is ``env``."""
    env = os.environ if env is None else env
    if kind == "xdg":
        return Entry(kind, _xdg_config_home(env) / "autostart" / DESKTOP_FILE)
    if kind == "systemd":
        units = _xdg_config_home(env) / "systemd" / "user"
        return Entry(kind, units / SYSTEMD_UNIT,
                     links=(units / "default.target.wants" / SYSTEMD_UNIT,))
    if kind == "windows":
        appdata = env.get("APPDATA") or str(_home(env) / "AppData" / "Roaming")
        startup = Path(appdata) / "Microsoft" / "Windows" / "Start Menu" / "Programs" / "Startup"
        return Entry(kind, startup / WINDOWS_SHORTCUT)
    if kind == "macos":
        return Entry(kind, _home(env) / "Library" / "LaunchAgents"
                     / f"{LAUNCH_AGENT_LABEL}.plist")
    raise AutostartError(f"unknown autostart kind {kind!r}: one of {', '.join(KINDS)}")


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("USERPROFILE" if sys.platform == "win32" else "HOME")
    return Path(home) if home else Path.home()


def _xdg_config_home(env: Mapping[str, str]) -> Path:
    # The spec: a relative XDG_CONFIG_HOME is invalid and is to be ignored.
    value = env.get("XDG_CONFIG_HOME", "")
    return Path(value) if os.path.isabs(value) else _home(env) / ".config"


def enable(entry: Entry, argv: Sequence[str], *, log_dir: Path | None = None) -> list[str]:
    """Write ``entry`` so that ``argv`` runs at the next login; return notes for
    the user (what else happened, what to do to start it now)."""
    notes: list[str] = []
    try:
        entry.path.parent.mkdir(parents=True, exist_ok=True)
        if entry.kind == "xdg":
            _write(entry.path, desktop_entry_text(argv))
        elif entry.kind == "systemd":
            _write(entry.path, systemd_unit_text(argv))
            for link in entry.links:
                link.parent.mkdir(parents=True, exist_ok=True)
                if link.is_symlink() or link.exists():
                    link.unlink()
                link.symlink_to(entry.path)
            notes += _systemctl("daemon-reload")
            notes.append("start it now with: systemctl --user start pximse")
        elif entry.kind == "macos":
            _write(entry.path, launch_agent_plist(argv, log_dir=log_dir).decode("utf-8"))
            notes.append(f"start it now with: launchctl load {entry.path}")
        elif entry.kind == "windows":
            _run_powershell(shortcut_script(entry.path, argv))
    except OSError as exc:
        raise AutostartError(f"cannot write {entry.path}: {exc.strerror or exc}") from exc
    return notes


def disable(entry: Entry) -> list[Path]:
    """Remove ``entry``'s files; return those that were there."""
    removed: list[Path] = []
    for path in (*entry.links, entry.path):
        try:
            if path.is_symlink() or path.exists():
                path.unlink()
                removed.append(path)
        except OSError as exc:
            raise AutostartError(f"cannot remove {path}: {exc.strerror or exc}") from exc
    if entry.kind == "systemd" and removed:
        _systemctl("daemon-reload")
    return removed


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8", newline="\n")
    os.replace(temporary, path)


def _systemctl(*args: str) -> list[str]:
    """Tell a running systemd about the change; without one (no user session,
    no systemd) the files still take effect at the next login."""
    if shutil.which("systemctl") is None:
        return []
    try:
        done = subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True,
                              timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no reason given"])[-1]
        return [f"systemctl --user {' '.join(args)} did not run ({reason}); "
                "the unit takes effect at the next login"]
    return []


# --- desktop entry ---------------------------------------------------------------

# Characters that make an Exec argument need quotes (Desktop Entry spec, "The Exec key").
_EXEC_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def desktop_entry_text(argv: Sequence[str]) -> str:
    """A desktop entry (freedesktop.org Desktop Entry Specification) that
    runs ``argv`` at login."""
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.0",
        "Name=PxIMSE",
        "GenericName=Illustration search",
        "Comment=Search your illustration library: tray icon and indexing daemon",
        f"Exec={desktop_exec(argv)}",
        "Terminal=false",
        "Categories=Graphics;Viewer;",
        "StartupNotify=false",
        "X-GNOME-Autostart-enabled=true",
        "",
    ])


def desktop_exec(argv: Sequence[str]) -> str:
    """``argv`` as an Exec value: quoted where the spec asks, ``%`` doubled,
    then backslashes escaped as every string value's are."""
    parts = []
    for arg in argv:
        if arg and not (_EXEC_RESERVED & set(arg)):
            quoted = arg
        else:
            inner = "".join("\\" + c if c in '"`$\\' else c for c in arg)
            quoted = f'"{inner}"'
        parts.append(quoted.replace("%", "%%"))
    return " ".join(parts).replace("\\", "\\\\")


# --- systemd user unit -----------------------------------------------------------


def systemd_unit_text(argv: Sequence[str]) -> str:
    """A systemd user unit that runs ``argv`` (the daemon) from login to logout."""
    return "\n".join([
        "[Unit]",
        "Description=PxIMSE illustration search daemon",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={systemd_exec(argv)}",
        "Restart=on-failure",
        "RestartSec=5",
        # SIGTERM stops it cleanly (finished results committed); give it time.
        "TimeoutStopSec=60",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ])


def systemd_exec(argv: Sequence[str]) -> str:
    """``argv`` as an ExecStart value: double-quoted where needed, with ``%``
    (specifiers) and ``$`` (variables) doubled."""
    parts = []
    for arg in argv:
        if arg and not any(c.isspace() or c in "\"'\\;" for c in arg):
            quoted = arg
        else:
            quoted = '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(quoted.replace("%", "%%").replace("$", "$$"))
    return " ".join(parts)


# --- macOS LaunchAgent -----------------------------------------------------------


def launch_agent_plist(argv: Sequence[str], *, log_dir: Path | None = None) -> bytes:
    """A launchd property list that runs ``argv`` at login (not kept alive:
    quitting the tray icon means it stays quit)."""
    agent: dict[str, object] = {
        "Label": LAUNCH_AGENT_LABEL,
        "ProgramArguments": list(argv),
        "RunAtLoad": True,
        "KeepAlive": False,
        "ProcessType": "Interactive",
    }
    if log_dir is not None:  # what the process prints before its own log file is open
        agent["StandardOutPath"] = str(log_dir / "launchd.log")
        agent["StandardErrorPath"] = str(log_dir / "launchd.log")
    return plistlib.dumps(agent)


# --- Windows Startup shortcut ----------------------------------------------------


def shortcut_script(link: Path | str, argv: Sequence[str]) -> str:
    """A PowerShell script that makes the Startup-folder shortcut ``link`` to ``argv``."""
    target, *args = argv

    def text(value: str) -> str:  # a PowerShell single-quoted string
        return "'" + str(value).replace("'", "''") + "'"

    return "\n".join([
        "$shell = New-Object -ComObject WScript.Shell",
        f"$link = $shell.CreateShortcut({text(str(link))})",
        f"$link.TargetPath = {text(target)}",
        f"$link.Arguments = {text(subprocess.list2cmdline(args))}",
        f"$link.WorkingDirectory = {text(str(Path(target).parent))}",
        "$link.Description = 'PxIMSE: illustration search'",
        "$link.Save()",
    ])


def _run_powershell(script: str) -> None:
    powershell = shutil.which("powershell") or shutil.which("pwsh")
    if powershell is None:
        raise AutostartError("PowerShell is needed to make the Startup shortcut and was not found")
    done = subprocess.run(
        [powershell, "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass",
         "-Command", script],
        capture_output=True, text=True, timeout=60,
    )
    if done.returncode != 0:
        raise AutostartError(f"PowerShell could not make the shortcut: {done.stderr.strip()}")
