"""Keycloak: client roles as ARN pairs, composites, scope, single vs multiple Role attributes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from idp.directory import User
from idp.mapping.base import MappingInput
from idp.mapping.keycloak import KeycloakConfig, KeycloakMapping
from idp.mapping.lint import role_value_problems
from idp.saml.constants import ATTRNAME_FORMAT_BASIC, ATTRNAME_FORMAT_URI, AwsAttribute
from tests.idp.mapping.matrix import matrix, run_case

ROLE, SESSION_NAME = AwsAttribute.ROLE, AwsAttribute.ROLE_SESSION_NAME
ADMIN = "arn:aws:iam::123456789012:role/Admin,arn:aws:iam::123456789012:saml-provider/keycloak"


def keycloak(**settings: Any) -> KeycloakMapping:
    settings.setdefault("client_roles", {ADMIN: None})
    return KeycloakMapping(KeycloakConfig.model_validate(settings))


def subject(groups: tuple[str, ...] = (), **fields: Any) -> MappingInput:
    return MappingInput(User("Alice", **fields), groups, groups)


@pytest.mark.parametrize(("matrix_set", "case"), matrix("keycloak.yaml"))
def test_fixture_matrix(matrix_set: dict[str, Any], case: dict[str, Any]) -> None:
    result = run_case(matrix_set, case)
    assert list(result.values(ROLE)) == case["roles"]
    assert len([a for a in result.attributes if a.name == ROLE]) == case["role_attributes"]
    codes = {code for value in case["roles"] for code, _ in role_value_problems(value)}
    assert sorted(codes) == sorted(case.get("problems", []))


def test_single_role_attribute_off_gives_one_value_per_attribute() -> None:
    engine = keycloak(
        client_roles={ADMIN: None, "b": None},
        user_roles={"Alice": [ADMIN, "b"]},
        full_scope_allowed=False,
    )
    roles = [a for a in engine.map(subject()).attributes if a.name == ROLE]
    assert [a.values for a in roles] == [(ADMIN,), ("b",)]
    assert {a.name_format for a in roles} == {ATTRNAME_FORMAT_BASIC}


def test_role_list_mapper_settings() -> None:
    engine = keycloak(
        user_roles={"Alice": [ADMIN]},
        full_scope_allowed=False,
        role_list={
            "attribute_name": "Role",
            "friendly_name": "roles",
            "name_format": "uri_reference",
            "single": True,
        },
    )
    (attribute,) = engine.map(subject()).attributes
    assert (attribute.name, attribute.friendly_name, attribute.name_format) == (
        "Role",
        "roles",
        ATTRNAME_FORMAT_URI,
    )


def test_without_role_list_mapper_no_roles_are_sent() -> None:
    result = keycloak(user_roles={"Alice": [ADMIN]}, role_list=None).map(subject())
    assert result.values(ROLE) == ()
    assert any("no role-list mapper" in step.matched for step in result.trace)


def test_scope_keeps_client_roles_and_scoped_realm_roles() -> None:
    engine = keycloak(
        realm_roles={
            "offline_access": None,
            "aws-bundle": {"composites": [ADMIN]},
            "uma_authorization": None,
            "extra": None,
        },
        scope_realm_roles=["extra"],
        user_roles={"Alice": ["aws-bundle", "extra"]},
        full_scope_allowed=False,
        role_list={"single": True},
    )
    result = engine.map(subject())
    assert result.values(ROLE) == ("extra", ADMIN)
    out_of_scope = [s.matched for s in result.trace if "client scope" in s.rule]
    assert out_of_scope == [
        f"role {r!r} is not in the client's scope"
        for r in ("offline_access", "uma_authorization", "aws-bundle")
    ]


def test_composite_cycles_terminate() -> None:
    engine = keycloak(
        client_roles={ADMIN: {"composites": ["loop"]}, "loop": {"composites": [ADMIN]}},
        user_roles={"Alice": ["loop"]},
        full_scope_allowed=False,
        role_list={"single": True},
    )
    assert engine.map(subject()).values(ROLE) == ("loop", ADMIN)


def test_trace_explains_where_each_role_came_from() -> None:
    engine = keycloak(group_roles={"parent": [ADMIN]}, full_scope_allowed=False)
    result = engine.map(
        MappingInput(
            User("Alice", direct_groups=("child",)), ("child", "parent", "Domain Users"), ("child",)
        )
    )
    matched = [s.matched for s in result.trace]
    assert "group 'child' has no role mappings" in matched
    assert "mapped to group 'parent' (inherited by a subgroup)" in matched
    assert "group 'Domain Users' has no role mappings" in matched


@pytest.mark.parametrize(
    ("prop", "expected"),
    [
        pytest.param("username", "alice", id="username-lower-case"),
        pytest.param("email", "alice@corp.example", id="email-lower-case"),
        pytest.param("firstName", "Alice", id="first-name"),
        pytest.param("lastName", None, id="missing-last-name"),
    ],
)
def test_user_property_mapper(prop: str, expected: str | None) -> None:
    engine = keycloak(
        user_properties={SESSION_NAME: prop},
        hardcoded_attributes={AwsAttribute.SESSION_DURATION: "3600"},
    )
    result = engine.map(subject(email="Alice@Corp.Example", given_name="Alice"))
    assert result.values(SESSION_NAME) == ((expected,) if expected else ())
    assert result.values(AwsAttribute.SESSION_DURATION) == ("3600",)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param(
            {"group_roles": {"g": ["Admn"]}},
            "group_roles['g']: no realm or client role is called 'Admn'",
            id="unknown-role",
        ),
        pytest.param(
            {"client_roles": {"offline_access": None}},
            "both a realm role and a client",
            id="name-clash",
        ),
        pytest.param(
            {"client_roles": {"a": {"composites": ["b"]}}},
            "composites of 'a'",
            id="unknown-composite",
        ),
        pytest.param({"role_list": {"single": "maybe"}}, "valid boolean", id="bad-single"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        KeycloakConfig.model_validate(settings)
