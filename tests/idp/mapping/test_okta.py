"""Okta's AWS app and generic SAML app: the fixture matrix, Java regex translation, settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from _pytest.mark import ParameterSet
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from idp.directory import Directory, DirectoryConfig, User
from idp.mapping.base import MappingEngine, MappingInput, MappingResult
from idp.mapping.java_regex import compile_java_regex, translate_java_regex
from idp.mapping.lint import ENGINES, role_value_problems
from idp.mapping.okta import (
    DEFAULT_GROUP_FILTER,
    OktaAwsConfig,
    OktaAwsMapping,
    OktaSamlGroupsConfig,
    OktaSamlGroupsMapping,
)
from idp.provider import IdentityProvider
from idp.saml.constants import ATTRNAME_FORMAT_BASIC, AwsAttribute
from tests.conftest import DATA, EXAMPLES

ROLE, SESSION_NAME = AwsAttribute.ROLE, AwsAttribute.ROLE_SESSION_NAME
PATTERN = "arn:aws:iam::${accountid}:saml-provider/Okta,arn:aws:iam::${accountid}:role/${role}"
ADMIN = "arn:aws:iam::123456789012:saml-provider/Okta,arn:aws:iam::123456789012:role/Admin"


def matrix(file: str) -> list[ParameterSet]:
    """Return one pytest param per case of a fixture-matrix file, named set/group-or-user."""
    sets = yaml.safe_load((DATA / "mappings" / file).read_text(encoding="utf-8"))
    return [
        pytest.param(s, case, id=f"{s['name']}/{case.get('group', case.get('user'))}")
        for s in sets
        for case in s["cases"]
    ]


def run_case(matrix_set: dict[str, Any], case: dict[str, Any]) -> MappingResult:
    """Run a matrix case's engine for its user (or a user in just its group)."""
    config_model, engine_class = ENGINES[matrix_set["engine"]]
    engine = engine_class(config_model.model_validate(matrix_set["config"]))
    if "group" in case:
        directory = Directory([User("user", direct_groups=(case["group"],))])
        user = "user"
    else:
        directory = Directory.from_config(
            DirectoryConfig.model_validate(matrix_set["directory"]), Path()
        )
        user = case["user"]
    return engine.map(
        MappingInput(
            directory.user(user), directory.groups_of(user), directory.direct_groups_of(user)
        )
    )


def subject(name: str = "alice", groups: tuple[str, ...] = (), **fields: Any) -> MappingInput:
    return MappingInput(User(name, direct_groups=groups, **fields), groups, groups)


def okta(**settings: Any) -> OktaAwsMapping:
    return OktaAwsMapping(OktaAwsConfig.model_validate(settings))


@pytest.mark.parametrize(("matrix_set", "case"), matrix("okta.yaml"))
def test_fixture_matrix(matrix_set: dict[str, Any], case: dict[str, Any]) -> None:
    result = run_case(matrix_set, case)
    assert list(result.values(ROLE)) == case["roles"]
    codes = {code for value in case["roles"] for code, _ in role_value_problems(value)}
    assert sorted(codes) == sorted(case.get("problems", []))


@pytest.mark.parametrize(
    ("java", "python"),
    [
        pytest.param(
            DEFAULT_GROUP_FILTER,
            r"^aws\#\S+\#(?P<role>[\w\-]+)\#(?P<accountid>\d+)$",
            id="okta-default",
        ),
        pytest.param("(?<name>a)\\k<name>", "(?P<name>a)(?P=name)", id="java-named-group"),
        pytest.param(
            "(?<=a)(?<!b)(?=c)(?!d)(?:e)(?>f)",
            "(?<=a)(?<!b)(?=c)(?!d)(?:e)(?>f)",
            id="lookarounds-untouched",
        ),
        pytest.param("(?i)^aws-", "(?i)^aws-", id="leading-flag-stays-global"),
        pytest.param("^(?i)S-1-5$", "^(?i:S-1-5$)", id="mid-pattern-flag-scoped"),
        pytest.param("a(?i)b|c", "a(?i:b)|(?i:c)", id="flag-spans-alternatives"),
        pytest.param("(x(?i)y|z)w", "(x(?i:y)|(?i:z))w", id="flag-ends-with-group"),
        pytest.param("(?-i)x", "(?-i:x)", id="flag-off"),
        pytest.param("(?d)a", "a", id="unix-lines-dropped"),
        pytest.param(r"\Qa.b*\E+", r"a\.b\*+", id="quoted-literal"),
        pytest.param(r"a\z", r"a\Z", id="end-of-input"),
        pytest.param(r"a\Z", r"a(?=\n?\Z)", id="end-before-final-newline"),
        pytest.param(r"\x{41}", "A", id="hex-escape"),
        pytest.param("[(?i)]", "[(?i)]", id="class-is-literal"),
        pytest.param("[]a]", r"[\]a]", id="leading-bracket-in-class"),
    ],
)
def test_translate_java_regex(java: str, python: str) -> None:
    assert translate_java_regex(java)[0] == python


def test_java_defaults_are_ascii_unless_unicode_flag() -> None:
    assert translate_java_regex(r"\w")[1] == re.ASCII
    assert compile_java_regex(r"\w+").fullmatch("Rôle") is None
    assert translate_java_regex(r"(?U)\w")[1] == 0
    assert compile_java_regex("(?i)admin").fullmatch("ADMIN")


@pytest.mark.parametrize(
    ("java", "message"),
    [
        pytest.param(
            r"\p{Alpha}+", r"\p{…} classes has no Python equivalent at position 0", id="posix-class"
        ),
        pytest.param("[a-z[0-9]]", "nested character classes", id="class-union"),
        pytest.param("[a-z&&b]", "intersection", id="class-intersection"),
        pytest.param("a)", "unbalanced ')' at position 1", id="unbalanced"),
        pytest.param("[abc", "unterminated character class at position 0", id="open-class"),
        pytest.param("abc\\", "lone backslash at position 3", id="trailing-backslash"),
        pytest.param("(?<n>a)\\k<n", "unterminated", id="open-backreference"),
        pytest.param("(a", "not a valid regular expression", id="python-rejects"),
    ],
)
def test_untranslatable_regex_is_refused(java: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        compile_java_regex(java)


@given(st.text(alphabet="()[]{}?*+|\\^$.-:<>=!&,#iUdQEkzZxp1{}", max_size=24))
def test_translation_refuses_or_compiles_never_crashes(java: str) -> None:
    try:
        compiled = compile_java_regex(java)
    except ValueError as exc:
        assert str(exc)
    else:
        assert isinstance(compiled, re.Pattern)


def test_engine_satisfies_protocol() -> None:
    engines: list[MappingEngine] = [
        okta(role_value_pattern=PATTERN),
        OktaSamlGroupsMapping(OktaSamlGroupsConfig()),
    ]
    assert [e.name for e in engines] == ["okta_aws", "okta_saml_groups"]


def test_trace_names_every_group_and_why() -> None:
    groups = ("Engineering", "aws#prod#Admin#123456789012")
    result = okta(role_value_pattern=PATTERN).map(subject(groups=groups))
    steps = [s for s in result.trace if "group filter" in s.rule]
    assert [(s.matched, s.produced) for s in steps] == [
        ("group 'Engineering' does not match", ()),
        (
            "group 'aws#prod#Admin#123456789012' matches (role='Admin', accountid='123456789012')",
            (ADMIN,),
        ),
    ]


def test_duplicate_values_are_sent_once() -> None:
    groups = ("aws#prod#Admin#123456789012", "aws#production#Admin#123456789012")
    assert okta(role_value_pattern=PATTERN).map(subject(groups=groups)).values(ROLE) == (ADMIN,)


def test_app_filter_skips_groups_from_other_sources() -> None:
    engine = okta(
        role_value_pattern=PATTERN,
        app_filter="okta, google",
        group_sources={"aws#prod#Admin#123456789012": "active_directory"},
        default_group_source="okta",
    )
    result = engine.map(
        subject(groups=("aws#prod#Admin#123456789012", "aws#dev#Admin#210987654321"))
    )
    assert result.values(ROLE) == (ADMIN.replace("123456789012", "210987654321"),)
    assert "source 'active_directory' is not in the App Filter" in result.trace[0].matched
    assert engine.config.app_filter == ["okta", "google"]


def test_group_mapping_explicitly_off_ignores_the_pattern() -> None:
    result = okta(role_value_pattern=PATTERN, use_group_mapping=False).map(
        subject(groups=("aws#prod#Admin#123456789012",))
    )
    assert result.values(ROLE) == ()
    assert "no app assignment" in result.trace[0].matched


@pytest.mark.parametrize(
    ("join_all_roles", "expected"),
    [
        pytest.param(False, ("Admin",), id="off-user-assignment-wins"),
        pytest.param(True, ("Admin", "ReadOnly", "Billing"), id="on-union"),
    ],
)
def test_single_account_assignments(join_all_roles: bool, expected: tuple[str, ...]) -> None:
    engine = okta(
        identity_provider_arn="arn:aws:iam::123456789012:saml-provider/Okta",
        join_all_roles=join_all_roles,
        user_roles={"alice": ["Admin"]},
        group_roles={"readers": ["ReadOnly"], "finance": ["Billing"], "x": ["Nope"]},
    )
    values = engine.map(subject(groups=("finance", "readers"))).values(ROLE)
    assert values == tuple(
        f"arn:aws:iam::123456789012:saml-provider/Okta,arn:aws:iam::123456789012:role/{r}"
        for r in expected
    )


def test_single_account_first_group_by_priority_without_user_assignment() -> None:
    engine = okta(
        identity_provider_arn="arn:aws:iam::123456789012:saml-provider/Okta",
        role_order="role-first",
        group_roles={"readers": ["ReadOnly"], "finance": ["Billing"]},
    )
    result = engine.map(subject(groups=("finance", "readers")))
    assert result.values(ROLE) == (
        "arn:aws:iam::123456789012:role/ReadOnly,arn:aws:iam::123456789012:saml-provider/Okta",
    )
    assert any("'finance'" in s.matched and "ignored" in s.matched for s in result.trace)


@pytest.mark.parametrize(
    ("username_format", "expected"),
    [
        pytest.param("okta_username", "alice.smith@corp.example", id="okta-username"),
        pytest.param("okta_username_prefix", "alice.smith", id="okta-username-prefix"),
        pytest.param("email", "asmith@mail.example", id="email"),
        pytest.param("email_prefix", "asmith", id="email-prefix"),
        pytest.param("upn", "alice@corp.local", id="upn"),
        pytest.param("none", None, id="none"),
    ],
)
def test_role_session_name_is_the_app_username(username_format: str, expected: str | None) -> None:
    result = okta(role_value_pattern=PATTERN, username_format=username_format).map(
        subject("alice.smith@corp.example", email="asmith@mail.example", upn="alice@corp.local")
    )
    assert result.values(SESSION_NAME) == ((expected,) if expected else ())


def test_custom_username_and_missing_value() -> None:
    engine = okta(
        role_value_pattern=PATTERN, username_format="custom", custom_username="{attr:employeeId}"
    )
    assert engine.map(subject(attributes={"employeeId": "E123"})).values(SESSION_NAME) == ("E123",)
    result = engine.map(subject())
    assert result.values(SESSION_NAME) == ()
    assert "no value for it" in result.trace[-1].matched


def test_session_duration_is_sent() -> None:
    result = okta(role_value_pattern=PATTERN, session_duration=7200).map(subject())
    assert result.values(AwsAttribute.SESSION_DURATION) == ("7200",)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param({"use_group_mapping": True}, "needs a role_value_pattern", id="no-pattern"),
        pytest.param(
            {"role_value_pattern": "arn:aws:iam::${account}:role/${role}"},
            "uses ${account} but group_filter has no group",
            id="unknown-placeholder",
        ),
        pytest.param(
            {"role_value_pattern": PATTERN, "group_filter": r"\p{L}"},
            "no Python equivalent",
            id="bad-filter",
        ),
        pytest.param(
            {"user_roles": {"alice": ["Admin"]}},
            "need identity_provider_arn",
            id="assignments-without-provider",
        ),
        pytest.param(
            {"role_value_pattern": PATTERN, "username_format": "custom"},
            "needs custom_username",
            id="custom-without-template",
        ),
        pytest.param(
            {"role_value_pattern": PATTERN, "session_duration": 60},
            "greater than or equal to 900",
            id="short-session",
        ),
        pytest.param(
            {"role_value_pattern": PATTERN, "group_filtre": "x"}, "Extra inputs", id="typo"
        ),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        OktaAwsConfig.model_validate(settings)


@pytest.mark.parametrize(
    ("statement", "passes", "fails"),
    [
        pytest.param(
            {"filter": "starts_with", "value": "aws_"},
            ["aws_x"],
            ["AWS_x", "xaws_"],
            id="starts-with",
        ),
        pytest.param({"filter": "equals", "value": "aws"}, ["aws"], ["aws ", "AWS"], id="equals"),
        pytest.param(
            {"filter": "contains", "value": "aws"}, ["my-aws-team"], ["AWS"], id="contains"
        ),
        pytest.param(
            {"filter": "matches_regex", "value": ".*aws.*|admins"},
            ["xawsx", "admins"],
            ["admins2"],
            id="regex-whole-name",
        ),
        pytest.param(
            {"filter": "starts_with", "value": "aws_", "ignore_case": True},
            ["AWS_x", "aws_x"],
            ["x_aws_"],
            id="starts-with-ignore-case",
        ),
    ],
)
def test_group_attribute_statement_filters(
    statement: dict[str, Any], passes: list[str], fails: list[str]
) -> None:
    config = OktaSamlGroupsConfig.model_validate(
        {"group_attribute_statements": [{"name": "groups", **statement}]}
    )
    result = OktaSamlGroupsMapping(config).map(subject(groups=(*passes, *fails)))
    assert result.values("groups") == tuple(passes)
    assert result.attributes[0].name_format == ATTRNAME_FORMAT_BASIC
    assert len([s for s in result.trace if "groups" in s.rule]) == len(passes) + len(fails)


def test_generic_app_attribute_statements_and_unique_names() -> None:
    config = OktaSamlGroupsConfig.model_validate(
        {
            "attribute_statements": [
                {"name": "mail", "value": "{email}", "name_format": "uri_reference"},
                {"name": "dept", "value": "{attr:dept}"},
            ],
            "group_attribute_statements": [{"name": "groups", "filter": "equals", "value": "x"}],
        }
    )
    result = OktaSamlGroupsMapping(config).map(subject(email="a@corp.example"))
    assert [a.name for a in result.attributes] == ["mail"]
    assert "not sent" in result.trace[1].matched and "no group passes" in result.trace[-1].matched
    with pytest.raises(ValidationError, match="'groups' is used twice"):
        OktaSamlGroupsConfig.model_validate(
            {
                "attribute_statements": [{"name": "groups", "value": "{email}"}],
                "group_attribute_statements": [
                    {"name": "groups", "filter": "equals", "value": "x"}
                ],
            }
        )


def test_identity_provider_issues_okta_roles_in_a_signed_response() -> None:
    base = IdentityProvider.from_file(EXAMPLES / "quickstart.yaml")
    directory = Directory(
        [
            User(
                "alice",
                email="alice@corp.example",
                direct_groups=("aws#prod#Admin#123456789012", "Engineering"),
                attributes={"department": ("platform",)},
            )
        ]
    )
    provider = IdentityProvider(
        base.settings, directory, base_dir=EXAMPLES, engine=okta(role_value_pattern=PATTERN)
    )
    issued = provider.issue("alice")
    assert issued.mapping.values(ROLE) == (ADMIN,)
    assert ADMIN.encode() in issued.xml
