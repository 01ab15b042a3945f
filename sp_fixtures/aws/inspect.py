"""Inspect any SAMLResponse: decode, pretty-print, annotate, and judge it with the strict rules."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass, field

from lxml import etree

from idp.saml.constants import NS, PRINCIPAL_TAG_PREFIX, AwsAttribute
from idp.saml.xmlparse import UnsafeXmlError, parse_xml
from sp_fixtures.aws.sts import AssumeRoleWithSamlRequest, StrictSts
from sp_fixtures.verify import VerificationError, parse_saml_time

SAML = f"{{{NS.SAML}}}"


class InspectError(ValueError):
    """The input is not a SAMLResponse that can be read at all."""

    code = "not_a_saml_response"


_AWS_ATTRIBUTE_PREFIX = "https://aws.amazon.com/SAML/Attributes/"
_PAIR_MARKS = {True: "accepted", False: "REFUSED", None: "not checked"}


@dataclass(frozen=True)
class PairVerdict:
    """What AWS would do with one Role value."""

    role_arn: str
    provider_arn: str
    accepted: bool | None
    """None when no strict STS was given (nothing was checked)."""
    explanation: str


@dataclass(frozen=True)
class Inspection:
    """A decoded, annotated SAMLResponse."""

    xml: str
    issuer: str | None
    name_id: str | None
    name_id_format: str | None
    recipients: tuple[str, ...]
    audiences: tuple[str, ...]
    issue_instant: dt.datetime | None
    not_on_or_after: dt.datetime | None
    signed: tuple[str, ...]
    encrypted: bool
    attributes: tuple[tuple[str, tuple[str, ...]], ...]
    pairs: tuple[PairVerdict, ...]
    notes: tuple[str, ...] = field(default=())

    def annotations(self) -> list[str]:
        """Return human lines: what AWS reads and what it would do."""
        lines = [
            f"Issuer: {self.issuer}",
            f"NameID: {self.name_id} ({self.name_id_format})",
            f"Recipient (saml:aud): {', '.join(self.recipients) or 'none'}",
            f"Audience: {', '.join(self.audiences) or 'none'}",
            f"Signed: {', '.join(self.signed) or 'nothing'}"
            + (" (assertion encrypted)" if self.encrypted else ""),
        ]
        if self.issue_instant:
            redeem_by = self.issue_instant + dt.timedelta(minutes=5)
            lines.append(
                f"Issued: {self.issue_instant.isoformat()} — AWS redeems it for "
                f"5 minutes, until {redeem_by.isoformat()}"
            )
        if self.not_on_or_after:
            lines.append(f"Expires (NotOnOrAfter): {self.not_on_or_after.isoformat()}")
        pairs = [
            f"  {pair.role_arn} via {pair.provider_arn}: "
            f"{_PAIR_MARKS[pair.accepted]} — {pair.explanation}"
            for pair in self.pairs
        ]
        for name, values in self.attributes:
            if name == AwsAttribute.ROLE:
                # The pairs go right under the Role line, not after the last attribute, where
                # they would read as belonging to it; one heading even when an IdP repeats the
                # attribute (which the strict STS refuses).
                if pairs or not any(line.startswith("Role attribute") for line in lines):
                    elements = sum(1 for n, _ in self.attributes if n == AwsAttribute.ROLE)
                    count = sum(len(v) for n, v in self.attributes if n == AwsAttribute.ROLE)
                    where = f" in {elements} Attribute elements" if elements > 1 else ""
                    lines.append(f"Role attribute ({count} values{where}): the pairs AWS can take")
                lines.extend(pairs)
                pairs = []
            elif name.startswith(_AWS_ATTRIBUTE_PREFIX):
                lines.append(f"{name.rsplit('/', 1)[1]}: {', '.join(values)}")
        lines.extend(pairs)  # only when no Role attribute listed them
        lines.extend(self.notes)
        return lines


def element_text(element: etree._Element) -> str:
    """Return the text inside ``element`` and its descendants (comments and PIs left out)."""
    return etree.tostring(element, method="text", encoding="unicode", with_tail=False)


def split_role_value(value: str) -> tuple[str, str] | None:
    """Return a Role value's (role ARN, provider ARN), in either order; None if not a pair."""
    parts = value.split(",")
    if len(parts) != 2:
        return None
    return (parts[0], parts[1]) if ":role/" in parts[0] else (parts[1], parts[0])


def decode(saml_response: str) -> bytes:
    """Return the XML of a base64 SAMLResponse (whitespace and URL-safe forms accepted)."""
    compact = "".join(saml_response.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        try:
            return base64.urlsafe_b64decode(compact + "=" * (-len(compact) % 4))
        except (binascii.Error, ValueError):
            raise InspectError("not base64") from None


def inspect_response(
    saml_response: str, *, sts: StrictSts | None = None, now: dt.datetime | None = None
) -> Inspection:
    """Decode and annotate ``saml_response``; judge each Role pair with ``sts`` when given."""
    document = decode(saml_response)
    try:
        root = parse_xml(document)
    except UnsafeXmlError as exc:
        raise InspectError(str(exc)) from None
    if etree.QName(root).localname != "Response":
        raise InspectError(
            f"the root element is <{etree.QName(root).localname}>, not a samlp:Response"
        )
    attributes = tuple(
        (str(a.get("Name")), tuple(element_text(v) for v in a.iter(f"{SAML}AttributeValue")))
        for a in root.iter(f"{SAML}Attribute")
    )
    pairs: list[PairVerdict] = []
    for name, values in attributes:
        if name != AwsAttribute.ROLE:
            continue
        for value in values:
            pair = split_role_value(value)
            if pair is None:
                pairs.append(PairVerdict(value, "", False, "not a 'role-arn,provider-arn' pair"))
                continue
            role, provider = pair
            pairs.append(_judge(sts, role, provider, saml_response, now))
    notes: list[str] = []
    if not pairs:
        notes.append(
            'No Role attribute: the AWS console answers "Your request included an '
            'invalid SAML response".'
        )
    if any(name.startswith(PRINCIPAL_TAG_PREFIX) for name, _ in attributes):
        notes.append("Session tags are sent: every role's trust policy must allow sts:TagSession.")
    if sts is None:
        notes.append("Signature and trust policies were not checked: give --config SCENARIO.")
    return Inspection(
        xml=etree.tostring(root, pretty_print=True, encoding="unicode"),
        issuer=_text(root, f"{SAML}Assertion/{SAML}Issuer") or _text(root, f"{SAML}Issuer"),
        name_id=_text(root, f".//{SAML}Subject/{SAML}NameID"),
        name_id_format=_attr(root, f".//{SAML}Subject/{SAML}NameID", "Format"),
        recipients=tuple(
            str(e.get("Recipient"))
            for e in root.iter(f"{SAML}SubjectConfirmationData")
            if e.get("Recipient")
        ),
        audiences=tuple(element_text(e) for e in root.iter(f"{SAML}Audience")),
        issue_instant=_time(_attr(root, f"{SAML}Assertion", "IssueInstant")),
        not_on_or_after=_time(_attr(root, f".//{SAML}SubjectConfirmationData", "NotOnOrAfter")),
        signed=tuple(
            etree.QName(parent).localname
            for parent in (s.getparent() for s in root.iter(f"{{{NS.DS}}}Signature"))
            if parent is not None
        ),
        encrypted=root.find(f"{SAML}EncryptedAssertion") is not None,
        attributes=attributes,
        pairs=tuple(pairs),
        notes=tuple(notes),
    )


def _judge(
    sts: StrictSts | None, role: str, provider: str, saml_response: str, now: dt.datetime | None
) -> PairVerdict:
    if sts is None:
        return PairVerdict(role, provider, None, "no strict STS given")
    verdict = sts.judge(
        AssumeRoleWithSamlRequest(RoleArn=role, PrincipalArn=provider, SAMLAssertion=saml_response),
        now=now,
    )
    if verdict.error is None:
        return PairVerdict(role, provider, True, f"all {len(verdict.passed_rules)} rules pass")
    decisions = verdict.exchange.trust_decisions
    why = (
        decisions[-1].describe()
        if decisions and not decisions[-1].allowed
        else (verdict.error.detail or "")
    )
    return PairVerdict(
        role,
        provider,
        False,
        f"{verdict.error.code}: {verdict.error.message} "
        f"[rule {verdict.failed_rule}]" + (f" — {why}" if why else ""),
    )


def _text(root: etree._Element, path: str) -> str | None:
    found = root.find(path)
    return element_text(found) if found is not None else None


def _attr(root: etree._Element, path: str, name: str) -> str | None:
    found = root.find(path)
    return found.get(name) if found is not None else None


def _time(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return parse_saml_time(value)
    except VerificationError:  # a malformed time is shown as absent
        return None
