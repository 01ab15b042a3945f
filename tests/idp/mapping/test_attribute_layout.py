"""The issued assertion keeps each engine's attribute layout, as its real IdP sends it.

Keycloak's role-list mapper with Single Role Attribute off sends one ``<Attribute>`` per role
(reference §4, §8.9; caddy-security#423), and JumpCloud sends one per User Attribute Mapping, so
several named Role. The other engines send one Role Attribute with a value per role. The
scenario's own ``attributes`` (RoleSessionName, SessionDuration, …) fill in what the engine left
out, one element per name.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from lxml import etree

from idp.config import IdpSettings
from idp.directory import Directory, DirectoryConfig
from idp.provider import IdentityProvider
from idp.saml.constants import ATTRNAME_FORMAT_BASIC, NSMAP, AwsAttribute
from scenarios.cli import main
from tests.conftest import CERTS, ROOT

ROLE = AwsAttribute.ROLE.value
SESSION_NAME = AwsAttribute.ROLE_SESSION_NAME.value
SESSION_DURATION = AwsAttribute.SESSION_DURATION.value
ACCOUNT = "123456789012"
EMAIL = "alice@corp.example"


def pair(role: str, provider: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{role},arn:aws:iam::{ACCOUNT}:saml-provider/{provider}"


KC_ADMIN, KC_READ = pair("Admin", "keycloak"), pair("ReadOnly", "keycloak")
JC_ADMIN, JC_READ = pair("Admin", "JumpCloud"), pair("ReadOnly", "JumpCloud")


def issue_xml(
    mapping: dict[str, Any],
    user: dict[str, Any],
    attributes: dict[str, Any] | None = None,
    role_arn: str | None = None,
) -> etree._Element:
    """Issue alice's signed response with IdentityProvider.issue; return the parsed XML."""
    settings = IdpSettings.model_validate(
        {
            "entity_id": "https://idp.corp.example/saml",
            "signing": {"key": CERTS / "sample-idp.key", "cert": CERTS / "sample-idp.crt"},
            "mapping": mapping,
            "attributes": attributes or {},
        }
    )
    directory = Directory.from_config(
        DirectoryConfig.model_validate({"users": {"alice": user}}), ROOT
    )
    provider = IdentityProvider(settings, directory, base_dir=ROOT)
    now = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    return etree.fromstring(provider.issue("alice", now=now, role_arn=role_arn).xml)


def issue(
    mapping: dict[str, Any],
    user: dict[str, Any],
    attributes: dict[str, Any] | None = None,
    role_arn: str | None = None,
) -> list[tuple[str, list[str]]]:
    """Return the issued assertion's Attribute elements, in order: (Name, values)."""
    root = issue_xml(mapping, user, attributes, role_arn)
    elements = root.findall("saml:Assertion/saml:AttributeStatement/saml:Attribute", NSMAP)
    assert len(root.findall(".//saml:Attribute", NSMAP)) == len(elements)
    return [
        (str(e.get("Name")), [str(v.text) for v in e.iterfind("saml:AttributeValue", NSMAP)])
        for e in elements
    ]


def keycloak(single: bool) -> dict[str, Any]:
    return {
        "keycloak": {
            "client_roles": {KC_ADMIN: None, KC_READ: None},
            "user_roles": {"alice": [KC_ADMIN, KC_READ]},
            "full_scope_allowed": False,
            "role_list": {"single": single},
            "user_properties": {SESSION_NAME: "email"},
        }
    }


def test_keycloak_single_role_attribute_off_sends_one_element_per_role() -> None:
    found = issue(keycloak(single=False), {"email": EMAIL}, {"session_duration": 3600})
    assert found == [
        (ROLE, [KC_ADMIN]),
        (ROLE, [KC_READ]),
        (SESSION_NAME, [EMAIL]),
        (SESSION_DURATION, ["3600"]),  # from the scenario's attributes, added after the engine's
    ]


def test_keycloak_separate_elements_keep_the_mappers_name_format() -> None:
    root = issue_xml(keycloak(single=False), {"email": EMAIL})
    formats = [
        e.get("NameFormat") for e in root.iterfind(f".//saml:Attribute[@Name='{ROLE}']", NSMAP)
    ]
    assert formats == [ATTRNAME_FORMAT_BASIC, ATTRNAME_FORMAT_BASIC]


def test_keycloak_single_role_attribute_on_sends_one_element() -> None:
    found = issue(keycloak(single=True), {"email": EMAIL})
    assert found == [(ROLE, [KC_ADMIN, KC_READ]), (SESSION_NAME, [EMAIL])]


def test_jumpcloud_two_role_mappings_send_two_role_elements() -> None:
    mapping = {
        "jumpcloud": {
            "user_attribute_mappings": [
                {"name": ROLE, "source": "custom:awsAdmin"},
                {"name": ROLE, "source": "custom:awsReadOnly"},
                {"name": SESSION_NAME, "source": "email"},
            ]
        }
    }
    user = {"email": EMAIL, "attributes": {"awsAdmin": JC_ADMIN, "awsReadOnly": JC_READ}}
    assert issue(mapping, user) == [
        (ROLE, [JC_ADMIN]),
        (ROLE, [JC_READ]),
        (SESSION_NAME, [EMAIL]),
    ]


def test_jumpcloud_constant_and_mapped_roles_stay_separate() -> None:
    mapping = {
        "jumpcloud": {
            "constant_attributes": [{"name": ROLE, "value": JC_ADMIN}],
            "user_attribute_mappings": [
                {"name": ROLE, "source": "custom:awsRole"},
                {"name": SESSION_NAME, "source": "email"},
            ],
        }
    }
    user = {"email": EMAIL, "attributes": {"awsRole": [JC_READ, JC_ADMIN]}}
    # JumpCloud does not de-duplicate across its attributes either: Admin is in both.
    assert issue(mapping, user) == [
        (ROLE, [JC_ADMIN]),
        (ROLE, [JC_READ, JC_ADMIN]),
        (SESSION_NAME, [EMAIL]),
    ]


@pytest.mark.parametrize(
    ("single", "expected"),
    [
        pytest.param(False, [(ROLE, [KC_READ]), (SESSION_NAME, [EMAIL])], id="separate"),
        pytest.param(True, [(ROLE, [KC_READ]), (SESSION_NAME, [EMAIL])], id="single"),
    ],
)
def test_asking_for_one_role_keeps_only_the_elements_that_grant_it(
    single: bool, expected: list[tuple[str, list[str]]]
) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/ReadOnly"
    assert issue(keycloak(single), {"email": EMAIL}, role_arn=role) == expected


STANDARD: list[Any] = [
    pytest.param(
        {
            "explicit": {
                "provider_name": "CorpIdP",
                "groups": {
                    "admins": [f"arn:aws:iam::{ACCOUNT}:role/Admin"],
                    "readers": [f"arn:aws:iam::{ACCOUNT}:role/ReadOnly"],
                },
            }
        },
        {"groups": ["admins", "readers"]},
        [pair("Admin", "CorpIdP"), pair("ReadOnly", "CorpIdP")],
        id="explicit",
    ),
    pytest.param(
        {
            "okta_aws": {
                "group_filter": r"^aws_(?{{accountid}}\d+)_(?{{role}}[\w\-]+)$",
                "role_value_pattern": "arn:aws:iam::${accountid}:saml-provider/Okta,"
                "arn:aws:iam::${accountid}:role/${role}",
            }
        },
        {"groups": [f"aws_{ACCOUNT}_Admin", f"aws_{ACCOUNT}_ReadOnly"]},
        [
            f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta,arn:aws:iam::{ACCOUNT}:role/Admin",
            f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta,arn:aws:iam::{ACCOUNT}:role/ReadOnly",
        ],
        id="okta_aws",
    ),
    pytest.param(
        {
            "entra": {
                "app_roles": [
                    {"displayName": "Admin,WAAD", "value": pair("Admin", "WAAD")},
                    {"displayName": "ReadOnly,WAAD", "value": pair("ReadOnly", "WAAD")},
                ],
                "user_assignments": {"alice": ["Admin,WAAD", "ReadOnly,WAAD"]},
            }
        },
        {"upn": EMAIL},
        [pair("Admin", "WAAD"), pair("ReadOnly", "WAAD")],
        id="entra",
    ),
    pytest.param(
        {"google_workspace": {}},
        {
            "attributes": {
                "Amazon.Role": [
                    pair("Admin", "GoogleWorkspace"),
                    pair("ReadOnly", "GoogleWorkspace"),
                ]
            }
        },
        [pair("Admin", "GoogleWorkspace"), pair("ReadOnly", "GoogleWorkspace")],
        id="google_workspace",
    ),
    pytest.param(
        {
            "adfs": {
                "rules": 'c:[Type == "http://schemas.microsoft.com/ws/2008/06/identity/claims/'
                'windowsaccountname", Issuer == "AD AUTHORITY"] => add(store = "Active Directory", '
                'types = ("http://temp/variable"), query = ";tokenGroups;{0}", param = c.Value);\n'
                'c:[Type == "http://temp/variable", Value =~ "^AWS-"] => issue(Type = '
                f'"{ROLE}", Value = RegExReplace(c.Value, "^AWS-", '
                f'"arn:aws:iam::{ACCOUNT}:saml-provider/ADFS,arn:aws:iam::{ACCOUNT}:role/ADFS-"));'
            }
        },
        {"groups": ["AWS-Admin", "AWS-ReadOnly"]},
        [
            f"arn:aws:iam::{ACCOUNT}:saml-provider/ADFS,arn:aws:iam::{ACCOUNT}:role/ADFS-Admin",
            f"arn:aws:iam::{ACCOUNT}:saml-provider/ADFS,arn:aws:iam::{ACCOUNT}:role/ADFS-ReadOnly",
        ],
        id="adfs",
    ),
]


@pytest.mark.parametrize(("mapping", "user", "roles"), STANDARD)
def test_other_engines_send_one_role_attribute_with_every_value(
    mapping: dict[str, Any], user: dict[str, Any], roles: list[str]
) -> None:
    found = issue(mapping, {"email": EMAIL, **user}, {"role_session_name": "{email}"})
    assert [values for name, values in found if name == ROLE] == [roles]
    assert len(found) == len({name for name, _ in found})  # one element per name


def test_configured_attributes_of_one_name_are_joined() -> None:
    mapping = {"explicit": {"provider_name": "CorpIdP", "groups": {}}}
    attributes = {
        "transitive_tag_keys": ["team"],
        "extra": {AwsAttribute.TRANSITIVE_TAG_KEYS.value: ["cost-center", "team"]},
    }
    found = issue(mapping, {"email": EMAIL}, attributes)
    assert (AwsAttribute.TRANSITIVE_TAG_KEYS.value, ["team", "cost-center"]) in found
    assert [name for name, _ in found].count(AwsAttribute.TRANSITIVE_TAG_KEYS.value) == 1


def test_an_attribute_the_engine_sends_is_not_added_again() -> None:
    found = issue(keycloak(single=False), {"email": EMAIL}, {"role_session_name": "{name}"})
    assert [values for name, values in found if name == SESSION_NAME] == [[EMAIL]]


def test_strict_sts_refuses_separate_role_elements(tmp_path: Path) -> None:
    """What fedharness's strict STS does with N Role elements: how AWS reads them is unverified
    (reference §8.9), so it refuses the response (fail closed) and the lint says why."""
    scenario = tmp_path / "keycloak.yaml"
    scenario.write_text(
        f"""\
name: keycloak-separate-role-attributes
idp:
  entity_id: https://keycloak.corp.example/realms/corp
  signing: {{key: {CERTS / "sample-idp.key"}, cert: {CERTS / "sample-idp.crt"}}}
  mapping:
    keycloak:
      full_scope_allowed: false
      client_roles: {{"{KC_ADMIN}": null, "{KC_READ}": null}}
      user_roles: {{alice: ["{KC_ADMIN}", "{KC_READ}"]}}
      user_properties: {{"{SESSION_NAME}": email}}
      role_list: {{single: false}}
directory:
  users:
    alice: {{email: {EMAIL}}}
aws:
  accounts:
    "{ACCOUNT}":
      saml_providers: {{keycloak: {{metadata: from-idp}}}}
      roles:
        Admin: {{trusts: keycloak}}
        ReadOnly: {{trusts: keycloak}}
expect:
  alice:
    roles: [arn:aws:iam::{ACCOUNT}:role/Admin, arn:aws:iam::{ACCOUNT}:role/ReadOnly]
""",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["run", str(scenario)], env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert "0 passed, 1 failed" in result.stdout
    assert "the Role attribute appears in 2 Attribute elements" in result.stdout
    assert "lint multiple-role-attributes" in result.stdout
