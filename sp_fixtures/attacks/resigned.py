"""Builders of the variants the IdP signs itself with one wrong field (saml-attacks.md §3.6–§3.8,
§3.11): binding, validity window, algorithm policy, duplicated attributes and replays — plus the
two unsigned additions to a signed AttributeStatement or Subject."""

from __future__ import annotations

import datetime as dt
from typing import Any

from lxml import etree

from idp.saml.constants import (
    ATTRNAME_FORMAT_URI,
    NS,
    PRINCIPAL_TAG_PREFIX,
    AwsAttribute,
    DigestAlgorithm,
    SignatureAlgorithm,
    qname,
)
from sp_fixtures.attacks.catalogue import Attack
from sp_fixtures.attacks.errors import GeneratorError
from sp_fixtures.attacks.surgery import Document, after, before, escape
from sp_fixtures.attacks.workshop import Built, TreeEdit, Workshop, builder

OTHER_SP = "https://sp.attacker.invalid/saml"
OTHER_IDP = "https://idp.attacker.invalid/saml"
HOLDER_OF_KEY = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"


def _minutes(count: float) -> dt.timedelta:
    return dt.timedelta(minutes=count)


def _built(w: Workshop, attack: Attack, *documents: bytes) -> Built:
    return Built(documents=documents, seen_if_accepted=w.seen(attack))


# --- one wrong field, signed by the IdP -----------------------------------------------------


def _overrides(w: Workshop, attack_id: str) -> dict[str, Any]:
    """Return the issue() keyword arguments that make the one field wrong."""
    now = w.now
    overrides: dict[str, dict[str, Any]] = {
        "audience-other-sp": {"assertion": {"audiences": (OTHER_SP,)}},
        "audience-restriction-missing": {"assertion": {"audiences": ()}},
        "audience-empty": {"assertion": {"audiences": ("",)}},
        "recipient-other-sp": {"recipient": OTHER_SP + "/acs"},
        "recipient-missing": {"assertion": {"recipient": None}},
        "holder-of-key-confirmation": {"assertion": {"confirmation_method": HOLDER_OF_KEY}},
        "issuer-other-idp": {"assertion": {"issuer": OTHER_IDP}, "response": {"issuer": OTHER_IDP}},
        "issuer-missing": {"assertion": {"issuer": None}},
        "response-issuer-other-idp": {"response": {"issuer": OTHER_IDP}},
        "not-before-in-future": {"assertion": {"not_before": now + _minutes(10)}},
        "conditions-expired": {"assertion": {"not_on_or_after": now - _minutes(2)}},
        "confirmation-expired": {"assertion": {"confirmation_not_on_or_after": now - _minutes(2)}},
        "session-expired": {"assertion": {"session_not_on_or_after": now - _minutes(1)}},
        "issued-too-long-ago": {
            "assertion": {"issue_instant": now - _minutes(10), "authn_instant": now - _minutes(10)}
        },
        "issued-in-future": {"assertion": {"issue_instant": now + _minutes(10)}},
    }
    return overrides[attack_id]


@builder(
    "audience-other-sp",
    "audience-restriction-missing",
    "audience-empty",
    "recipient-other-sp",
    "recipient-missing",
    "holder-of-key-confirmation",
    "issuer-other-idp",
    "issuer-missing",
    "response-issuer-other-idp",
    "not-before-in-future",
    "conditions-expired",
    "confirmation-expired",
    "session-expired",
    "issued-too-long-ago",
    "issued-in-future",
)
def one_wrong_field(w: Workshop, attack: Attack) -> Built:
    """Have the IdP sign the evil values with the one field the id names set wrong."""
    doc = w.issue(attack.layout, evil=True, **_overrides(w, attack.id))
    return _built(w, attack, doc.data)


@builder("audience-restriction-excludes-sp")
def audience_restriction_excludes_sp(w: Workshop, attack: Attack) -> Built:
    """Have the IdP sign the evil values with a second restriction naming only another SP."""

    def second_restriction(root: etree._Element) -> None:
        conditions = root.find(f".//{qname(NS.SAML, 'Conditions')}")
        assert conditions is not None  # noqa: S101 - the IdP always writes Conditions
        restriction = etree.SubElement(conditions, qname(NS.SAML, "AudienceRestriction"))
        etree.SubElement(restriction, qname(NS.SAML, "Audience")).text = OTHER_SP

    doc = w.issue(attack.layout, evil=True, edit=second_restriction)
    return _built(w, attack, doc.data)


@builder("rsa-sha1-signature", "sha1-digest")
def sha1(w: Workshop, attack: Attack) -> Built:
    """Have the IdP sign the genuine values with SHA-1 (a policy check, no evil values)."""
    algorithm = (
        SignatureAlgorithm.RSA_SHA1
        if attack.id == "rsa-sha1-signature"
        else SignatureAlgorithm.RSA_SHA256
    )
    doc = w.issue("assertion", algorithm=algorithm, digest=DigestAlgorithm.SHA1)
    return _built(w, attack, doc.data)


# --- duplicated attributes ------------------------------------------------------------------


def _add_attribute(root: etree._Element, name: str, *values: str) -> None:
    statement = root.find(f".//{qname(NS.SAML, 'AttributeStatement')}")
    if statement is None:
        assertion = root.find(qname(NS.SAML, "Assertion"))
        assert assertion is not None  # noqa: S101 - checked by Workshop
        statement = etree.SubElement(assertion, qname(NS.SAML, "AttributeStatement"))
    attribute = etree.SubElement(
        statement, qname(NS.SAML, "Attribute"), Name=name, NameFormat=ATTRNAME_FORMAT_URI
    )
    for value in values:
        etree.SubElement(attribute, qname(NS.SAML, "AttributeValue")).text = value


def _duplicates(w: Workshop, attack_id: str) -> TreeEdit:
    session_name = w.evil.name_id.replace(" ", "")

    def edit(root: etree._Element) -> None:
        if attack_id == "duplicate-role-session-name":
            _add_attribute(root, AwsAttribute.ROLE_SESSION_NAME, session_name)
            _add_attribute(root, AwsAttribute.ROLE_SESSION_NAME, session_name + ".evil")
        elif attack_id == "duplicate-session-duration":
            _add_attribute(root, AwsAttribute.SESSION_DURATION, "3600")
            _add_attribute(root, AwsAttribute.SESSION_DURATION, "43200")
        elif attack_id == "duplicate-source-identity":
            _add_attribute(root, AwsAttribute.SOURCE_IDENTITY, "alice")
            _add_attribute(root, AwsAttribute.SOURCE_IDENTITY, "admin")
        else:
            _add_attribute(root, PRINCIPAL_TAG_PREFIX + "team", "platform")
            _add_attribute(root, PRINCIPAL_TAG_PREFIX + "Team", "security")

    return edit


@builder(
    "duplicate-role-session-name",
    "duplicate-session-duration",
    "duplicate-source-identity",
    "duplicate-session-tag-case",
)
def duplicate_attribute(w: Workshop, attack: Attack) -> Built:
    """Have the IdP sign the evil role with one attribute sent twice."""
    doc = w.issue("assertion", evil=True, edit=_duplicates(w, attack.id))
    return _built(w, attack, doc.data)


@builder("role-attribute-appended")
def role_attribute_appended(w: Workshop, attack: Attack) -> Built:
    """Append an unsigned Role attribute with the evil pair to the signed statement."""
    doc = w.baseline("assertion")
    assertion = doc.root.find((NS.SAML, "Assertion"))
    statements = assertion.descendants(NS.SAML, "AttributeStatement")
    if not statements or w.evil.role_pair is None:
        raise GeneratorError("the user's response has no AttributeStatement with a Role")
    attribute = (
        b'<saml:Attribute Name="'
        + escape(AwsAttribute.ROLE)
        + b'" NameFormat="'
        + escape(ATTRNAME_FORMAT_URI)
        + b'"><saml:AttributeValue>'
        + escape(w.evil.role_pair)
        + b"</saml:AttributeValue></saml:Attribute>"
    )
    last = statements[0].children[-1]
    return _built(w, attack, doc.render([after(last, attribute)]))


@builder("second-name-id")
def second_name_id(w: Workshop, attack: Attack) -> Built:
    """Insert an evil NameID before the signed one."""
    doc = w.baseline("assertion")
    name_id = doc.root.find((NS.SAML, "Assertion"), (NS.SAML, "Subject"), (NS.SAML, "NameID"))
    evil = b"<saml:NameID>" + escape(w.evil.name_id) + b"</saml:NameID>"
    return _built(w, attack, doc.render([before(name_id, evil)]))


# --- replay ---------------------------------------------------------------------------------


@builder("replay-same-response", "replay-assertion-id-in-new-response")
def replay(w: Workshop, attack: Attack) -> Built:
    """Send a genuine response, then the same one (or its assertion ID in a new response)."""
    first = w.baseline("assertion")
    if attack.id == "replay-same-response":
        return _built(w, attack, first.data, first.data)
    assertion_id = _assertion_id(first)
    second = w.issue("assertion", assertion={"assertion_id": assertion_id})
    return _built(w, attack, first.data, second.data)


def _assertion_id(doc: Document) -> str:
    return doc.attribute(doc.root.find((NS.SAML, "Assertion")), "ID")
