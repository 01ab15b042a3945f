"""Each kind of verdict the runner gives, with the message a user reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from scenarios.exchange import Exchanger, open_exchanger
from scenarios.loader import LoadedScenario, load_scenario
from scenarios.model import Expectation
from scenarios.runner import Status, UserResult, offered_pairs, run_scenario, run_user
from tests.conftest import DATA

VERDICTS = DATA / "scenarios" / "verdicts.yaml"
A = "arn:aws:iam::111111111111:role/"


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[LoadedScenario, Exchanger]]:
    loaded = load_scenario(VERDICTS)
    with open_exchanger(loaded) as exchanger:
        yield loaded, exchanger


def check(world: tuple[LoadedScenario, Exchanger], user: str, **expect: Any) -> UserResult:
    loaded, exchanger = world
    return run_user(loaded, exchanger, user, user, Expectation.model_validate(expect))


def only(result: UserResult, kind: str) -> list[tuple[Status, str]]:
    return [(c.status, c.message) for c in result.checks if c.kind == kind]


def test_exact_roles_pass(world: Any) -> None:
    result = check(world, "alice", roles=[A + "Admin", A + "Reader"])
    assert result.passed
    assert set(result.assumed) == {A + "Admin", A + "Reader"}


def test_unexpected_extra_role_fails(world: Any) -> None:
    result = check(world, "alice", roles=[A + "Reader"])
    assert only(result, "roles") == [(Status.FAIL, f"unexpected role {A}Admin")]


def test_missing_role_fails_with_the_reason(world: Any) -> None:
    result = check(world, "bob", roles=[A + "Reader", A + "Admin"])
    assert only(result, "roles") == [
        (Status.FAIL, f"missing role {A}Admin (not offered by the IdP)")
    ]


def test_role_offered_but_refused_shows_the_rule(world: Any) -> None:
    result = check(world, "carol", roles=[A + "Locked"])
    ((status, message),) = only(result, "roles")
    assert status is Status.FAIL
    assert message.startswith(f"missing role {A}Locked (refused: AccessDenied: Not authorized")
    assert "[rule role.trust_policy]" in message
    assert "saml-provider/CorpIdP" in message


def test_expected_error_passes(world: Any) -> None:
    result = check(world, "carol", error={"code": "AccessDenied", "message": "Not authorized"})
    assert result.passed
    assert only(result, "error")[0][1].startswith(f"{A}Locked: AccessDenied")


def test_wrong_error_code_fails(world: Any) -> None:
    result = check(world, "carol", error={"code": "InvalidIdentityToken"})
    ((status, message),) = only(result, "error")
    assert status is Status.FAIL
    assert message.startswith(f"expected InvalidIdentityToken for {A}Locked but got AccessDenied")


def test_error_expected_but_credentials_issued_fails(world: Any) -> None:
    result = check(world, "bob", error={"code": "AccessDenied"})
    assert only(result, "error") == [
        (Status.FAIL, f"expected AccessDenied for {A}Reader but got credentials")
    ]


def test_error_for_a_role_not_offered(world: Any) -> None:
    result = check(world, "carol", error={"code": "AccessDenied", "role": A + "Admin"})
    assert result.passed, result.failures
    assert [o.role_arn for o in result.outcomes] == [A + "Locked", A + "Admin"]


def test_error_role_does_not_hide_other_roles(world: Any) -> None:
    # Without roles:, a role the expectation does not name is unexpected (bob assumes Reader).
    result = check(world, "bob", error={"code": "AccessDenied", "role": A + "Admin"})
    assert [o.role_arn for o in result.outcomes] == [A + "Reader", A + "Admin"]
    assert only(result, "roles") == [
        (Status.FAIL, f"unexpected role {A}Reader (not named; the expectation has no 'roles:')")
    ]
    assert [s for s, _ in only(result, "error")] == [Status.PASS]


def test_error_message_mismatch_fails(world: Any) -> None:
    result = check(world, "carol", error={"code": "AccessDenied", "message": "Go away"})
    assert "lacks 'Go away'" in only(result, "error")[0][1]


def test_permission_allowed_and_denied(world: Any) -> None:
    result = check(
        world,
        "bob",
        roles=[A + "Reader"],
        can=[{"action": "s3:GetObject", "resource": "arn:aws:s3:::data/data/x.csv"}],
        cannot=[{"action": "s3:GetObject", "resource": "arn:aws:s3:::data/platform/x.csv"}],
    )
    assert result.passed, result.failures
    assert [s for s, _ in only(result, "permission")] == [Status.PASS, Status.PASS]


def test_permission_expectation_that_does_not_hold(world: Any) -> None:
    result = check(
        world,
        "bob",
        roles=[A + "Reader"],
        can=[{"action": "s3:PutObject", "resource": "arn:aws:s3:::data/data/x"}],
        cannot=[{"action": "s3:GetObject", "resource": "arn:aws:s3:::data/data/x"}],
    )
    statuses = only(result, "permission")
    assert [s for s, _ in statuses] == [Status.FAIL, Status.FAIL]
    assert "denied: no statement allows s3:PutObject" in statuses[0][1]
    assert "allowed: statement 0" in statuses[1][1]


def test_session_checks(world: Any) -> None:
    good = check(
        world,
        "bob",
        roles=[A + "Reader"],
        session={"name": "bob@corp.example", "duration": 3600, "tags": {"team": "data"}},
    )
    assert good.passed, good.failures
    bad = check(
        world,
        "bob",
        roles=[A + "Reader"],
        session={"name": "bob", "duration": 7200, "tags": {"team": "x"}},
    )
    ((status, message),) = only(bad, "session")
    assert status is Status.FAIL
    assert "session name 'bob@corp.example', expected 'bob'" in message
    assert "duration 3600 s, expected 7200 s" in message
    assert "session tags {'team': 'data'}, expected {'team': 'x'}" in message


def test_offered_pairs_either_order() -> None:
    role, provider = A + "X", "arn:aws:iam::111111111111:saml-provider/P"
    assert offered_pairs([f"{provider},{role}", f"{role},{provider}", "garbage"]) == (
        (role, provider),
    )


def test_run_scenario_counts(world: Any) -> None:
    loaded, exchanger = world
    result = run_scenario(loaded, exchanger)
    assert [u.user for u in result.users] == ["alice", "bob", "carol"]
    assert result.passed
