"""`pximse autostart`: the entries are written where each platform looks, and
their content parses the way the platform reads it."""

from __future__ import annotations

import configparser
import plistlib
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pximse.autostart import (
    AutostartError,
    desktop_entry_text,
    enable,
    entry_for,
    launch_agent_plist,
    shortcut_script,
    systemd_unit_text,
)
from pximse.cli import main

# A folder name with what quoting must survive: a space, a quote, a dollar and a percent.
AWKWARD = "my $lib's 100% \"best\""


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """A user of their own: HOME and XDG_CONFIG_HOME in a temp folder."""
    return {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "home" / "cfg"),
            "PXIMSE_CONFIG": "", "PXIMSE_DATA_DIR": ""}


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def read_ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


def desktop_exec_argv(value: str) -> list[str]:
    """Read an Exec value back as the Desktop Entry spec says a launcher does:
    string escapes first, then double-quoted arguments, then %% -> %."""
    unescaped, i = [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            unescaped.append({"s": " ", "n": "\n", "t": "\t", "r": "\r"}.get(value[i + 1],
                                                                             value[i + 1]))
            i += 2
        else:
            unescaped.append(value[i])
            i += 1
    text = "".join(unescaped)
    argv, current, quoted, i, started = [], [], False, 0, False
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\" and i + 1 < len(text) and text[i + 1] in '"`$\\':
                current.append(text[i + 1])
                i += 1
            elif c == '"':
                quoted = False
            else:
                current.append(c)
        elif c == '"':
            quoted = started = True
        elif c == " ":
            if started:
                argv.append("".join(current))
            current, started = [], False
        else:
            assert c not in "\\\"'`$<>|&;*?#()~", f"unquoted reserved character in {value!r}"
            current.append(c)
            started = True
        i += 1
    assert not quoted, f"unbalanced quotes in {value!r}"
    if started:
        argv.append("".join(current))
    return [arg.replace("%%", "%") for arg in argv]


def test_enable_writes_a_desktop_entry_under_xdg_config_home(
    tmp_path: Path, home: dict[str, str]
) -> None:
    config = tmp_path / AWKWARD / "config.toml"
    code, output = run(home, "autostart", "enable", "--config", str(config))
    assert code == 0, output
    desktop = Path(home["XDG_CONFIG_HOME"]) / "autostart" / "pximse.desktop"
    assert str(desktop) in output
    entry = read_ini(desktop)["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "PxIMSE"
    assert entry["Terminal"] == "false"
    assert desktop_exec_argv(entry["Exec"]) == [
        sys.executable, "-m", "pximse", "--config", str(config), "tray"]
    if shutil.which("desktop-file-validate"):  # installed by `make system-deps`
        check = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True,
                               text=True)
        assert check.returncode == 0 and not check.stdout.strip(), check.stdout

    code, output = run(home, "autostart", "status")
    assert code == 0 and f"xdg: enabled, {desktop}" in output and "systemd: not enabled" in output


def test_without_xdg_config_home_the_entry_goes_to_dot_config(home: dict[str, str]) -> None:
    for value in ("", "relative/ignored"):  # the spec: a relative value is to be ignored
        env = {**home, "XDG_CONFIG_HOME": value}
        code, output = run(env, "autostart", "enable", "--run", "serve")
        assert code == 0, output
        desktop = Path(home["HOME"]) / ".config" / "autostart" / "pximse.desktop"
        assert desktop_exec_argv(read_ini(desktop)["Desktop Entry"]["Exec"])[-1] == "serve"
        code, output = run(env, "autostart", "disable")
        assert code == 0 and not desktop.exists()


def test_the_systemd_unit_runs_the_daemon_and_is_wanted_by_the_default_target(
    tmp_path: Path, home: dict[str, str]
) -> None:
    data = tmp_path / AWKWARD / "data"
    code, output = run(home, "--data-dir", str(data), "autostart", "enable", "--systemd")
    assert code == 0, output
    units = Path(home["XDG_CONFIG_HOME"]) / "systemd" / "user"
    unit_file = units / "pximse.service"
    unit = read_ini(unit_file)
    assert unit.sections() == ["Unit", "Service", "Install"]
    assert unit["Install"]["WantedBy"] == "default.target"
    assert unit["Service"]["Restart"] == "on-failure"
    exec_start = unit["Service"]["ExecStart"]
    argv = [arg.replace("%%", "%").replace("$$", "$") for arg in shlex.split(exec_start)]
    assert argv == [sys.executable, "-m", "pximse", "--data-dir", str(data), "serve"]
    link = units / "default.target.wants" / "pximse.service"
    assert link.is_symlink() and link.resolve() == unit_file.resolve()
    if shutil.which("systemd-analyze"):
        check = subprocess.run(["systemd-analyze", "verify", str(unit_file)],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr

    code, output = run(home, "autostart", "status", "--json")
    assert '"kind": "systemd"' in output and '"enabled": true' in output

    code, output = run(home, "autostart", "disable", "--systemd")
    assert code == 0 and f"removed {unit_file}" in output
    assert not unit_file.exists() and not link.is_symlink()
    code, output = run(home, "autostart", "disable")
    assert code == 0 and "autostart was not enabled" in output


def test_mistakes_are_refused_before_anything_is_written(
    tmp_path: Path, home: dict[str, str]
) -> None:
    code, output = run(home, "autostart", "enable", "--systemd", "--run", "tray")
    assert code != 0 and "no display for the tray icon" in output
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nport = 0\n")
    code, output = run(home, "autostart", "enable", "--config", str(bad))
    assert code != 0 and "server.port" in output
    assert not (Path(home["XDG_CONFIG_HOME"]) / "autostart").exists()
    assert not (Path(home["XDG_CONFIG_HOME"]) / "systemd").exists()


def test_the_macos_launch_agent_is_a_property_list_launchd_reads(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    entry = entry_for("macos", env)
    assert entry.path == tmp_path / "Library" / "LaunchAgents" / "org.pximse.tray.plist"
    argv = ["/Applications/Py thon/bin/python3", "-m", "pximse", "tray"]
    enable(entry, argv, log_dir=tmp_path / "Logs")
    agent = plistlib.loads(entry.path.read_bytes())
    assert agent["Label"] == "org.pximse.tray"
    assert agent["ProgramArguments"] == argv
    assert agent["RunAtLoad"] is True and agent["KeepAlive"] is False
    assert agent["StandardErrorPath"] == str(tmp_path / "Logs" / "launchd.log")
    assert plistlib.loads(launch_agent_plist(argv)).keys() >= {"Label", "ProgramArguments"}


def test_the_windows_shortcut_script_quotes_every_path(tmp_path: Path) -> None:
    env = {"APPDATA": r"C:\Users\O'Brien\AppData\Roaming"}
    entry = entry_for("windows", env)
    assert entry.path.name == "PxIMSE.lnk"
    assert entry.path.parent.parts[-4:] == ("Windows", "Start Menu", "Programs", "Startup")
    python = r"C:\Program Files\O'Python\pythonw.exe"
    script = shortcut_script(r"C:\Users\O'Brien\Startup\PxIMSE.lnk",
                             [python, "-m", "pximse", "--config", r"D:\my cfg\c.toml", "tray"])
    lines = script.splitlines()
    assert "$link = $shell.CreateShortcut('C:\\Users\\O''Brien\\Startup\\PxIMSE.lnk')" in lines
    assert "$link.TargetPath = 'C:\\Program Files\\O''Python\\pythonw.exe'" in lines
    assert "$link.Arguments = '-m pximse --config \"D:\\my cfg\\c.toml\" tray'" in lines
    assert lines[-1] == "$link.Save()"


@pytest.mark.skipif(sys.platform == "win32", reason="PowerShell is there on Windows")
def test_the_windows_shortcut_needs_powershell(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no powershell, no pwsh
    entry = entry_for("windows", {"APPDATA": str(tmp_path)})
    with pytest.raises(AutostartError, match="PowerShell is needed"):
        enable(entry, ["python", "-m", "pximse", "tray"])
    assert not entry.path.exists()


def test_entry_texts_are_stable_lines() -> None:
    argv = ["/usr/bin/python3", "-m", "pximse", "tray"]
    assert "Exec=/usr/bin/python3 -m pximse tray\n" in desktop_entry_text(argv)
    assert "ExecStart=/usr/bin/python3 -m pximse tray\n" in systemd_unit_text(argv)
