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
    assert "; not denied: " in failure or ": allowed: " in failure


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


# --- what a `cannot` leaves open: the resource it does not name, the keys it does not give ------

READ_ONLY_POLICIES = "          policies: [arn:aws:iam::aws:policy/ReadOnlyAccess]"


def with_policy(tmp_path: Path, statement: str, cannot: str) -> Path:
    """bob's ReadOnly role with only ``statement`` (JSON), and ``cannot`` as his check."""
    inline = (
        "          inline_policies:\n"
        f'            p: {{"Version": "2012-10-17", "Statement": [{statement}]}}'
    )
    return scenario(
        tmp_path,
        (READ_ONLY_POLICIES, inline),
        (BOB_CAN + "\n", ""),
        (BOB_CANNOT, f"    cannot: {cannot}"),
    )


PAYROLL = '{"Effect": "Allow", "Action": "s3:*", "Resource": ["arn:aws:s3:::payroll/*"]}'
TLS_ONLY = (
    '{"Effect": "Allow", "Action": "s3:*", "Resource": "*", '
    '"Condition": {"Bool": {"aws:SecureTransport": "true"}}}'
)


@pytest.mark.parametrize("action", ["s3:GetObject", "s3:*"])
def test_cannot_without_a_resource_covers_every_resource(tmp_path: Path, action: str) -> None:
    # An audit found `cannot: s3:*` passing for a role that owns the payroll bucket.
    result = run(with_policy(tmp_path, PAYROLL, f'[{{action: "{action}"}}]'))
    assert result.exit_code == 1, result.output
    (failure,) = failures(result)
    assert "may be allowed: statement 0 allows s3:" in failure
    assert "for a resource the check does not name (Resource ['arn:aws:s3:::payroll/*'])" in failure


def test_cannot_on_a_named_resource_checks_that_resource(tmp_path: Path) -> None:
    other = '[{action: "s3:*", resource: "arn:aws:s3:::public/x"}]'
    assert run(with_policy(tmp_path, PAYROLL, other)).exit_code == 0
    payroll = '[{action: "s3:GetObject", resource: "arn:aws:s3:::payroll/q3.csv"}]'
    assert run(with_policy(tmp_path, PAYROLL, payroll)).exit_code == 1


def test_cannot_is_not_met_by_a_condition_key_left_out(tmp_path: Path) -> None:
    result = run(with_policy(tmp_path, TLS_ONLY, '[{action: "s3:GetObject"}]'))
    assert result.exit_code == 1, result.output
    (failure,) = failures(result)
    assert "for aws:SecureTransport (not in the check's context)" in failure
    pinned = '[{action: "s3:GetObject", context: {"aws:SecureTransport": "false"}}]'
    assert run(with_policy(tmp_path, TLS_ONLY, pinned)).exit_code == 0


def test_a_deny_that_always_applies_rules_a_cannot_in(tmp_path: Path) -> None:
    deny = PAYROLL + ', {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}'
    assert run(with_policy(tmp_path, deny, '[{action: "s3:*"}]')).exit_code == 0


def test_a_pattern_also_covers_actions_the_policies_name_but_the_catalogue_lacks(
    tmp_path: Path,
) -> None:
    # A retired service, or an action newer than the catalogue, must not hide from `s3:*`.
    unlisted = '{"Effect": "Allow", "Action": "s3:GetObjectFromTheFuture", "Resource": "*"}'
    result = run(with_policy(tmp_path, unlisted, '[{action: "s3:*"}]'))
    assert result.exit_code == 1, result.output
    (failure,) = failures(result)
    assert "181 actions match; not denied: s3:GetObjectFromTheFuture" in failure
