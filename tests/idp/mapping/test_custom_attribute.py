"""Google Workspace and JumpCloud: custom attribute values, per user or group-inherited."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from idp.directory import User
from idp.mapping.base import MappingInput
from idp.mapping.custom_attribute import (
    GoogleWorkspaceConfig,
    GoogleWorkspaceMapping,
    JumpCloudConfig,
    JumpCloudMapping,
)
from idp.mapping.lint import role_value_problems
from idp.saml.constants import AwsAttribute
from tests.idp.mapping.matrix import matrix, run_case

ROLE, SESSION_NAME = AwsAttribute.ROLE, AwsAttribute.ROLE_SESSION_NAME
DURATION = AwsAttribute.SESSION_DURATION
ADMIN = "arn:aws:iam::123456789012:role/Admin,arn:aws:iam::123456789012:saml-provider/JumpCloud"


def subject(groups: tuple[str, ...] = (), **fields: Any) -> MappingInput:
    return MappingInput(User("alice", **fields), groups, groups)


@pytest.mark.parametrize(("matrix_set", "case"), matrix("custom_attribute.yaml"))
def test_fixture_matrix(matrix_set: dict[str, Any], case: dict[str, Any]) -> None:
    result = run_case(matrix_set, case)
    assert list(result.values(ROLE)) == case["roles"]
    codes = {code for value in case["roles"] for code, _ in role_value_problems(value)}
    assert sorted(codes) == sorted(case.get("problems", []))


def test_google_default_mapping_sends_email_and_duration() -> None:
    engine = GoogleWorkspaceMapping(GoogleWorkspaceConfig())
    result = engine.map(
        subject(email="alice@corp.example", attributes={"Amazon.SessionDuration": "28800"})
    )
    assert [a.name for a in result.attributes] == [SESSION_NAME, DURATION]
    assert result.values(DURATION) == ("28800",)
    assert "has no value" in result.trace[0].matched


def test_google_group_membership_sends_selected_names_unchanged() -> None:
    config = GoogleWorkspaceConfig.model_validate(
        {
            "attribute_mapping": {"name": "first_name"},
            "group_membership": {"groups": ["aws-admins"], "app_attribute": "groups"},
        }
    )
    result = GoogleWorkspaceMapping(config).map(subject(("eng", "aws-admins"), given_name="A"))
    assert result.values("groups") == ("aws-admins",)
    assert result.values("name") == ("A",)
    assert [s.matched for s in result.trace if "group membership" in s.rule] == [
        "group 'eng' is not among the selected groups",
        "group 'aws-admins' is selected",
    ]


def test_jumpcloud_traces_each_bound_group_and_inherited_value() -> None:
    config = JumpCloudConfig.model_validate(
        {
            "bound_groups": ["aws"],
            "user_attribute_mappings": [{"name": ROLE, "source": "custom:awsRole"}],
            "group_attributes": {"aws": {"awsRole": ADMIN}},
        }
    )
    result = JumpCloudMapping(config).map(subject(("eng", "aws")))
    assert result.values(ROLE) == (ADMIN,)
    assert [s.matched for s in result.trace][:3] == [
        "group 'eng' is not bound to the connector",
        "group 'aws' is bound",
        "group 'aws'",
    ]


def test_jumpcloud_user_not_bound_gets_nothing() -> None:
    config = JumpCloudConfig.model_validate(
        {"bound_groups": ["aws"], "constant_attributes": [{"name": ROLE, "value": ADMIN}]}
    )
    result = JumpCloudMapping(config).map(subject(("eng",), email="a@corp.example"))
    assert result.attributes == ()
    assert "no SSO" in result.trace[-1].matched


def test_jumpcloud_default_sends_email_as_session_name_to_everyone() -> None:
    result = JumpCloudMapping(JumpCloudConfig()).map(subject(email="a@corp.example"))
    assert result.values(SESSION_NAME) == ("a@corp.example",)


@pytest.mark.parametrize(
    ("model", "settings", "message"),
    [
        pytest.param(
            GoogleWorkspaceConfig,
            {"attribute_mapping": {ROLE: "Amazon.Role"}},
            "unknown source 'Amazon.Role'",
            id="google-source-without-custom",
        ),
        pytest.param(
            GoogleWorkspaceConfig,
            {"attribute_mapping": {ROLE: "custom:"}},
            "unknown source 'custom:'",
            id="google-empty-custom",
        ),
        pytest.param(
            JumpCloudConfig,
            {"user_attribute_mappings": [{"name": ROLE, "source": "mail"}]},
            "unknown source 'mail'",
            id="jumpcloud-bad-source",
        ),
        pytest.param(
            JumpCloudConfig,
            {"constant_attributes": [{"name": ROLE}]},
            "Field required",
            id="jumpcloud-constant-without-value",
        ),
    ],
)
def test_bad_settings_are_refused(
    model: type[GoogleWorkspaceConfig | JumpCloudConfig], settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        model.model_validate(settings)
