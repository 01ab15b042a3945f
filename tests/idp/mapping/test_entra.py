"""Entra ID AWS Single-Account Access: app roles, assignments, claims."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from idp.directory import User
from idp.mapping.base import MappingInput
from idp.mapping.entra import EntraAwsConfig, EntraAwsMapping
from idp.mapping.lint import role_value_problems
from idp.saml.constants import AwsAttribute
from tests.idp.mapping.matrix import matrix, run_case

ROLE, SESSION_NAME = AwsAttribute.ROLE, AwsAttribute.ROLE_SESSION_NAME
DURATION = AwsAttribute.SESSION_DURATION
ADMIN = "arn:aws:iam::123456789012:role/Admin,arn:aws:iam::123456789012:saml-provider/WAAD"
READ = "arn:aws:iam::123456789012:role/ReadOnly,arn:aws:iam::123456789012:saml-provider/WAAD"


def entra(**settings: Any) -> EntraAwsMapping:
    settings.setdefault(
        "app_roles",
        [
            {"displayName": "Admin,WAAD", "value": ADMIN},
            {"displayName": "ReadOnly,WAAD", "value": READ},
        ],
    )
    return EntraAwsMapping(EntraAwsConfig.model_validate(settings))


def subject(
    groups: tuple[str, ...] = (), direct: tuple[str, ...] | None = None, **fields: Any
) -> MappingInput:
    fields.setdefault("upn", "alice@corp.example")
    return MappingInput(User("alice", **fields), groups, groups if direct is None else direct)


@pytest.mark.parametrize(("matrix_set", "case"), matrix("entra.yaml"))
def test_fixture_matrix(matrix_set: dict[str, Any], case: dict[str, Any]) -> None:
    result = run_case(matrix_set, case)
    assert list(result.values(ROLE)) == case["roles"]
    codes = {code for value in case["roles"] for code, _ in role_value_problems(value)}
    assert sorted(codes) == sorted(case.get("problems", []))


def test_default_claims_role_session_name_and_duration() -> None:
    engine = entra(user_assignments={"alice": ["Admin,WAAD"]}, session_duration=3600)
    result = engine.map(subject())
    assert [a.name for a in result.attributes] == [ROLE, SESSION_NAME, DURATION]
    assert result.values(SESSION_NAME) == ("alice@corp.example",)
    assert result.values(DURATION) == ("3600",)


def test_per_user_session_duration_wins_over_the_default() -> None:
    engine = entra(user_assignments={"alice": ["Admin,WAAD"]}, session_duration=3600)
    result = engine.map(subject(attributes={"sessionDuration": "900"}))
    assert result.values(DURATION) == ("900",)


def test_claims_without_a_value_are_not_sent() -> None:
    result = entra().map(subject(upn=None))
    assert result.attributes == ()
    not_sent = [s.rule for s in result.trace if "claim not sent" in s.matched]
    assert len(not_sent) == 3


def test_custom_claims_constant_and_directory_attribute() -> None:
    engine = entra(
        claims={
            ROLE: "user.assignedroles",
            SESSION_NAME: "user.mail",
            DURATION: '"43200"',
            "dept": "user.Department",
        },
        group_assignments={"aws": ["ReadOnly,WAAD"]},
    )
    result = engine.map(
        subject(("aws",), email="a@corp.example", attributes={"department": "platform"})
    )
    assert (
        result.values(ROLE),
        result.values(SESSION_NAME),
        result.values(DURATION),
        result.values("dept"),
    ) == ((READ,), ("a@corp.example",), ("43200",), ("platform",))


def test_nested_groups_option_follows_nesting() -> None:
    settings: dict[str, Any] = {"group_assignments": {"aws": ["ReadOnly,WAAD"]}}
    nested = subject(("team", "aws"), direct=("team",))
    result = entra(**settings).map(nested)
    assert result.values(ROLE) == ()
    assert any("only through nesting" in step.matched for step in result.trace)
    assert entra(nested_groups=True, **settings).map(nested).values(ROLE) == (READ,)


def test_assignment_by_value_or_id_and_duplicates_sent_once() -> None:
    engine = entra(
        app_roles=[{"displayName": "Admin,WAAD", "value": ADMIN, "id": "guid-1"}],
        user_assignments={"alice": ["guid-1"]},
        group_assignments={"aws": [ADMIN]},
    )
    result = engine.map(subject(("aws",)))
    assert result.values(ROLE) == (ADMIN,)
    granted = [
        s.matched for s in result.trace if s.produced and s.rule == "entra: user.assignedroles"
    ]
    assert granted == [
        "user alice is assigned app role 'Admin,WAAD'",
        "group 'aws' is assigned app role 'Admin,WAAD'",
    ]


def test_msiam_access_is_built_in() -> None:
    engine = entra(user_assignments={"alice": ["msiam_access"]})
    result = engine.map(subject())
    assert result.values(ROLE) == ()
    assert any("value is null" in step.matched for step in result.trace)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param(
            {"user_assignments": {"alice": ["Admn,WAAD"]}},
            "no app role is called 'Admn,WAAD'",
            id="unknown-role",
        ),
        pytest.param(
            {
                "app_roles": [
                    {"displayName": "A", "value": "x"},
                    {"displayName": "A", "value": "y"},
                ],
                "user_assignments": {"alice": ["A"]},
            },
            "2 app roles have the display_name",
            id="ambiguous",
        ),
        pytest.param(
            {
                "app_roles": [
                    {"displayName": "A", "value": "x", "allowedMemberTypes": ["Application"]}
                ],
                "group_assignments": {"g": ["A"]},
            },
            "group 'g' cannot be assigned it",
            id="application-only-role",
        ),
        pytest.param(
            {"claims": {ROLE: "assignedroles"}}, "neither user.<attribute>", id="bad-claim-source"
        ),
        pytest.param(
            {"app_roles": [{"displayName": "A", "value": "x", "colour": "red"}]},
            "Extra inputs",
            id="unknown-field",
        ),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        EntraAwsConfig.model_validate(settings)
