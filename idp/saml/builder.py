"""Build SAML 2.0 Responses and Assertions as lxml trees.

Pure functions of frozen specs: every element and attribute comes from a spec field, and every
field can be set to a wrong value or ``None`` (omitted) so that negative cases are built with the
same code as positive ones. Times come from the spec, never from the clock.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from lxml import etree

from idp.saml.constants import (
    ATTRNAME_FORMAT_URI,
    AUTHN_CONTEXT_PASSWORD_PROTECTED,
    AWS_SIGNIN_URL,
    BEARER,
    NS,
    PRINCIPAL_TAG_PREFIX,
    AwsAttribute,
    NameIDFormat,
    StatusCode,
    qname,
)

XS_STRING = "xs:string"
_ATTRIBUTE_VALUE = qname(NS.SAML, "AttributeValue")
_XSI_TYPE = qname(NS.XSI, "type")


def new_id() -> str:
    """Return a fresh xs:ID value (starts with an underscore, 128 random bits)."""
    return "_" + secrets.token_hex(16)


def saml_time(moment: dt.datetime) -> str:
    """Format a timezone-aware datetime as SAML's UTC ``xs:dateTime`` with milliseconds."""
    if moment.tzinfo is None:
        raise ValueError("SAML times must be timezone-aware")
    utc = moment if moment.tzinfo is dt.UTC else moment.astimezone(dt.UTC)
    # isoformat gives "YYYY-MM-DDTHH:MM:SS.mmm+00:00"; SAML writes the zone as "Z".
    return utc.isoformat(timespec="milliseconds")[:23] + "Z"


@dataclass(frozen=True)
class SamlAttribute:
    """One ``saml:Attribute`` with its values, in order."""

    name: str
    values: tuple[str, ...]
    name_format: str | None = ATTRNAME_FORMAT_URI
    """NameFormat URI; ``None`` omits the XML attribute."""
    friendly_name: str | None = None
    value_type: str | None = XS_STRING
    """``xsi:type`` of each AttributeValue; ``None`` omits it (as ADFS does)."""


class RoleOrder(StrEnum):
    """Order of the two ARNs in a Role value; AWS accepts both (aws-sts-saml.md §1)."""

    ROLE_FIRST = "role-first"
    PROVIDER_FIRST = "provider-first"


@dataclass(frozen=True, order=True)
class RolePair:
    """An IAM role ARN and the SAML provider ARN it trusts."""

    role_arn: str
    provider_arn: str

    def value(self, order: RoleOrder = RoleOrder.ROLE_FIRST) -> str:
        """Return the Role attribute value, comma-separated in the given order."""
        if order is RoleOrder.PROVIDER_FIRST:
            return f"{self.provider_arn},{self.role_arn}"
        return f"{self.role_arn},{self.provider_arn}"


def aws_attributes(
    *,
    role_pairs: Sequence[RolePair] = (),
    role_order: RoleOrder = RoleOrder.ROLE_FIRST,
    session_name: str | None = None,
    session_duration: int | None = None,
    principal_tags: Mapping[str, str] | None = None,
    transitive_tag_keys: Sequence[str] = (),
    source_identity: str | None = None,
) -> tuple[SamlAttribute, ...]:
    """Return the AWS SAML attributes for the given values, omitting the ones not given."""
    attributes: list[SamlAttribute] = []
    if role_pairs:
        attributes.append(
            SamlAttribute(AwsAttribute.ROLE, tuple(pair.value(role_order) for pair in role_pairs))
        )
    if session_name is not None:
        attributes.append(SamlAttribute(AwsAttribute.ROLE_SESSION_NAME, (session_name,)))
    if session_duration is not None:
        attributes.append(SamlAttribute(AwsAttribute.SESSION_DURATION, (str(session_duration),)))
    for key, tag_value in (principal_tags or {}).items():
        attributes.append(SamlAttribute(PRINCIPAL_TAG_PREFIX + key, (tag_value,)))
    if transitive_tag_keys:
        attributes.append(
            SamlAttribute(AwsAttribute.TRANSITIVE_TAG_KEYS, tuple(transitive_tag_keys))
        )
    if source_identity is not None:
        attributes.append(SamlAttribute(AwsAttribute.SOURCE_IDENTITY, (source_identity,)))
    return tuple(attributes)


@dataclass(frozen=True)
class AssertionSpec:
    """Everything that goes into one ``saml:Assertion``; ``None`` omits an element."""

    issuer: str | None
    issue_instant: dt.datetime
    name_id: str | None
    assertion_id: str = field(default_factory=new_id)
    name_id_format: str | None = NameIDFormat.PERSISTENT
    name_qualifier: str | None = None
    sp_name_qualifier: str | None = None
    subject_confirmation: bool = True
    """Emit the SubjectConfirmation; ``False`` leaves the Subject with only its NameID."""
    subject_confirmation_count: int = 1
    """How many identical SubjectConfirmation elements; AWS wants exactly one."""
    confirmation_method: str = BEARER
    recipient: str | None = AWS_SIGNIN_URL
    confirmation_not_on_or_after: dt.datetime | None = None
    in_response_to: str | None = None
    conditions: bool = True
    not_before: dt.datetime | None = None
    not_on_or_after: dt.datetime | None = None
    audiences: tuple[str, ...] = (AWS_SIGNIN_URL,)
    authn_statement: bool = True
    authn_instant: dt.datetime | None = None
    session_index: str | None = None
    session_not_on_or_after: dt.datetime | None = None
    authn_context_class: str = AUTHN_CONTEXT_PASSWORD_PROTECTED
    attributes: tuple[SamlAttribute, ...] = ()
    version: str = "2.0"


@dataclass(frozen=True)
class ResponseSpec:
    """The ``samlp:Response`` envelope around the assertion."""

    issuer: str | None
    issue_instant: dt.datetime
    destination: str | None = AWS_SIGNIN_URL
    response_id: str = field(default_factory=new_id)
    in_response_to: str | None = None
    status: str = StatusCode.SUCCESS
    status_message: str | None = None
    version: str = "2.0"


def aws_assertion_spec(
    *,
    issuer: str,
    name_id: str,
    attributes: Iterable[SamlAttribute],
    now: dt.datetime,
    lifetime: dt.timedelta = dt.timedelta(minutes=5),
    recipient: str = AWS_SIGNIN_URL,
    audiences: tuple[str, ...] = (AWS_SIGNIN_URL,),
    name_id_format: str = NameIDFormat.PERSISTENT,
    in_response_to: str | None = None,
    session_not_on_or_after: dt.datetime | None = None,
) -> AssertionSpec:
    """Return a spec that AWS accepts: times around ``now``, one bearer confirmation."""
    return AssertionSpec(
        issuer=issuer,
        issue_instant=now,
        name_id=name_id,
        name_id_format=name_id_format,
        recipient=recipient,
        confirmation_not_on_or_after=now + lifetime,
        in_response_to=in_response_to,
        not_before=now - dt.timedelta(seconds=30),
        not_on_or_after=now + lifetime,
        audiences=audiences,
        authn_instant=now,
        session_index=new_id(),
        session_not_on_or_after=session_not_on_or_after,
        attributes=tuple(attributes),
    )


def _sub(
    parent: etree._Element, ns: NS, local: str, text: str | None = None, **attrs: str | None
) -> etree._Element:
    element = etree.SubElement(
        parent,
        qname(ns, local),
        {key: value for key, value in attrs.items() if value is not None},
    )
    if text is not None:
        element.text = text
    return element


def build_assertion(spec: AssertionSpec) -> etree._Element:
    """Build a ``saml:Assertion`` element from ``spec``."""
    assertion = etree.Element(
        qname(NS.SAML, "Assertion"),
        nsmap={"saml": NS.SAML, "xs": NS.XS, "xsi": NS.XSI},
    )
    assertion.set("ID", spec.assertion_id)
    assertion.set("Version", spec.version)
    assertion.set("IssueInstant", saml_time(spec.issue_instant))
    if spec.issuer is not None:
        _sub(assertion, NS.SAML, "Issuer", spec.issuer)
    _add_subject(assertion, spec)
    if spec.conditions:
        conditions = _sub(
            assertion,
            NS.SAML,
            "Conditions",
            NotBefore=saml_time(spec.not_before) if spec.not_before else None,
            NotOnOrAfter=saml_time(spec.not_on_or_after) if spec.not_on_or_after else None,
        )
        if spec.audiences:
            restriction = _sub(conditions, NS.SAML, "AudienceRestriction")
            for audience in spec.audiences:
                _sub(restriction, NS.SAML, "Audience", audience)
    if spec.authn_statement:
        authn = _sub(
            assertion,
            NS.SAML,
            "AuthnStatement",
            AuthnInstant=saml_time(spec.authn_instant or spec.issue_instant),
            SessionIndex=spec.session_index,
            SessionNotOnOrAfter=(
                saml_time(spec.session_not_on_or_after) if spec.session_not_on_or_after else None
            ),
        )
        context = _sub(authn, NS.SAML, "AuthnContext")
        _sub(context, NS.SAML, "AuthnContextClassRef", spec.authn_context_class)
    if spec.attributes:
        statement = _sub(assertion, NS.SAML, "AttributeStatement")
        for attribute in spec.attributes:
            _add_attribute(statement, attribute)
    return assertion


def _add_subject(assertion: etree._Element, spec: AssertionSpec) -> None:
    if spec.name_id is None and not spec.subject_confirmation:
        return
    subject = _sub(assertion, NS.SAML, "Subject")
    if spec.name_id is not None:
        _sub(
            subject,
            NS.SAML,
            "NameID",
            spec.name_id,
            Format=spec.name_id_format,
            NameQualifier=spec.name_qualifier,
            SPNameQualifier=spec.sp_name_qualifier,
        )
    if not spec.subject_confirmation:
        return
    for _ in range(spec.subject_confirmation_count):
        confirmation = _sub(
            subject, NS.SAML, "SubjectConfirmation", Method=spec.confirmation_method
        )
        _sub(
            confirmation,
            NS.SAML,
            "SubjectConfirmationData",
            InResponseTo=spec.in_response_to,
            NotOnOrAfter=(
                saml_time(spec.confirmation_not_on_or_after)
                if spec.confirmation_not_on_or_after
                else None
            ),
            Recipient=spec.recipient,
        )


def _add_attribute(statement: etree._Element, attribute: SamlAttribute) -> None:
    element = _sub(
        statement,
        NS.SAML,
        "Attribute",
        Name=attribute.name,
        NameFormat=attribute.name_format,
        FriendlyName=attribute.friendly_name,
    )
    value_attributes = {} if attribute.value_type is None else {_XSI_TYPE: attribute.value_type}
    for value in attribute.values:
        etree.SubElement(element, _ATTRIBUTE_VALUE, value_attributes).text = value


def build_response(spec: ResponseSpec, *assertions: etree._Element) -> etree._Element:
    """Build a ``samlp:Response`` holding ``assertions`` (usually exactly one)."""
    response = etree.Element(
        qname(NS.SAMLP, "Response"), nsmap={"samlp": NS.SAMLP, "saml": NS.SAML}
    )
    response.set("ID", spec.response_id)
    response.set("Version", spec.version)
    response.set("IssueInstant", saml_time(spec.issue_instant))
    if spec.destination is not None:
        response.set("Destination", spec.destination)
    if spec.in_response_to is not None:
        response.set("InResponseTo", spec.in_response_to)
    if spec.issuer is not None:
        _sub(response, NS.SAML, "Issuer", spec.issuer)
    status = _sub(response, NS.SAMLP, "Status")
    _sub(status, NS.SAMLP, "StatusCode", Value=spec.status)
    if spec.status_message is not None:
        _sub(status, NS.SAMLP, "StatusMessage", spec.status_message)
    for assertion in assertions:
        response.append(assertion)
    return response


def to_bytes(element: etree._Element) -> bytes:
    """Serialise without re-indenting, so signed bytes stay as signed."""
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8")
