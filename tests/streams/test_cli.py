"""The ``rtx-analytics`` command line: every subcommand comes from an entry point of the group
``rtx_analytics.commands`` (pyproject.toml), each loads and registers, and the real command lists
them in the documented order."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from streams import cli

ROOT = Path(__file__).resolve().parents[2]
RTX = Path(sys.executable).parent / "rtx-analytics"


def declared() -> dict[str, str]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    commands: dict[str, str] = project["entry-points"][cli.GROUP]
    return commands


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own command
        [*args], capture_output=True, text=True, timeout=60, check=False, env=os.environ.copy()
    )


def test_installed_entry_points_are_the_declared_ones() -> None:
    """A stale install (``pip install -e .`` not re-run) would hide or keep commands."""
    installed = {ep.name: ep.value for ep in entry_points(group=cli.GROUP)}
    assert installed == declared()
    assert set(cli.ENTRY_POINTS) == set(declared())


@pytest.mark.parametrize("name", sorted(declared()))
def test_each_entry_point_loads_and_registers_runnable_subcommands(name: str) -> None:
    (entry_point,) = [ep for ep in entry_points(group=cli.GROUP) if ep.name == name]
    parser = argparse.ArgumentParser(prog="rtx-analytics")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    entry_point.load()(sub)
    assert sub.choices, f"{name} registered no subcommand"
    for command, subparser in sub.choices.items():
        assert command in cli.COMMANDS, f"{command} is missing from the documented order"
        if command in ("kafka", "topics"):  # actions below the command carry the handlers
            continue
        assert callable(subparser.get_default("func")), command


def test_every_command_is_registered_once_and_listed_in_order() -> None:
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert list(sub.choices) == list(cli.COMMANDS)


def test_help_of_the_real_command_lists_the_commands_in_the_documented_order() -> None:
    result = run(str(RTX), "--help")
    assert result.returncode == 0, result.stderr
    listed = [
        line.split()[0]
        for line in result.stdout.split("COMMAND\n", 1)[1].splitlines()
        if line.startswith("    ") and not line.startswith("      ")
    ]
    assert listed == list(cli.COMMANDS)
    choices = "(choose from 'kafka', 'topics', 'worker', 'markouts', 'bridge'"
    assert f"invalid choice: 'nope' {choices}" in run(str(RTX), "nope").stderr


def test_each_command_has_its_help() -> None:
    for command in cli.COMMANDS:
        result = run(str(RTX), command, "--help")
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout.startswith(f"usage: rtx-analytics {command} "), command


def test_python_m_ws_bridge_is_the_bridge_command_without_streams_cli() -> None:
    code = (
        "import runpy, sys\n"
        "sys.argv = ['ws_bridge', '--help']\n"
        "try:\n"
        "    runpy.run_module('ws_bridge', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('loaded:', 'streams.cli' in sys.modules)\n"
    )
    result = run(sys.executable, "-c", code)
    assert result.stdout.startswith("usage: rtx-analytics bridge [-h]"), result.stderr
    assert result.stdout.rstrip().endswith("loaded: False")


def test_without_registered_commands_the_command_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "entry_points", lambda group: [])
    assert cli.main(["--help"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no commands registered") and "pip install -e ." in err
