"""The response builder: every option shows up in the XML as SAML and AWS expect."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from lxml import etree

from idp.saml.builder import (
    AssertionSpec,
    ResponseSpec,
    RoleOrder,
    RolePair,
    SamlAttribute,
    aws_assertion_spec,
    aws_attributes,
    build_assertion,
    build_response,
    saml_time,
)
from idp.saml.constants import AWS_SIGNIN_URL, BEARER, NSMAP, NameIDFormat, StatusCode

ADMIN = RolePair(
    "arn:aws:iam::111111111111:role/Admin", "arn:aws:iam::111111111111:saml-provider/CorpIdP"
)
READER = RolePair(
    "arn:aws:iam::111111111111:role/ReadOnly", "arn:aws:iam::111111111111:saml-provider/CorpIdP"
)


def xp(element: etree._Element, path: str) -> list[etree._Element]:
    found = element.xpath(path, namespaces=NSMAP)
    assert isinstance(found, list)
    return found  # type: ignore[return-value]


def one(element: etree._Element, path: str) -> etree._Element:
    found = xp(element, path)
    assert len(found) == 1, f"{path}: {len(found)} matches"
    return found[0]


@pytest.fixture
def spec(now: dt.datetime) -> AssertionSpec:
    return aws_assertion_spec(
        issuer="https://idp.example/saml",
        name_id="alice",
        now=now,
        attributes=aws_attributes(role_pairs=[ADMIN, READER], session_name="alice@corp.example"),
    )


def test_saml_time_is_utc_with_milliseconds() -> None:
    moment = dt.datetime(2026, 1, 2, 4, 5, 6, 789123, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert saml_time(moment) == "2026-01-02T02:05:06.789Z"


def test_saml_time_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        saml_time(dt.datetime(2026, 1, 1))


def test_aws_defaults(spec: AssertionSpec, now: dt.datetime) -> None:
    assertion = build_assertion(spec)
    assert one(assertion, "saml:Issuer").text == "https://idp.example/saml"
    name_id = one(assertion, "saml:Subject/saml:NameID")
    assert name_id.text == "alice"
    assert name_id.get("Format") == NameIDFormat.PERSISTENT
    confirmation = one(assertion, "saml:Subject/saml:SubjectConfirmation")
    assert confirmation.get("Method") == BEARER
    data = one(confirmation, "saml:SubjectConfirmationData")
    assert data.get("Recipient") == AWS_SIGNIN_URL
    assert data.get("NotOnOrAfter") == saml_time(now + dt.timedelta(minutes=5))
    assert data.get("InResponseTo") is None
    conditions = one(assertion, "saml:Conditions")
    assert conditions.get("NotBefore") == saml_time(now - dt.timedelta(seconds=30))
    assert conditions.get("NotOnOrAfter") == saml_time(now + dt.timedelta(minutes=5))
    assert [a.text for a in xp(conditions, "saml:AudienceRestriction/saml:Audience")] == [
        AWS_SIGNIN_URL
    ]
    authn = one(assertion, "saml:AuthnStatement")
    assert authn.get("SessionIndex", "").startswith("_")
    assert authn.get("SessionNotOnOrAfter") is None
    assert assertion.get("IssueInstant") == saml_time(now)
    assert assertion.get("ID", "").startswith("_")


@pytest.mark.parametrize("name_id_format", list(NameIDFormat), ids=lambda f: f.name)
def test_name_id_formats(spec: AssertionSpec, name_id_format: NameIDFormat) -> None:
    assertion = build_assertion(dataclasses.replace(spec, name_id_format=name_id_format))
    assert one(assertion, "saml:Subject/saml:NameID").get("Format") == name_id_format


@pytest.mark.parametrize(
    ("short", "uri"),
    [
        ("persistent", NameIDFormat.PERSISTENT),
        ("transient", NameIDFormat.TRANSIENT),
        ("email", NameIDFormat.EMAIL),
        ("unspecified", NameIDFormat.UNSPECIFIED),
        (NameIDFormat.TRANSIENT.value, NameIDFormat.TRANSIENT),
    ],
)
def test_name_id_format_short_names(short: str, uri: NameIDFormat) -> None:
    assert NameIDFormat.from_short(short) is uri


def test_role_values_role_first(spec: AssertionSpec) -> None:
    role = one(
        build_assertion(spec),
        "//saml:Attribute[@Name='https://aws.amazon.com/SAML/Attributes/Role']",
    )
    assert [v.text for v in xp(role, "saml:AttributeValue")] == [
        "arn:aws:iam::111111111111:role/Admin,arn:aws:iam::111111111111:saml-provider/CorpIdP",
        "arn:aws:iam::111111111111:role/ReadOnly,arn:aws:iam::111111111111:saml-provider/CorpIdP",
    ]


def test_role_values_provider_first() -> None:
    (role,) = aws_attributes(role_pairs=[ADMIN], role_order=RoleOrder.PROVIDER_FIRST)
    assert role.values == (
        "arn:aws:iam::111111111111:saml-provider/CorpIdP,arn:aws:iam::111111111111:role/Admin",
    )


def test_all_aws_attributes(spec: AssertionSpec) -> None:
    attributes = aws_attributes(
        role_pairs=[ADMIN],
        session_name="alice",
        session_duration=7200,
        principal_tags={"team": "platform", "cost-center": "42"},
        transitive_tag_keys=["team"],
        source_identity="alice",
    )
    assertion = build_assertion(dataclasses.replace(spec, attributes=attributes))
    got = {
        a.get("Name"): [v.text for v in xp(a, "saml:AttributeValue")]
        for a in xp(assertion, "//saml:Attribute")
    }
    prefix = "https://aws.amazon.com/SAML/Attributes/"
    assert got == {
        prefix + "Role": [ADMIN.value()],
        prefix + "RoleSessionName": ["alice"],
        prefix + "SessionDuration": ["7200"],
        prefix + "PrincipalTag:team": ["platform"],
        prefix + "PrincipalTag:cost-center": ["42"],
        prefix + "TransitiveTagKeys": ["team"],
        prefix + "SourceIdentity": ["alice"],
    }


def test_other_attributes_keep_format_friendly_name_and_type(spec: AssertionSpec) -> None:
    custom = SamlAttribute(
        "urn:oid:0.9.2342.19200300.100.1.3",
        ("a@x", "b@x"),
        name_format="urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
        friendly_name="mail",
        value_type=None,
    )
    attribute = one(
        build_assertion(dataclasses.replace(spec, attributes=(custom,))), "//saml:Attribute"
    )
    assert attribute.get("NameFormat") == "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
    assert attribute.get("FriendlyName") == "mail"
    values = xp(attribute, "saml:AttributeValue")
    assert [v.text for v in values] == ["a@x", "b@x"]
    assert all("{http://www.w3.org/2001/XMLSchema-instance}type" not in v.attrib for v in values)


@pytest.mark.parametrize(
    "recipient",
    [
        "https://signin.aws.amazon.com/saml",
        "https://eu-west-1.signin.aws.amazon.com/saml",
        "https://us-east-1.signin.aws.amazon.com/saml/acs/SAMLSP4SHN3UIS2D558H46",
    ],
    ids=["global", "regional", "acs-id"],
)
def test_recipient_endpoints(spec: AssertionSpec, recipient: str) -> None:
    assertion = build_assertion(dataclasses.replace(spec, recipient=recipient))
    assert one(assertion, "//saml:SubjectConfirmationData").get("Recipient") == recipient


def test_in_response_to_and_session_not_on_or_after(spec: AssertionSpec, now: dt.datetime) -> None:
    later = now + dt.timedelta(hours=1)
    assertion = build_assertion(
        dataclasses.replace(spec, in_response_to="_req1", session_not_on_or_after=later)
    )
    assert one(assertion, "//saml:SubjectConfirmationData").get("InResponseTo") == "_req1"
    assert one(assertion, "saml:AuthnStatement").get("SessionNotOnOrAfter") == saml_time(later)


def test_omissions_for_negative_cases(spec: AssertionSpec) -> None:
    assertion = build_assertion(
        dataclasses.replace(
            spec,
            issuer=None,
            name_id=None,
            conditions=False,
            authn_statement=False,
            recipient=None,
            confirmation_not_on_or_after=None,
        )
    )
    assert xp(assertion, "saml:Issuer") == []
    assert xp(assertion, "saml:Subject/saml:NameID") == []
    assert xp(assertion, "saml:Conditions") == []
    assert xp(assertion, "saml:AuthnStatement") == []
    data = one(assertion, "//saml:SubjectConfirmationData")
    assert data.get("Recipient") is None and data.get("NotOnOrAfter") is None


def test_wrong_values_are_written_as_given(spec: AssertionSpec) -> None:
    assertion = build_assertion(
        dataclasses.replace(
            spec,
            subject_confirmation_count=2,
            confirmation_method="urn:evil",
            audiences=("https://evil.example/", AWS_SIGNIN_URL),
            version="1.1",
        )
    )
    methods = [c.get("Method") for c in xp(assertion, "//saml:SubjectConfirmation")]
    assert methods == ["urn:evil", "urn:evil"]
    assert [a.text for a in xp(assertion, "//saml:Audience")] == [
        "https://evil.example/",
        AWS_SIGNIN_URL,
    ]
    assert assertion.get("Version") == "1.1"


def test_no_subject_at_all(spec: AssertionSpec) -> None:
    assertion = build_assertion(dataclasses.replace(spec, name_id=None, subject_confirmation=False))
    assert xp(assertion, "saml:Subject") == []


def test_response_envelope(spec: AssertionSpec, now: dt.datetime) -> None:
    response = build_response(
        ResponseSpec(
            issuer="https://idp.example/saml",
            issue_instant=now,
            in_response_to="_req",
            status=StatusCode.RESPONDER,
            status_message="nope",
        ),
        build_assertion(spec),
    )
    assert response.get("Destination") == AWS_SIGNIN_URL
    assert response.get("InResponseTo") == "_req"
    assert one(response, "samlp:Status/samlp:StatusCode").get("Value") == StatusCode.RESPONDER
    assert one(response, "samlp:Status/samlp:StatusMessage").text == "nope"
    assert [etree.QName(c).localname for c in response] == ["Issuer", "Status", "Assertion"]


def test_element_order_follows_the_schema(spec: AssertionSpec) -> None:
    assertion = build_assertion(spec)
    assert [etree.QName(c).localname for c in assertion] == [
        "Issuer",
        "Subject",
        "Conditions",
        "AuthnStatement",
        "AttributeStatement",
    ]
