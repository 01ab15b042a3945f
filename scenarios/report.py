"""Reports of a run: the terminal (rich), JUnit XML and JSON for CI.

On a terminal the users of a scenario are a table, wrapped to its width. Anywhere else (a CI log,
a pipe) they are plain aligned lines, never wrapped nor padded with trailing spaces, so that
``grep`` finds a whole role ARN or failure message on the line of its user.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lxml import etree
from rich.console import Console
from rich.table import Table
from rich.text import Text

from scenarios.runner import ScenarioResult, Status, UserResult

TABLE_LIMIT = 50
"""Scenarios with more users get a summary line instead of a table."""


def writes_to_terminal(console: Console) -> bool:
    """Tell whether ``console`` writes to a terminal, read at its width, not to a log or a pipe.

    rich also calls a console a terminal when FORCE_COLOR is set, as CI jobs do for colours; the
    log is still read by ``grep``, so it takes the output for logs (in colour).
    """
    if not console.is_terminal:
        return False
    isatty = getattr(console.file, "isatty", None)
    try:
        return isatty is not None and bool(isatty())
    except ValueError:  # a closed file
        return False


def _short(arn: str) -> str:
    parts = arn.split(":")
    return f"{parts[4]}:{parts[5]}" if len(parts) > 5 else arn


def print_report(console: Console, results: Sequence[ScenarioResult]) -> None:
    """Print one table per scenario (plain lines when not a terminal) and a summary line."""
    for result in results:
        if len(result.users) > TABLE_LIMIT:
            passed = sum(u.passed for u in result.users)
            _print_line(
                console,
                Text.assemble(
                    (result.name, "bold"),
                    f"  ({result.path}, "
                    f"aws={result.mode}): {passed} of {len(result.users)} "
                    "users as expected",
                ),
            )
        elif writes_to_terminal(console):
            _print_table(console, result)
        else:
            _print_lines(console, result)
        _print_failures(console, result)
    users = [u for r in results for u in r.users]
    failed = [u for u in users if not u.passed]
    style = "bold red" if failed else "bold green"
    console.print(Text(f"{len(users) - len(failed)} passed, {len(failed)} failed", style=style))


def _print_line(console: Console, line: Text) -> None:
    """Print ``line``, wrapped on a terminal, whole (however long) anywhere else."""
    console.print(line, soft_wrap=not writes_to_terminal(console))


def _title(result: ScenarioResult) -> str:
    return f"{result.name}  ({result.path}, aws={result.mode})"


def _verdict(user: UserResult) -> Text:
    return Text("pass", style="green") if user.passed else Text("FAIL", style="bold red")


def _assumed(user: UserResult) -> str:
    return ", ".join(_short(r) for r in user.assumed) or "-"


def _print_table(console: Console, result: ScenarioResult) -> None:
    table = Table(title=_title(result), title_justify="left", show_lines=False, expand=False)
    table.add_column("user", style="bold")
    # Which entry under `expect:` applied: the user's own, a group:NAME or a glob.
    table.add_column("expectation", style="dim")
    table.add_column("roles assumed", overflow="fold")
    table.add_column("verdict")
    for user in result.users:
        table.add_row(user.user, _expectation_name(user), _assumed(user), _verdict(user))
    console.print(table)


def _print_lines(console: Console, result: ScenarioResult) -> None:
    """Print the table's content as aligned lines: verdict, user, expectation, roles assumed."""
    rows = [(Text("verdict"), Text("user"), Text("expectation"), Text("roles assumed"))]
    rows += [
        (
            _verdict(user),
            Text(user.user, style="bold"),
            Text(_expectation_name(user), style="dim"),
            Text(_assumed(user)),
        )
        for user in result.users
    ]
    widths = [max(cell.cell_len for cell in column) for column in zip(*rows, strict=True)]
    _print_line(console, Text(_title(result), style="bold"))
    for *aligned, roles in rows:
        line = Text("  ")
        for cell, width in zip(aligned, widths[:-1], strict=True):
            line.append_text(cell).append(" " * (width - cell.cell_len + 2))
        _print_line(console, line.append_text(roles))


def _expectation_name(user: UserResult) -> str:
    """Return ``expect.KEY``, or ``(no expectation)`` for a user no entry covers."""
    return f"expect.{user.expect_key}" if user.expect_key is not None else "(no expectation)"


def _print_marked(console: Console, mark: Text, message: Text) -> None:
    """Print ``  mark message``; on a terminal, wrapped lines of the message align under its
    start, elsewhere the message stays on one line."""
    if not writes_to_terminal(console):
        _print_line(console, Text.assemble("  ", mark, " ", message))
        return
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=3, justify="right", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row(mark, message)
    console.print(grid)


def _print_failures(console: Console, result: ScenarioResult) -> None:
    for user in result.users:
        for check in user.failures:
            for problem in check.message.split("\n"):
                _print_marked(
                    console,
                    Text("✗", style="bold red"),
                    Text.assemble((user.user, "bold"), f" [{check.kind}] ", problem),
                )
    for warning in result.warnings:
        lint = Text.assemble(("lint ", "yellow"), warning)
        _print_marked(console, Text("⚠", style="yellow"), lint)
    for finding in result.findings:
        _print_marked(console, Text("!", style="bold yellow"), Text(finding))
    quiet = result.uncovered_without_roles
    if quiet:
        shown = ", ".join(quiet[:20])
        more = len(quiet) - 20
        _print_line(
            console,
            Text(
                f"  note: no expectation covers {shown}"
                + (f" and {more} more" if more > 0 else "")
                + " (no role assumed)",
                style="yellow",
            ),
        )


def _user_json(user: UserResult) -> dict[str, Any]:
    return {
        "user": user.user,
        "expect": user.expect_key,
        "covered": user.covered,
        "passed": user.passed,
        "offered": [list(pair) for pair in user.offered],
        "assumed": list(user.assumed),
        "exchanges": [
            {
                "role": o.role_arn,
                "provider": o.principal_arn,
                "ok": o.ok,
                "error": None
                if o.ok
                else {"code": o.error_code, "message": o.error_message, "rule": o.rule},
                "finding": o.finding,
            }
            for o in user.outcomes
        ],
        "checks": [
            {"kind": c.kind, "status": c.status.value, "message": c.message} for c in user.checks
        ],
    }


def to_json(results: Sequence[ScenarioResult]) -> dict[str, Any]:
    """Return the run as a JSON-ready mapping."""
    return {
        "passed": all(r.passed for r in results),
        "scenarios": [
            {
                "name": r.name,
                "path": r.path,
                "aws": r.mode,
                "passed": r.passed,
                "users": [_user_json(u) for u in r.users],
                "uncovered_users": list(r.unexpected_users),
                "findings": list(r.findings),
                "lint": list(r.warnings),
            }
            for r in results
        ],
    }


def write_json(path: Path, results: Sequence[ScenarioResult]) -> None:
    """Write the JSON report."""
    path.write_text(json.dumps(to_json(results), indent=2, default=str) + "\n", encoding="utf-8")


def write_junit(path: Path, results: Sequence[ScenarioResult]) -> None:
    """Write a JUnit XML report: one testsuite per scenario, one testcase per user."""
    suites = etree.Element("testsuites")
    for result in results:
        failures = sum(not u.passed for u in result.users)
        suite = etree.SubElement(
            suites,
            "testsuite",
            name=result.name,
            tests=str(len(result.users)),
            failures=str(failures),
            errors="0",
            skipped="0",
            file=result.path,
        )
        for user in result.users:
            key = user.expect_key if user.expect_key is not None else "no expectation"
            case = etree.SubElement(
                suite, "testcase", classname=result.name, name=f"{user.user} [{key}]"
            )
            for check in user.checks:
                if check.status is Status.FAIL:
                    failure = etree.SubElement(
                        case, "failure", type=check.kind, message=check.message
                    )
                    failure.text = check.message
    path.write_bytes(
        etree.tostring(suites, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    )
