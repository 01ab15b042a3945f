"""Verify a SAML 2.0 Response as a hardened service provider must, and return only signed data.

Every SP fixture (first of all the strict AWS STS emulation) calls :func:`verify_response`; it
follows the pipeline of saml-attacks.md §7: one hardened parse, structural invariants that stop
signature wrapping before any crypto, one fixed signature layout, keys pinned from metadata
(never from KeyInfo), and "use only what was signed". It checks neither times nor audiences nor
recipients nor replay: those need a clock and the SP's identity, so the caller does them on the
returned :class:`VerifiedResponse`.

Checks run in this order; each refusal raises :class:`VerificationError` with the code shown:

0. ``document_too_large`` – more than ``max_document_bytes`` (1 MiB by default), before parsing.
1. ``not_xml`` – the bytes are not well-formed XML; ``dtd_refused`` – a DOCTYPE or entity.
2. ``not_a_response`` – the root is not ``samlp:Response`` (namespace-exact);
   ``unsupported_version`` – its Version is not 2.0; ``invalid_id`` – it has no usable ID.
3. ``status_not_success`` – the top-level StatusCode is not Success (:class:`StatusError`).
4. ``duplicate_id`` – two elements share an ID/Id/id/AssertionID/ResponseID value.
5. ``no_assertion``, ``multiple_assertions`` (counted anywhere in the document: Extensions,
   Advice, ds:Object, StatusDetail…), ``assertion_misplaced`` (not a direct child of the
   Response, or in another namespace); then 2.'s ``unsupported_version``/``invalid_id`` for it.
6. ``signature_placement`` – a ds:Signature anywhere but directly in the Response or Assertion
   right after its Issuer, or two on one element.
7. Per signature: ``signature_malformed`` (children other than SignedInfo, SignatureValue,
   KeyInfo; empty or commented values), ``multiple_references``, ``reference_mismatch`` (URI not
   ``"#"`` + the parent's ID), ``transform_not_allowed`` (anything but enveloped-signature +
   exclusive c14n, InclusiveNamespaces allowed), ``algorithm_not_allowed`` (RSA-SHA256 and
   RSA-SHA512 with SHA-256/SHA-512 digests; RSA-SHA1 and SHA-1 digests only with ``allow_sha1``).
8. ``signature_missing`` – ``require_signature_on`` is not met (checked before any crypto).
9. ``signature_invalid`` – a signature does not verify with any pinned certificate. Every
   signature present must verify, even one the policy does not require. Then
   ``key_info_not_allowed`` – its KeyInfo holds anything but ds:X509Data, ds:KeyName and a
   ds:KeyValue repeating the verifying key (an attacker's KeyValue, HMACKeyValue,
   RetrievalMethod, PGPData, a foreign element…).
10. EncryptedAssertion only, after the Response signature: ``decryption_failed``; then 4.–9. for
    the decrypted assertion (its IDs must not clash with the Response's).
11. ``issuer_mismatch`` – the Assertion Issuer (and the Response Issuer, when present) is not the
    IdP's entity ID.
12. While reading the assertion, in document order: ``malformed_assertion`` (two Subjects, no
    IssueInstant…), ``unsupported_content`` (EncryptedID, BaseID, EncryptedAttribute, unknown
    Condition), ``comment_in_text`` (a comment or PI inside NameID, Issuer, Audience,
    AttributeValue…: exclusive c14n drops comments from the digest, CVE-2017-11427 family),
    ``element_in_text`` (markup inside a plain-string field), ``malformed_time``.

:class:`TrustedIdp` refuses bad trust material with :class:`MetadataError` and the codes
``metadata_invalid``, ``too_many_certificates`` (AWS allows 10) and ``weak_certificate``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import get_args

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from idp.saml.constants import NS, DigestAlgorithm, SignatureAlgorithm, StatusCode, qname
from idp.saml.encryption import DecryptionError, decrypt_assertion
from idp.saml.metadata import entity_id, signing_certificates
from idp.saml.xmlparse import UnsafeXmlError, parse_xml
from sp_fixtures.xmldsig import (
    MAX_CERTIFICATES,
    ErrorCode,
    MetadataError,
    SignatureRequirement,
    VerificationError,
    check_certificate,
    check_root,
    checked_signature_of,
    collect_ids,
    describe,
    elements,
    enveloped_signature,
    parse_response_bytes,
    refuse_other_signatures,
    require_signatures,
    sole_assertion,
    verify_pinned,
)

__all__ = [
    "DEFAULT_DIGESTS",
    "DEFAULT_SIGNATURE_ALGORITHMS",
    "MAX_DOCUMENT_BYTES",
    "Attribute",
    "AuthnInfo",
    "Conditions",
    "ErrorCode",
    "MetadataError",
    "SignatureRequirement",
    "StatusError",
    "SubjectConfirmation",
    "TrustedIdp",
    "VerificationError",
    "VerifiedResponse",
    "parse_saml_time",
    "verify_response",
]

#: Signature algorithms accepted by default; RSA-SHA1 is added only by ``allow_sha1``.
DEFAULT_SIGNATURE_ALGORITHMS: tuple[SignatureAlgorithm, ...] = (
    SignatureAlgorithm.RSA_SHA256,
    SignatureAlgorithm.RSA_SHA512,
)
#: Digests accepted by default; SHA-1 is added only by ``allow_sha1``.
DEFAULT_DIGESTS: tuple[DigestAlgorithm, ...] = (DigestAlgorithm.SHA256, DigestAlgorithm.SHA512)
#: Largest decoded response accepted by default (1 MiB), refused before parsing (saml-attacks.md
#: §7 step 1). Real responses are a few KB; AWS's 100,000-character SAMLAssertion limit (checked
#: by the strict STS before decoding) is far below it.
MAX_DOCUMENT_BYTES = 1024 * 1024

_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})"
)
_ASSERTION_CHILDREN = frozenset(
    qname(NS.SAML, local)
    for local in (
        "Issuer",
        "Subject",
        "Conditions",
        "Advice",
        "Statement",
        "AuthnStatement",
        "AuthzDecisionStatement",
        "AttributeStatement",
    )
) | {qname(NS.DS, "Signature")}


class StatusError(VerificationError):
    """The IdP answered with a status other than Success."""

    def __init__(self, status: str, sub_status: str | None, message: str | None) -> None:
        detail = f" / {sub_status}" if sub_status else ""
        said = f": {message}" if message else ""
        super().__init__(ErrorCode.STATUS_NOT_SUCCESS, f"the IdP answered {status}{detail}{said}")
        self.status = status
        self.sub_status = sub_status
        self.status_message = message


@dataclass(frozen=True)
class TrustedIdp:
    """What an SP trusts about one IdP, taken out of band (from its metadata)."""

    entity_id: str
    """The IdP's entityID; Issuer values must equal it."""
    certificates: tuple[bytes, ...]
    """Pinned PEM signing certificates (1–10; several during a key rollover)."""
    decryption_keys: tuple[bytes, ...] = field(default=(), repr=False)
    """Unencrypted PEM private keys for EncryptedAssertion (AWS holds up to two)."""

    def __post_init__(self) -> None:
        if isinstance(self.certificates, bytes | str) or isinstance(
            self.decryption_keys, bytes | str
        ):
            raise TypeError("certificates and decryption_keys are sequences of PEM documents")
        object.__setattr__(self, "certificates", tuple(self.certificates))
        object.__setattr__(self, "decryption_keys", tuple(self.decryption_keys))
        if not self.entity_id:
            raise MetadataError(ErrorCode.METADATA_INVALID, "the IdP has no entity ID")
        if not self.certificates:
            raise MetadataError(ErrorCode.METADATA_INVALID, "no signing certificate to pin")
        if len(self.certificates) > MAX_CERTIFICATES:
            raise MetadataError(
                ErrorCode.TOO_MANY_CERTIFICATES,
                f"{len(self.certificates)} signing certificates; AWS allows "
                f"at most {MAX_CERTIFICATES}",
            )
        for index, cert_pem in enumerate(self.certificates):
            check_certificate(cert_pem, index)

    @classmethod
    def from_metadata(
        cls, document: bytes | str, *, decryption_keys: Sequence[bytes] = ()
    ) -> TrustedIdp:
        """Read the entity ID and signing certificates from IdP metadata."""
        try:
            root = parse_xml(document)
        except UnsafeXmlError as exc:
            raise MetadataError(
                ErrorCode.METADATA_INVALID, f"the metadata is refused: {exc}"
            ) from None
        if root.tag != qname(NS.MD, "EntityDescriptor"):
            raise MetadataError(
                ErrorCode.METADATA_INVALID,
                f"the metadata root is {describe(root)}, not md:EntityDescriptor",
            )
        descriptors = [
            child for child in elements(root) if child.tag == qname(NS.MD, "IDPSSODescriptor")
        ]
        if len(descriptors) != 1:
            raise MetadataError(
                ErrorCode.METADATA_INVALID,
                f"the metadata holds {len(descriptors)} IDPSSODescriptor "
                "elements; exactly one is needed",
            )
        encoded = signing_certificates(root)
        if len(encoded) > MAX_CERTIFICATES:
            raise MetadataError(
                ErrorCode.TOO_MANY_CERTIFICATES,
                f"the metadata lists {len(encoded)} signing certificates; AWS "
                f"allows at most {MAX_CERTIFICATES}",
            )
        certificates: list[bytes] = []
        for index, text in enumerate(encoded):
            try:
                der = base64.b64decode(text, validate=True)
                certificate = x509.load_der_x509_certificate(der)
            except (binascii.Error, ValueError) as exc:
                raise MetadataError(
                    ErrorCode.METADATA_INVALID,
                    f"signing certificate #{index + 1} is not a base64 DER certificate ({exc})",
                ) from None
            certificates.append(certificate.public_bytes(serialization.Encoding.PEM))
        return cls(
            entity_id=entity_id(root) or "",
            certificates=tuple(certificates),
            decryption_keys=tuple(decryption_keys),
        )


@dataclass(frozen=True)
class SubjectConfirmation:
    """One ``saml:SubjectConfirmation`` and its (optional) SubjectConfirmationData."""

    method: str
    recipient: str | None
    not_on_or_after: dt.datetime | None
    not_before: dt.datetime | None
    in_response_to: str | None


@dataclass(frozen=True)
class Conditions:
    """The assertion's ``saml:Conditions``."""

    not_before: dt.datetime | None
    not_on_or_after: dt.datetime | None
    audiences: tuple[str, ...]
    """Every Audience of every AudienceRestriction, in document order."""
    audience_restrictions: tuple[tuple[str, ...], ...]
    """The Audiences per AudienceRestriction: each restriction must be met (SAML core §2.5.1.4)."""
    one_time_use: bool
    has_proxy_restriction: bool


@dataclass(frozen=True)
class AuthnInfo:
    """The assertion's one ``saml:AuthnStatement``."""

    authn_instant: dt.datetime
    session_index: str | None
    session_not_on_or_after: dt.datetime | None
    context_class: str | None
    """The AuthnContextClassRef, when given."""


@dataclass(frozen=True)
class Attribute:
    """One ``saml:Attribute``; values are the full text of each AttributeValue, in order."""

    name: str
    name_format: str | None
    values: tuple[str, ...]
    friendly_name: str | None = None


@dataclass(frozen=True)
class VerifiedResponse:
    """What a verified Response says, read only from the signed element(s)."""

    response_signed: bool
    """The Response signature verified (so it covers the assertion and the fields below)."""
    assertion_signed: bool
    """The Assertion's own signature verified."""
    encrypted: bool
    """The assertion arrived as an EncryptedAssertion."""
    signature_algorithm: SignatureAlgorithm
    """Of the Assertion signature when there is one, else of the Response signature."""
    digest_algorithm: DigestAlgorithm
    """Digest of that same signature."""
    certificate: bytes
    """The pinned PEM certificate that verified that same signature."""
    response_id: str
    destination: str | None
    """Response/@Destination; signed only when ``response_fields_signed``."""
    in_response_to: str | None
    """Response/@InResponseTo; signed only when ``response_fields_signed``."""
    status: str
    """Top-level StatusCode (always Success); signed only when ``response_fields_signed``."""
    response_issuer: str | None
    """Response Issuer (checked against the entity ID when present)."""
    response_issue_instant: dt.datetime | None
    assertion_id: str
    issuer: str
    """The Assertion Issuer, equal to the trusted entity ID."""
    issue_instant: dt.datetime
    name_id: str | None
    name_id_format: str | None
    name_qualifier: str | None
    sp_name_qualifier: str | None
    subject_confirmations: tuple[SubjectConfirmation, ...]
    conditions: Conditions | None
    authn: AuthnInfo | None
    attributes: tuple[Attribute, ...]
    """Every Attribute of every AttributeStatement, in document order."""

    @property
    def response_fields_signed(self) -> bool:
        """Return whether Destination, InResponseTo, Status and the Response Issuer are signed."""
        return self.response_signed

    def values(self, name: str) -> tuple[str, ...]:
        """Return the values of every attribute called ``name``, in document order."""
        return tuple(
            value
            for attribute in self.attributes
            if attribute.name == name
            for value in attribute.values
        )


def _fail(code: ErrorCode, message: str) -> VerificationError:
    return VerificationError(code, message)


def parse_saml_time(value: str, what: str = "time") -> dt.datetime:
    """Parse an ``xs:dateTime`` with a Z or ±hh:mm zone into an aware UTC datetime."""
    match = _DATETIME.fullmatch(value)
    if match is None:
        raise _fail(
            ErrorCode.MALFORMED_TIME,
            f"{what} {value!r} is not an xs:dateTime with a time zone "
            "(YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm))",
        )
    year, month, day, hour, minute, second = (int(part) for part in match.group(*range(1, 7)))
    fraction = (match.group(7) or "")[:6].ljust(6, "0")
    zone = match.group(8)
    offset = dt.timedelta(0)
    if zone != "Z":
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if minutes > 59 or hours > 14 or (hours == 14 and minutes):
            raise _fail(ErrorCode.MALFORMED_TIME, f"{what} {value!r} has an impossible offset")
        offset = dt.timedelta(hours=hours, minutes=minutes) * (-1 if zone[0] == "-" else 1)
    try:
        moment = dt.datetime(
            year, month, day, hour, minute, second, int(fraction), tzinfo=dt.timezone(offset)
        )
    except ValueError as exc:
        raise _fail(ErrorCode.MALFORMED_TIME, f"{what} {value!r}: {exc}") from None
    return moment.astimezone(dt.UTC)


def _check_status(response: etree._Element) -> str:
    status = _only(response, NS.SAMLP, "Status", ErrorCode.STATUS_NOT_SUCCESS, "the Response")
    code = (
        None
        if status is None
        else _only(status, NS.SAMLP, "StatusCode", ErrorCode.STATUS_NOT_SUCCESS, "samlp:Status")
    )
    if status is None or code is None:
        raise StatusError("(no StatusCode)", None, None)
    value = code.get("Value") or ""
    if value != StatusCode.SUCCESS:
        sub_code = _only(
            code, NS.SAMLP, "StatusCode", ErrorCode.STATUS_NOT_SUCCESS, "samlp:StatusCode"
        )
        message = _only(
            status, NS.SAMLP, "StatusMessage", ErrorCode.STATUS_NOT_SUCCESS, "samlp:Status"
        )
        raise StatusError(
            value,
            sub_code.get("Value") if sub_code is not None else None,
            message.text if message is not None else None,
        )
    return value


def _decrypt(encrypted: etree._Element, idp: TrustedIdp) -> etree._Element:
    if not idp.decryption_keys:
        raise _fail(
            ErrorCode.DECRYPTION_FAILED,
            "the assertion is encrypted but no decryption key is configured for the IdP",
        )
    try:
        return decrypt_assertion(encrypted, idp.decryption_keys)
    except DecryptionError as exc:
        raise _fail(ErrorCode.DECRYPTION_FAILED, exc.message) from None


def _algorithm_policy(
    allow_sha1: bool,
    allowed_signature_algorithms: Sequence[SignatureAlgorithm],
    allowed_digests: Sequence[DigestAlgorithm],
) -> tuple[tuple[SignatureAlgorithm, ...], tuple[DigestAlgorithm, ...]]:
    """Return the signature algorithms and digests to accept; SHA-1 only when opted in."""
    if not allowed_signature_algorithms or not allowed_digests:
        raise ValueError("allow at least one signature algorithm and one digest")
    algorithms = tuple(SignatureAlgorithm(item) for item in allowed_signature_algorithms)
    digests = tuple(DigestAlgorithm(item) for item in allowed_digests)
    sha1 = allow_sha1
    if not sha1:
        if SignatureAlgorithm.RSA_SHA1 in algorithms or DigestAlgorithm.SHA1 in digests:
            raise ValueError(
                "SHA-1 is listed in allowed_signature_algorithms/allowed_digests, but SHA-1 is "
                "accepted only with allow_sha1=True"
            )
        return algorithms, digests
    if SignatureAlgorithm.RSA_SHA1 not in algorithms:
        algorithms += (SignatureAlgorithm.RSA_SHA1,)
    if DigestAlgorithm.SHA1 not in digests:
        digests += (DigestAlgorithm.SHA1,)
    return algorithms, digests


def verify_response(
    document: bytes,
    idp: TrustedIdp,
    *,
    allow_sha1: bool = False,
    allowed_signature_algorithms: Sequence[SignatureAlgorithm] = DEFAULT_SIGNATURE_ALGORITHMS,
    allowed_digests: Sequence[DigestAlgorithm] = DEFAULT_DIGESTS,
    require_signature_on: SignatureRequirement = "either",
    max_document_bytes: int = MAX_DOCUMENT_BYTES,
) -> VerifiedResponse:
    """Verify a decoded SAMLResponse against ``idp``; return what its signatures cover.

    SHA-1 (an RSA-SHA1 SignatureMethod or a SHA-1 DigestMethod) is refused unless ``allow_sha1``
    is True; it then joins the allowed lists. A document over ``max_document_bytes`` is refused
    before it is parsed.
    """
    if require_signature_on not in get_args(SignatureRequirement):
        raise ValueError(f"require_signature_on must be one of {get_args(SignatureRequirement)}")
    if isinstance(max_document_bytes, bool) or not (
        isinstance(max_document_bytes, int) and max_document_bytes > 0
    ):
        raise ValueError("max_document_bytes must be a positive number of bytes")
    algorithms, digests = _algorithm_policy(
        allow_sha1, allowed_signature_algorithms, allowed_digests
    )
    if not isinstance(document, bytes):
        raise TypeError("verify_response takes the decoded SAML response as bytes")
    if len(document) > max_document_bytes:
        raise _fail(
            ErrorCode.DOCUMENT_TOO_LARGE,
            f"the response is {len(document):,} bytes; at most {max_document_bytes:,} are "
            "accepted (max_document_bytes); refused before parsing",
        )

    response = parse_response_bytes(document)
    check_root(response, NS.SAMLP, "Response")
    status = _check_status(response)
    ids: dict[str, etree._Element] = {}
    collect_ids(response, ids)
    holder = sole_assertion(response, decrypted=False)
    encrypted = holder.tag == qname(NS.SAML, "EncryptedAssertion")
    if not encrypted:
        check_root(holder, NS.SAML, "Assertion")
    response_signature = enveloped_signature(response)
    assertion_signature = None if encrypted else enveloped_signature(holder)
    refuse_other_signatures(
        response,
        [
            signature
            for signature in (response_signature, assertion_signature)
            if signature is not None
        ],
    )
    checked_response = checked_signature_of(response, algorithms=algorithms, digests=digests)
    checked_assertion = (
        None if encrypted else checked_signature_of(holder, algorithms=algorithms, digests=digests)
    )
    require_signatures(
        require_signature_on,
        checked_response is not None,
        None if encrypted else checked_assertion is not None,
    )
    response_cert = (
        verify_pinned(checked_response, idp.certificates) if checked_response is not None else None
    )

    assertion = holder
    if encrypted:
        assertion = _decrypt(holder, idp)
        sole_assertion(assertion, decrypted=True)
        check_root(assertion, NS.SAML, "Assertion")
        collect_ids(assertion, ids)
        inner_signature = enveloped_signature(assertion)
        refuse_other_signatures(assertion, [inner_signature] if inner_signature is not None else [])
        checked_assertion = checked_signature_of(assertion, algorithms=algorithms, digests=digests)
        require_signatures(
            require_signature_on, checked_response is not None, checked_assertion is not None
        )
    assertion_cert = (
        verify_pinned(checked_assertion, idp.certificates)
        if checked_assertion is not None
        else None
    )

    chosen = checked_assertion or checked_response
    certificate = assertion_cert or response_cert
    if chosen is None or certificate is None:  # pragma: no cover - _require refused it
        raise _fail(ErrorCode.SIGNATURE_MISSING, "nothing is signed")
    response_issuer = _issuer(response, idp, "Response", required=False)
    issuer = _issuer(assertion, idp, "Assertion", required=True)
    response_instant = _time(response, "IssueInstant", "Response IssueInstant")
    reader = _AssertionReader(assertion)
    return VerifiedResponse(
        response_signed=checked_response is not None,
        assertion_signed=checked_assertion is not None,
        encrypted=encrypted,
        signature_algorithm=chosen.algorithm,
        digest_algorithm=chosen.digest,
        certificate=certificate,
        response_id=response.get("ID") or "",
        destination=response.get("Destination"),
        in_response_to=response.get("InResponseTo"),
        status=status,
        response_issuer=response_issuer,
        response_issue_instant=response_instant,
        assertion_id=assertion.get("ID") or "",
        issuer=issuer or "",
        issue_instant=reader.issue_instant,
        name_id=reader.name_id,
        name_id_format=reader.name_id_format,
        name_qualifier=reader.name_qualifier,
        sp_name_qualifier=reader.sp_name_qualifier,
        subject_confirmations=reader.confirmations,
        conditions=reader.conditions,
        authn=reader.authn,
        attributes=reader.attributes,
    )


def _only(
    parent: etree._Element, ns: NS, local: str, code: ErrorCode, where: str
) -> etree._Element | None:
    found = [child for child in elements(parent) if child.tag == qname(ns, local)]
    if len(found) > 1:
        raise _fail(
            code,
            f"{where} holds {len(found)} {ns.name.lower()}:{local} elements; "
            "at most one is allowed",
        )
    return found[0] if found else None


def _text(element: etree._Element, what: str, *, markup: bool = False) -> str:
    """Return all the text of ``element``, refusing comments, PIs and (unless ``markup``) tags."""
    for node in element.iterdescendants():
        if isinstance(node, etree._Comment | etree._ProcessingInstruction | etree._Entity):
            raise _fail(
                ErrorCode.COMMENT_IN_TEXT,
                f"{what} contains an XML comment or processing instruction; exclusive "
                "c14n leaves it out of the digest, so the value is refused "
                "(CVE-2017-11427 family)",
            )
        if not markup:
            raise _fail(
                ErrorCode.ELEMENT_IN_TEXT,
                f"{what} must be plain text, found {describe(node)} inside",
            )
    parts = [element.text or ""]
    for node in element.iterdescendants():
        parts += [node.text or "", node.tail or ""]
    return "".join(parts)


def _time(element: etree._Element, attribute: str, what: str) -> dt.datetime | None:
    value = element.get(attribute)
    return None if value is None else parse_saml_time(value, what)


def _issuer(element: etree._Element, idp: TrustedIdp, where: str, *, required: bool) -> str | None:
    issuer_element = _only(element, NS.SAML, "Issuer", ErrorCode.MALFORMED_ASSERTION, where)
    if issuer_element is None:
        if required:
            raise _fail(ErrorCode.ISSUER_MISMATCH, f"the {where} has no Issuer")
        return None
    issuer = _text(issuer_element, f"the {where} Issuer")
    if issuer != idp.entity_id:
        raise _fail(
            ErrorCode.ISSUER_MISMATCH,
            f"the {where} Issuer {issuer!r} is not the trusted IdP {idp.entity_id!r}",
        )
    return issuer


class _AssertionReader:
    """Read the fields of a verified assertion, refusing anything ambiguous."""

    def __init__(self, assertion: etree._Element) -> None:
        self.name_id: str | None = None
        self.name_id_format: str | None = None
        self.name_qualifier: str | None = None
        self.sp_name_qualifier: str | None = None
        self.confirmations: tuple[SubjectConfirmation, ...] = ()
        self.conditions: Conditions | None = None
        self.authn: AuthnInfo | None = None
        attributes: list[Attribute] = []
        instant = _time(assertion, "IssueInstant", "Assertion IssueInstant")
        if instant is None:
            raise _fail(ErrorCode.MALFORMED_ASSERTION, "the Assertion has no IssueInstant")
        self.issue_instant = instant
        seen: set[str] = set()
        for child in elements(assertion):
            if child.tag not in _ASSERTION_CHILDREN:
                raise _fail(
                    ErrorCode.MALFORMED_ASSERTION, f"unexpected {describe(child)} in the Assertion"
                )
            local = etree.QName(child).localname
            if local in seen and local in ("Subject", "Conditions", "AuthnStatement"):
                raise _fail(
                    ErrorCode.MALFORMED_ASSERTION, f"the Assertion holds more than one saml:{local}"
                )
            seen.add(local)
            if local == "Subject":
                self._subject(child)
            elif local == "Conditions":
                self.conditions = _conditions(child)
            elif local == "AuthnStatement":
                self.authn = _authn(child)
            elif local == "AttributeStatement":
                attributes.extend(_attributes(child))
        self.attributes = tuple(attributes)

    def _subject(self, subject: etree._Element) -> None:
        confirmations: list[SubjectConfirmation] = []
        for child in elements(subject):
            local = etree.QName(child).localname
            if child.tag == qname(NS.SAML, "NameID") and self.name_id is None:
                self.name_id = _text(child, "the NameID")
                self.name_id_format = child.get("Format")
                self.name_qualifier = child.get("NameQualifier")
                self.sp_name_qualifier = child.get("SPNameQualifier")
            elif child.tag == qname(NS.SAML, "SubjectConfirmation"):
                confirmations.append(_confirmation(child))
            elif child.tag in (qname(NS.SAML, "BaseID"), qname(NS.SAML, "EncryptedID")):
                raise _fail(
                    ErrorCode.UNSUPPORTED_CONTENT,
                    f"a Subject with saml:{local} is not supported; send a NameID",
                )
            else:
                raise _fail(
                    ErrorCode.MALFORMED_ASSERTION, f"unexpected {describe(child)} in the Subject"
                )
        self.confirmations = tuple(confirmations)


def _confirmation(confirmation: etree._Element) -> SubjectConfirmation:
    data = _only(
        confirmation,
        NS.SAML,
        "SubjectConfirmationData",
        ErrorCode.MALFORMED_ASSERTION,
        "a SubjectConfirmation",
    )
    if data is None:
        return SubjectConfirmation(confirmation.get("Method") or "", None, None, None, None)
    return SubjectConfirmation(
        method=confirmation.get("Method") or "",
        recipient=data.get("Recipient"),
        not_on_or_after=_time(data, "NotOnOrAfter", "SubjectConfirmationData NotOnOrAfter"),
        not_before=_time(data, "NotBefore", "SubjectConfirmationData NotBefore"),
        in_response_to=data.get("InResponseTo"),
    )


def _conditions(conditions: etree._Element) -> Conditions:
    not_before = _time(conditions, "NotBefore", "Conditions NotBefore")
    not_on_or_after = _time(conditions, "NotOnOrAfter", "Conditions NotOnOrAfter")
    restrictions: list[tuple[str, ...]] = []
    one_time_use = proxy = False
    for child in elements(conditions):
        if child.tag == qname(NS.SAML, "AudienceRestriction"):
            audiences: list[str] = []
            for audience in elements(child):
                if audience.tag != qname(NS.SAML, "Audience"):
                    raise _fail(
                        ErrorCode.MALFORMED_ASSERTION,
                        f"unexpected {describe(audience)} in an AudienceRestriction",
                    )
                audiences.append(_text(audience, "an Audience"))
            restrictions.append(tuple(audiences))
        elif child.tag == qname(NS.SAML, "OneTimeUse"):
            one_time_use = True
        elif child.tag == qname(NS.SAML, "ProxyRestriction"):
            proxy = True
        else:
            # SAML core §2.5.1: a condition the relying party does not understand is not valid.
            raise _fail(
                ErrorCode.UNSUPPORTED_CONTENT, f"the condition {describe(child)} is not understood"
            )
    return Conditions(
        not_before=not_before,
        not_on_or_after=not_on_or_after,
        audiences=tuple(audience for group in restrictions for audience in group),
        audience_restrictions=tuple(restrictions),
        one_time_use=one_time_use,
        has_proxy_restriction=proxy,
    )


def _authn(statement: etree._Element) -> AuthnInfo:
    instant = _time(statement, "AuthnInstant", "AuthnInstant")
    if instant is None:
        raise _fail(ErrorCode.MALFORMED_ASSERTION, "the AuthnStatement has no AuthnInstant")
    context_class: str | None = None
    context = _only(
        statement, NS.SAML, "AuthnContext", ErrorCode.MALFORMED_ASSERTION, "the AuthnStatement"
    )
    if context is not None:
        class_ref = _only(
            context,
            NS.SAML,
            "AuthnContextClassRef",
            ErrorCode.MALFORMED_ASSERTION,
            "the AuthnContext",
        )
        if class_ref is not None:
            context_class = _text(class_ref, "the AuthnContextClassRef")
    return AuthnInfo(
        authn_instant=instant,
        session_index=statement.get("SessionIndex"),
        session_not_on_or_after=_time(statement, "SessionNotOnOrAfter", "SessionNotOnOrAfter"),
        context_class=context_class,
    )


def _attributes(statement: etree._Element) -> list[Attribute]:
    found: list[Attribute] = []
    for child in elements(statement):
        if child.tag == qname(NS.SAML, "EncryptedAttribute"):
            raise _fail(ErrorCode.UNSUPPORTED_CONTENT, "saml:EncryptedAttribute is not supported")
        if child.tag != qname(NS.SAML, "Attribute"):
            raise _fail(
                ErrorCode.MALFORMED_ASSERTION,
                f"unexpected {describe(child)} in an AttributeStatement",
            )
        name = child.get("Name") or ""
        values: list[str] = []
        for value in elements(child):
            if value.tag != qname(NS.SAML, "AttributeValue"):
                raise _fail(
                    ErrorCode.MALFORMED_ASSERTION,
                    f"unexpected {describe(value)} in the attribute {name!r}",
                )
            # Complex values (e.g. a NameID in eduPersonTargetedID) read as their joined text.
            values.append(_text(value, f"a value of the attribute {name!r}", markup=True))
        found.append(
            Attribute(
                name=name,
                name_format=child.get("NameFormat"),
                values=tuple(values),
                friendly_name=child.get("FriendlyName"),
            )
        )
    return found
