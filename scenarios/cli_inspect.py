"""``fedharness inspect``: decode and annotate a SAMLResponse, optionally judging it strictly."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import click
from rich.console import Console
from rich.syntax import Syntax

from scenarios.cli_common import fail, reports_bad_input


@contextlib.contextmanager
def _strict_sts(config: Path | None) -> Iterator[object | None]:
    if config is None:
        yield None
        return
    from scenarios.exchange import MotoExchanger, open_exchanger
    from scenarios.loader import load_scenario

    loaded = load_scenario(config)
    with open_exchanger(loaded) as exchanger:
        assert isinstance(exchanger, MotoExchanger)  # noqa: S101 - moto mode
        yield exchanger.sts


@click.command("inspect")
@click.argument("source", default="-", type=click.Path(path_type=Path, allow_dash=True))
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Scenario whose IdP and AWS world to check the response against.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the annotations as JSON.")
@reports_bad_input
def inspect_command(source: Path, config_path: Path | None, as_json: bool) -> None:
    """Decode a base64 SAMLResponse (FILE or stdin), pretty-print and annotate it: the Role
    pairs AWS would take, what expires when, and — with --config — why AWS would refuse it."""
    from scenarios.report import writes_to_terminal
    from sp_fixtures.aws.inspect import InspectError, inspect_response
    from sp_fixtures.aws.sts import StrictSts

    text = sys.stdin.read() if str(source) == "-" else _read(source)
    with _strict_sts(config_path) as sts:
        try:
            inspection = inspect_response(text, sts=sts if isinstance(sts, StrictSts) else None)
        except InspectError as exc:
            fail(f"{source}: not a SAMLResponse: {exc}")
    if as_json:
        click.echo(
            json.dumps(
                {
                    "issuer": inspection.issuer,
                    "name_id": inspection.name_id,
                    "recipients": list(inspection.recipients),
                    "audiences": list(inspection.audiences),
                    "signed": list(inspection.signed),
                    "encrypted": inspection.encrypted,
                    "pairs": [
                        {
                            "role": p.role_arn,
                            "provider": p.provider_arn,
                            "accepted": p.accepted,
                            "explanation": p.explanation,
                        }
                        for p in inspection.pairs
                    ],
                    "notes": list(inspection.notes),
                },
                indent=2,
            )
        )
        return
    console = Console()
    if writes_to_terminal(console):
        console.print(Syntax(inspection.xml, "xml", word_wrap=True))
    else:  # a log or a pipe: each line whole, to copy out (a wrapped signature does not verify)
        console.print(inspection.xml, highlight=False, soft_wrap=True, markup=False)
    for line in inspection.annotations():
        console.print(line, highlight=False, soft_wrap=True, markup=False)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror}")
