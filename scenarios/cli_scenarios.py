"""``fedharness plan``, ``explain`` and ``schema``: look at a scenario without running it all."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from scenarios.cli_common import fail, reports_bad_input

if TYPE_CHECKING:
    from scenarios.plan import RoleMatrix

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_TITLE = "fedharness scenario"
SCHEMA_HINT = (
    "Reference it from a scenario file so editors (YAML language server) complete and "
    "check it: put `# yaml-language-server: $schema=<path or URL of this file>` on the "
    "file's first line."
)

scenario_argument = click.argument(
    "scenario_path", metavar="SCENARIO", type=click.Path(path_type=Path, dir_okay=False)
)


def scenario_schema() -> dict[str, Any]:
    """Return the scenario file's JSON Schema, with ``$schema``, a title and how to use it."""
    from scenarios.model import Scenario

    generated = Scenario.model_json_schema()
    generated.pop("title", None)
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": SCHEMA_TITLE,
        "$comment": SCHEMA_HINT,
        **generated,
    }


@click.command("plan")
@scenario_argument
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "csv"]),
    default=None,
    help="Output form (default: table; none with --check/--write).",
)
@click.option(
    "--check",
    "golden",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Compare with a golden matrix (JSON, or CSV by extension); exit 1 on change.",
)
@click.option(
    "--write",
    "write_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the matrix as a golden file (JSON, or CSV by extension).",
)
@reports_bad_input
def plan(
    scenario_path: Path, output_format: str | None, golden: Path | None, write_path: Path | None
) -> None:
    """Print the user × role matrix from the mapping alone, without calling STS."""
    from scenarios.loader import load_scenario
    from scenarios.plan import compute_matrix, write_golden

    if golden is not None and write_path is not None:
        fail("use --check or --write, not both")
    matrix = compute_matrix(load_scenario(scenario_path))
    if output_format == "json":
        click.echo(matrix.to_json(), nl=False)
    elif output_format == "csv":
        click.echo(matrix.to_csv(), nl=False)
    elif output_format == "table" or (golden is None and write_path is None):
        from rich.console import Console

        from scenarios.plan import matrix_table

        Console().print(matrix_table(matrix))
    if write_path is not None:
        try:
            write_golden(matrix, write_path)
        except OSError as exc:
            fail(f"{write_path}: cannot write: {exc.strerror or exc}")
        click.echo(
            f"wrote the matrix of {len(matrix.users)} users and {len(matrix.roles())} "
            f"roles to {write_path}",
            err=output_format is not None,
        )
    if golden is not None:
        _check(matrix, golden, quiet_summary=output_format is not None)


def _check(matrix: RoleMatrix, golden: Path, *, quiet_summary: bool) -> None:
    from rich.console import Console
    from rich.text import Text

    from scenarios.plan import GoldenFileError, change_summary, diff_matrices, read_golden

    try:
        expected = read_golden(golden)
    except GoldenFileError as exc:
        fail(str(exc))
    changes = diff_matrices(expected, matrix)
    console = Console(stderr=quiet_summary, highlight=False, soft_wrap=True)
    if not changes:
        console.print(
            f"matrix unchanged ({len(matrix.users)} users, {len(matrix.roles())} roles"
            f" as in {golden})",
            markup=False,
        )
        return
    console.print(
        Text(f"matrix changed against {golden} ({change_summary(changes)}):", style="bold red")
    )
    styles = {"+": "green", "-": "red", "~": "yellow"}
    for change in changes:
        console.print(Text(change.line(), style=styles[change.sign]))
    sys.exit(1)


@click.command("explain")
@scenario_argument
@click.option("--user", "user_name", required=True, help="User name in the directory.")
@click.option(
    "--role",
    "role_arn",
    help="Explain only this role ARN (offered or not, declared or not).",
)
@click.option(
    "--aws",
    "mode",
    type=click.Choice(["moto"]),
    default="moto",
    show_default=True,
    help="Where to judge: the strict STS's evidence exists in-process only.",
)
@reports_bad_input
def explain(scenario_path: Path, user_name: str, role_arn: str | None, mode: str) -> None:
    """Print why a user gets each role: groups, mapping, attributes, STS and trust policy;
    exit 1 when the user's expectation fails."""
    from rich.console import Console

    from idp.directory import UnknownUserError
    from scenarios.explain import close_roles, explain_user, print_explanation
    from scenarios.loader import load_scenario
    from scenarios.model import role_arn_problem

    loaded = load_scenario(scenario_path)
    problem = None if role_arn is None else role_arn_problem(role_arn)
    if role_arn is not None and problem is not None:
        detail = "" if problem.startswith("expected ") else f": {problem}"
        fail(
            f"--role {role_arn!r} is not an IAM role ARN{detail}; expected "
            f"arn:aws:iam::ACCOUNT:role/NAME"
            + close_roles(role_arn, loaded.scenario.aws.role_arns())
        )
    try:
        explanation = explain_user(loaded, user_name, role=role_arn)
    except UnknownUserError as exc:
        fail(f"{scenario_path}: {exc}")
    print_explanation(Console(highlight=False, soft_wrap=True), explanation)
    sys.exit(0 if explanation.holds else 1)


@click.command("schema")
@click.option(
    "--output",
    "output_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the schema to this file instead of printing it.",
)
def schema(output_path: Path | None) -> None:
    """Print the scenario file's JSON Schema (for editors: see its $comment)."""
    text = json.dumps(scenario_schema(), indent=2, ensure_ascii=False) + "\n"
    if output_path is None:
        click.echo(text, nl=False)
        click.echo(f"# {SCHEMA_HINT}", err=True)
        return
    try:
        output_path.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{output_path}: cannot write: {exc.strerror or exc}")
    click.echo(
        f"wrote {output_path}. Reference it from a scenario file's first line:\n"
        f"# yaml-language-server: $schema={output_path}"
    )


def register(main: click.Group) -> None:
    """Add ``plan``, ``explain`` and ``schema`` to the ``fedharness`` command group."""
    for command in (plan, explain, schema):
        main.add_command(command)
