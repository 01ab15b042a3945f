"""``fedharness inspect``: decode and annotate a SAMLResponse, optionally judging it strictly."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.syntax import Syntax

from idp.saml.constants import AwsAttribute
from scenarios.cli_common import fail, reports_bad_input

if TYPE_CHECKING:
    from sp_fixtures.aws.inspect import Inspection

_AWS_ATTRIBUTE_PREFIX = "https://aws.amazon.com/SAML/Attributes/"
_PAIR_MARKS = {True: "accepted", False: "REFUSED", None: "not checked"}


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
    console.print(Syntax(inspection.xml, "xml", word_wrap=True))
    for line in annotation_lines(inspection):
        console.print(line, highlight=False, soft_wrap=True, markup=False)


def annotation_lines(inspection: Inspection) -> list[str]:
    """Return the text-mode annotations, each Role pair indented under the Role attribute.

    ``Inspection.annotations`` lists the pairs after every attribute, where they read as
    belonging to the last one (a PrincipalTag).
    """
    pairs = [
        f"  {pair.role_arn} via {pair.provider_arn}: "
        f"{_PAIR_MARKS[pair.accepted]} — {pair.explanation}"
        for pair in inspection.pairs
    ]
    lines = [
        f"Issuer: {inspection.issuer}",
        f"NameID: {inspection.name_id} ({inspection.name_id_format})",
        f"Recipient (saml:aud): {', '.join(inspection.recipients) or 'none'}",
        f"Audience: {', '.join(inspection.audiences) or 'none'}",
        f"Signed: {', '.join(inspection.signed) or 'nothing'}"
        + (" (assertion encrypted)" if inspection.encrypted else ""),
    ]
    if inspection.issue_instant:
        redeem_by = inspection.issue_instant + dt.timedelta(minutes=5)
        lines.append(
            f"Issued: {inspection.issue_instant.isoformat()} — AWS redeems it for "
            f"5 minutes, until {redeem_by.isoformat()}"
        )
    if inspection.not_on_or_after:
        lines.append(f"Expires (NotOnOrAfter): {inspection.not_on_or_after.isoformat()}")
    for name, values in inspection.attributes:
        if name == AwsAttribute.ROLE:
            lines.append(f"Role attribute ({len(values)} values): the pairs AWS can take")
            lines.extend(pairs)
            pairs = []
        elif name.startswith(_AWS_ATTRIBUTE_PREFIX):
            lines.append(f"{name.rsplit('/', 1)[1]}: {', '.join(values)}")
    lines.extend(pairs)  # pairs without a Role attribute cannot happen; never drop them
    lines.extend(inspection.notes)
    return lines


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror}")
