"""Run the scenario commands (plan, explain, schema …) in-process, 120 columns wide, no colour."""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner

from scenarios.cli_scenarios import register

ENV = {"COLUMNS": "120", "NO_COLOR": "1", "FORCE_COLOR": None}


def _cli() -> click.Group:
    group = click.Group("fedharness")
    register(group)
    return group


CLI = _cli()


def invoke(*args: str | Path) -> tuple[int, str, str]:
    """Run ``fedharness ARGS…``; return the exit code, stdout and stderr."""
    result = CliRunner().invoke(CLI, [str(a) for a in args], env=ENV)
    return result.exit_code, result.stdout, result.stderr
