"""Lint: the ranked mistakes (reference §7) a mapping configuration makes possible."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from idp.directory import Directory, Group, User
from idp.mapping.base import MappingInput, MappingResult
from idp.mapping.custom_attribute import GoogleWorkspaceConfig, JumpCloudConfig
from idp.mapping.entra import EntraAwsConfig
from idp.mapping.explicit import ExplicitMappingConfig
from idp.mapping.keycloak import KeycloakConfig
from idp.mapping.lint import (
    ENGINES,
    SAML_ASSERTION_LIMIT,
    LintWarning,
    estimate_response_chars,
    lint,
    regex_pair_warnings,
    role_value_problems,
)
from idp.mapping.okta import DEFAULT_GROUP_FILTER, OktaAwsConfig, OktaSamlGroupsConfig
from idp.provider import IdentityProvider
from idp.saml.builder import SamlAttribute
from idp.saml.constants import AwsAttribute
from tests.conftest import EXAMPLES

ROLE = AwsAttribute.ROLE
ACCOUNT, OTHER = "123456789012", "210987654321"
PATTERN = "arn:aws:iam::${accountid}:saml-provider/Okta,arn:aws:iam::${accountid}:role/${role}"
ALTERNATIVE = r"aws_(?{{accountid}}\d+)_(?{{role}}[a-zA-Z0-9+=,.@\-_]+)"
WORLD = [
    f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta",
    f"arn:aws:iam::{ACCOUNT}:role/Admin",
    f"arn:aws:iam::{OTHER}:saml-provider/Okta",
    f"arn:aws:iam::{OTHER}:role/ReadOnly",
]
PAIR = f"arn:aws:iam::{ACCOUNT}:role/Admin,arn:aws:iam::{ACCOUNT}:saml-provider/Okta"


def directory(*groups: str, **users: tuple[str, ...]) -> Directory:
    """Return a directory with alice in ``groups`` and any other users given."""
    people = [User("alice", email="alice@corp.example", direct_groups=groups)]
    people += [
        User(name, email=f"{name}@corp.example", direct_groups=g) for name, g in users.items()
    ]
    return Directory(people)


def okta(**settings: Any) -> OktaAwsConfig:
    settings.setdefault("role_value_pattern", PATTERN)
    return OktaAwsConfig.model_validate(settings)


def codes(warnings: list[LintWarning]) -> list[str]:
    return sorted(w.code for w in warnings)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(PAIR, [], id="role-first"),
        pytest.param(
            f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta,arn:aws:iam::{ACCOUNT}:role/Admin",
            [],
            id="provider-first",
        ),
        pytest.param(PAIR.replace(",", ", "), ["role-value-whitespace"], id="space-after-comma"),
        pytest.param(
            PAIR.replace(",", " ,"),
            ["bad-role-name", "role-value-whitespace"],
            id="space-before-comma-ends-the-role-name",
        ),
        pytest.param(PAIR + "\n   ", ["role-value-whitespace"], id="pretty-printed-newline"),
        pytest.param(
            PAIR.replace("Admin", "Admin "),
            ["bad-role-name", "role-value-whitespace"],
            id="trailing-space-in-role-name",
        ),
        pytest.param("aws-Dev", ["malformed-role-value"], id="leaked-group-name"),
        pytest.param(PAIR + ",x", ["malformed-role-value"], id="three-fields"),
        pytest.param(
            PAIR.replace(ACCOUNT, "1234567890123"), ["bad-account"], id="13-digit-account"
        ),
        pytest.param(
            PAIR.replace(f"{ACCOUNT}:saml", f"{OTHER}:saml"), ["bad-account"], id="accounts-differ"
        ),
        pytest.param(PAIR.replace("Admin", "A" * 65), ["bad-role-name"], id="role-name-65-chars"),
        pytest.param(
            f"arn:aws:iam::{ACCOUNT}:role/Admin,arn:aws:iam::{ACCOUNT}:role/Admin",
            ["malformed-role-value"],
            id="two-role-arns",
        ),
    ],
)
def test_role_value_problems(value: str, expected: list[str]) -> None:
    assert sorted(code for code, _ in role_value_problems(value)) == expected


def test_whitespace_around_the_comma() -> None:
    config = EntraAwsConfig.model_validate(
        {
            "app_roles": [{"displayName": "Admin", "value": PAIR.replace(",", " , ")}],
            "user_assignments": {"alice": ["Admin"]},
        }
    )
    found = lint(config, "entra", directory(), WORLD)
    assert [(w.code, w.where) for w in found] == [
        ("role-value-whitespace", "entra: user alice"),
        ("bad-role-name", "entra: user alice"),
    ]


def test_case_insensitive_filter_and_case_ignored_groups() -> None:
    assert "case-insensitive-filter" in codes(
        lint(
            okta(group_filter=r"(?i)^aws\#\S+\#(?{{role}}[\w\-]+)\#(?{{accountid}}\d+)$"),
            "okta_aws",
            directory(),
        )
    )
    warnings = lint(okta(), "okta_aws", directory(f"AWS#prod#Admin#{ACCOUNT}"))
    assert [(w.code, w.where) for w in warnings] == [
        ("case-ignored-group", f"okta_aws: group 'AWS#prod#Admin#{ACCOUNT}'")
    ]


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        pytest.param(
            "search",
            ["look-alike-group", "role-capture-allows-comma", "unanchored-pattern"],
            id="search",
        ),
        pytest.param("fullmatch", ["role-capture-allows-comma"], id="fullmatch"),
    ],
)
def test_unanchored_pattern_and_look_alike_groups(match: str, expected: list[str]) -> None:
    config = okta(group_filter=ALTERNATIVE, match=match)
    found = lint(config, "okta_aws", directory(f"xaws_{ACCOUNT}_Admin"))
    assert codes(found) == expected


def test_thirteen_digit_account_from_the_default_filter() -> None:
    (warning,) = lint(okta(), "okta_aws", directory("aws#prod#Admin#1234567890123"))
    assert (warning.code, warning.where) == ("bad-account", "okta_aws: user alice")


def test_provider_missing_from_an_account() -> None:
    world = [w for w in WORLD if w != f"arn:aws:iam::{OTHER}:saml-provider/Okta"]
    world.append(f"arn:aws:iam::{OTHER}:saml-provider/OktaProd")
    found = lint(
        okta(),
        "okta_aws",
        directory(f"aws#dev#ReadOnly#{OTHER}", bob=(f"aws#dev#ReadOnly#{OTHER}",)),
        world,
    )
    (warning,) = found
    assert warning.code == "unknown-provider"
    assert "'Okta' does not exist in account 210987654321 (declared: OktaProd)" in warning.message
    assert warning.where == "okta_aws: user alice and 1 more"


def test_provider_in_no_account_at_all() -> None:
    config = okta(role_value_pattern=PATTERN.replace("/Okta", "/OKTA"))
    assert codes(lint(config, "okta_aws", directory(), WORLD)) == ["unknown-provider"]


def test_unknown_role_hints_at_case() -> None:
    found = lint(okta(), "okta_aws", directory(f"aws#prod#admin#{ACCOUNT}"), WORLD)
    assert [w.code for w in found] == ["unknown-role"]
    assert "did you mean 'Admin'?" in found[0].message


def test_role_name_the_pattern_cannot_match() -> None:
    world = [*WORLD, f"arn:aws:iam::{ACCOUNT}:role/Admin.RO", "arn:aws:iam::999999999999:role/X.Y"]
    (warning,) = lint(okta(), "okta_aws", directory(), world)
    assert warning.code == "role-name-unmatchable"
    assert warning.message.startswith(f"role 'Admin.RO' in account {ACCOUNT} does not match")


def test_role_name_with_prefix_in_the_pattern() -> None:
    pattern = PATTERN.replace("role/${role}", "role/Okta-${role}")
    world = [*WORLD, f"arn:aws:iam::{ACCOUNT}:role/Okta-Dev"]
    names = {
        w.message.split("'")[1]
        for w in lint(okta(role_value_pattern=pattern), "okta_aws", directory(), world)
    }
    assert names == {"Admin", "ReadOnly"}


def test_response_past_the_size_limit_for_a_user_in_many_groups() -> None:
    many = tuple(f"aws#acct{n}#Role{n:04d}#{ACCOUNT}" for n in range(700))
    found = lint(okta(), "okta_aws", directory(*many[:50], bob=many))
    assert [(w.code, w.where) for w in found] == [("response-too-large", "okta_aws: user bob")]
    assert "(700 Role values)" in found[0].message


def test_size_estimate_is_close_to_a_real_signed_response() -> None:
    base = IdentityProvider.from_file(EXAMPLES / "quickstart.yaml")
    values = tuple(PAIR.replace("Admin", f"Role{n:04d}") for n in range(300))
    attributes = (
        SamlAttribute(ROLE, values),
        SamlAttribute(AwsAttribute.ROLE_SESSION_NAME, ("alice@corp.example",)),
    )

    class Fixed:
        name = "fixed"

        def map(self, subject: MappingInput) -> MappingResult:
            return MappingResult(attributes=attributes)

    settings = base.settings.model_copy(deep=True)
    settings.attributes.principal_tags.clear()
    provider = IdentityProvider(
        settings,
        Directory([User("alice", email="a@corp.example")]),
        base_dir=EXAMPLES,
        engine=Fixed(),
    )
    actual = len(provider.issue("alice").saml_response)
    assert abs(estimate_response_chars(attributes) - actual) / actual < 0.03
    assert estimate_response_chars(()) < SAML_ASSERTION_LIMIT


def test_okta_escaping_group_mapping_and_app_filter() -> None:
    assert "double-escaped" in codes(
        lint(okta(role_value_pattern=PATTERN.replace("${", "$${")), "okta_aws", directory())
    )
    assert "okta-group-mapping-off" in codes(
        lint(okta(use_group_mapping=False), "okta_aws", directory())
    )
    config = okta(app_filter="okta", group_sources={f"aws#p#Admin#{ACCOUNT}": "active_directory"})
    (warning,) = lint(config, "okta_aws", directory(f"aws#p#Admin#{ACCOUNT}"))
    assert warning.code == "app-filter-excludes"


def test_okta_join_all_roles_off_hides_assignments() -> None:
    config = OktaAwsConfig.model_validate(
        {
            "identity_provider_arn": f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta",
            "user_roles": {"alice": ["Admin"]},
            "group_roles": {"readers": ["Admin"]},
        }
    )
    (warning,) = lint(config, "okta_aws", directory("readers"), WORLD)
    assert (warning.code, warning.where) == ("okta-join-all-roles-off", "okta_aws: user alice")


def test_role_session_name_and_attribute_name_case() -> None:
    config = OktaSamlGroupsConfig.model_validate(
        {
            "attribute_statements": [
                {"name": AwsAttribute.ROLE_SESSION_NAME, "value": "{display_name}"},
                {"name": "https://aws.amazon.com/saml/attributes/role", "value": PAIR},
            ]
        }
    )
    users = Directory([User("alice", display_name="Alice Smith")])
    assert codes(lint(config, "okta_saml_groups", users)) == [
        "attribute-name-case",
        "role-session-name-invalid",
    ]


def test_generic_okta_app_sending_groups_as_role() -> None:
    config = OktaSamlGroupsConfig.model_validate(
        {"group_attribute_statements": [{"name": ROLE, "filter": "starts_with", "value": "aws_"}]}
    )
    found = lint(config, "okta_saml_groups", directory(f"aws_{ACCOUNT}_Admin"))
    assert codes(found) == ["generic-app-role", "malformed-role-value"]


def test_entra_import_limit_and_nested_groups() -> None:
    long_pair = PAIR.replace("Admin", "A" * 64).replace("/Okta", "/" + "P" * 110)
    config = EntraAwsConfig.model_validate(
        {
            "app_roles": [{"displayName": "Long", "value": long_pair}],
            "group_assignments": {"aws": ["Long"]},
        }
    )
    people = Directory([User("alice", direct_groups=("team",))], [Group("team", ("aws",))])
    found = lint(config, "entra", people)
    assert codes(found) == ["entra-import-limit", "entra-nested-group"]
    assert found[1].message.startswith("alice reach 'aws' only through nested groups")


def test_keycloak_full_scope_and_multiple_role_attributes() -> None:
    config = KeycloakConfig.model_validate(
        {"client_roles": {PAIR: None}, "user_roles": {"alice": [PAIR]}}
    )
    found = lint(config, "keycloak", directory())
    assert codes(found) == [
        "keycloak-full-scope",
        "malformed-role-value",
        "malformed-role-value",
        "multiple-role-attributes",
    ]
    assert {w.message.split("'")[1] for w in found if w.code == "malformed-role-value"} == {
        "offline_access",
        "uma_authorization",
    }


@pytest.mark.parametrize(
    ("condition", "replace", "expected"),
    [
        pytest.param(
            "(?i)^AWS-", "AWS-", ["case-mismatch", "unanchored-replace"], id="aws-blog-rule-4"
        ),
        pytest.param("(?i)^AWS-", "(?i)^AWS-", [], id="case-fixed-variant-d"),
        pytest.param(
            "(?i)^AWS-([\\d]{12})",
            "AWS-([\\d]{12})-",
            ["case-mismatch", "unanchored-replace"],
            id="multi-account-a",
        ),
        pytest.param("^AWS-", "^AWS-", [], id="both-case-sensitive-anchored"),
        pytest.param("AWS-", "^AWS-", ["unanchored-pattern"], id="unanchored-condition"),
    ],
)
def test_adfs_condition_and_replace_pair(condition: str, replace: str, expected: list[str]) -> None:
    assert codes(regex_pair_warnings(condition, replace, "rule 'Roles'")) == expected


def test_another_engine_can_be_linted_by_its_output() -> None:
    class Leaky:
        name = "adfs"

        def map(self, subject: MappingInput) -> MappingResult:
            return MappingResult(attributes=(SamlAttribute(ROLE, ("aws-Dev",)),))

    (warning,) = lint(ExplicitMappingConfig(), "adfs", directory(), engine=Leaky())
    assert (warning.code, warning.where) == ("malformed-role-value", "adfs: user alice")


CLEAN: list[Any] = [
    pytest.param(
        "okta_aws",
        okta(),
        (f"aws#prod#Admin#{ACCOUNT}", f"aws#dev#ReadOnly#{OTHER}"),
        id="okta-default-filter",
    ),
    pytest.param(
        "okta_aws",
        okta(
            group_filter=ALTERNATIVE.replace(r"\d+", r"\d{12}").replace(",", ""), match="fullmatch"
        ),
        (f"aws_{ACCOUNT}_Admin",),
        id="okta-alternative-fixed",
    ),
    pytest.param(
        "entra",
        EntraAwsConfig.model_validate(
            {
                "app_roles": [{"displayName": "Admin", "value": PAIR}],
                "group_assignments": {"aws": ["Admin"]},
            }
        ),
        ("aws",),
        id="entra",
    ),
    pytest.param(
        "keycloak",
        KeycloakConfig.model_validate(
            {
                "client_roles": {PAIR: None},
                "group_roles": {"aws": [PAIR]},
                "full_scope_allowed": False,
                "role_list": {"single": True},
            }
        ),
        ("aws",),
        id="keycloak",
    ),
    pytest.param("google_workspace", GoogleWorkspaceConfig(), (), id="google"),
    pytest.param(
        "jumpcloud",
        JumpCloudConfig.model_validate({"constant_attributes": [{"name": ROLE, "value": PAIR}]}),
        (),
        id="jumpcloud",
    ),
    pytest.param(
        "explicit",
        ExplicitMappingConfig.model_validate(
            {"provider_name": "Okta", "groups": {"aws": [f"arn:aws:iam::{ACCOUNT}:role/Admin"]}}
        ),
        ("aws",),
        id="explicit",
    ),
]


@pytest.mark.parametrize(("engine_name", "config", "groups"), CLEAN)
def test_a_sound_configuration_gets_no_warning(
    engine_name: str, config: BaseModel, groups: tuple[str, ...]
) -> None:
    assert lint(config, engine_name, directory(*groups), WORLD) == []


def test_every_engine_is_registered() -> None:
    assert set(ENGINES) == {
        "explicit",
        "okta_aws",
        "okta_saml_groups",
        "entra",
        "keycloak",
        "google_workspace",
        "jumpcloud",
    }
    assert DEFAULT_GROUP_FILTER.startswith("^aws")


def test_a_mapped_group_nobody_is_in_is_reported_with_the_likely_group() -> None:
    # A misspelled key ("aws-admin" for "aws-admins") only showed up as a missing role.
    config = ExplicitMappingConfig.model_validate(
        {
            "provider_name": "Okta",
            "groups": {
                "aws-admin": [f"arn:aws:iam::{ACCOUNT}:role/Admin"],
                "aws-readers": [f"arn:aws:iam::{ACCOUNT}:role/Admin"],
            },
        }
    )
    nested = Directory(
        [User("alice", email="alice@corp.example", direct_groups=("platform",))],
        [Group("platform", member_of=("aws-admins", "aws-readers"))],
    )
    (warning,) = lint(config, "explicit", nested, WORLD)
    assert warning.code == "mapping-group-without-members"
    assert warning.where == "explicit.groups.aws-admin"
    assert warning.message.startswith("'aws-admin' (did you mean 'aws-admins'?): no user")
