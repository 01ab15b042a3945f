"""can/cannot with wildcards and misspellings: every matching action is evaluated, no false green.

A walkthrough found ``cannot: s3:*`` passing for a role that reads every bucket: the literal
``s3:*`` was evaluated as one action, which no statement names. ``single-account`` gives bob the
ReadOnly role (AWS's ReadOnlyAccess) and alice Admin (AdministratorAccess).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from scenarios.cli import main
from tests.conftest import CERTS, EXAMPLES

READ_ONLY = "arn:aws:iam::111111111111:role/ReadOnly"
ADMIN = "arn:aws:iam::111111111111:role/Admin"
BOB_CAN = '    can: [{action: s3:GetObject, resource: "arn:aws:s3:::reports/q3.csv"}]'
BOB_CANNOT = '    cannot: [{action: s3:PutObject, resource: "arn:aws:s3:::reports/q3.csv"}]'


def scenario(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    text = (EXAMPLES / "single-account.yaml").read_text().replace("../../certs/", f"{CERTS}/")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


def run(path: Path) -> Result:
    return CliRunner(env={"COLUMNS": "400", "NO_COLOR": "1"}).invoke(main, ["run", str(path)])


def failures(result: Result) -> list[str]:
    return [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("✗")]


@pytest.mark.parametrize("pattern", ["s3:*", "s3:Get*", "*", "s3:GetObjec?"])
def test_cannot_with_a_pattern_fails_when_any_matching_action_is_allowed(
    tmp_path: Path, pattern: str
) -> None:
    result = run(scenario(tmp_path, (BOB_CANNOT, f'    cannot: [{{action: "{pattern}"}}]')))
    assert result.exit_code == 1, result.output
    (failure,) = failures(result)
    assert failure.startswith(f"✗ bob [permission] {READ_ONLY} cannot {pattern} on *: ")
    assert "allowed: " in failure


@pytest.mark.parametrize("pattern", ["s3:Put*", "iam:Create*", "s3:putobject"])
def test_cannot_with_a_pattern_passes_when_no_matching_action_is_allowed(
    tmp_path: Path, pattern: str
) -> None:
    result = run(scenario(tmp_path, (BOB_CANNOT, f'    cannot: [{{action: "{pattern}"}}]')))
    assert result.exit_code == 0, result.output


def test_can_with_a_pattern_needs_every_matching_action(tmp_path: Path) -> None:
    result = run(scenario(tmp_path, (BOB_CAN, '    can: [{action: "s3:Get*"}, {action: "s3:*"}]')))
    assert result.exit_code == 1, result.output
    (failure,) = failures(result)
    assert failure.startswith(f"✗ bob [permission] {READ_ONLY} can s3:* on *: ")
    assert "; denied: " in failure
    granted = run(
        scenario(
            tmp_path,
            (
                f"    can: [{{role: {ADMIN}, action: iam:CreateUser}}]",
                f'    can: [{{role: {ADMIN}, action: "s3:*"}}, {{role: {ADMIN}, action: "*"}}]',
            ),
        )
    )
    assert granted.exit_code == 0, granted.output


def test_a_failed_pattern_check_does_not_quote_a_whole_managed_policy(tmp_path: Path) -> None:
    result = run(scenario(tmp_path, (BOB_CAN, '    can: [{action: "s3:*"}]')))
    (failure,) = failures(result)
    # ReadOnlyAccess lists over 3,000 actions: each statement's list is quoted in part.
    assert len(failure) < 1500, failure
    assert "more] did not match" in failure or failure.endswith("…")
