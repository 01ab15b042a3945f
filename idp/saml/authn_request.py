"""SAML requests that reach the IdP: decode the binding, parse, check the signature and the age.

HTTP-Redirect carries the message deflated and base64-encoded in the query string, its signature
in ``SigAlg``/``Signature`` over the raw query octets (SAML bindings §3.4.4.1); HTTP-POST carries
plain base64 XML with an enveloped ``ds:Signature``. Transport limits come first (a deflate bomb
is refused before it inflates), then the one hardened parser, then a signature with exactly the
layout SPs produce, verified only with certificates registered for the SP — never the key a
message brings along (saml-attacks.md §3.2, §3.5, §7). No Flask here: the views pass in strings.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import re
import zlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote_plus

import xmlsec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from idp.errors import IdpError
from idp.saml.constants import NS, SignatureAlgorithm, Transform, qname
from idp.saml.xmlparse import UnsafeXmlError, parse_xml

MAX_ENCODED_BYTES = 128 * 1024
"""Longest base64 message accepted; real AuthnRequests are a few kilobytes."""
MAX_XML_BYTES = 256 * 1024
"""Most a Redirect message may inflate to (the deflate-bomb limit, ruby-saml CVE-2025-25293)."""

_HASHES: dict[SignatureAlgorithm, type[hashes.HashAlgorithm]] = {
    SignatureAlgorithm.RSA_SHA1: hashes.SHA1,  # noqa: S303 - refused unless allowed
    SignatureAlgorithm.RSA_SHA256: hashes.SHA256,
    SignatureAlgorithm.RSA_SHA512: hashes.SHA512,
}
_XMLSEC_SIGNATURE = {
    SignatureAlgorithm.RSA_SHA1: xmlsec.constants.TransformRsaSha1,
    SignatureAlgorithm.RSA_SHA256: xmlsec.constants.TransformRsaSha256,
    SignatureAlgorithm.RSA_SHA512: xmlsec.constants.TransformRsaSha512,
}
_XMLSEC_DIGEST = {
    "http://www.w3.org/2000/09/xmldsig#sha1": xmlsec.constants.TransformSha1,
    "http://www.w3.org/2001/04/xmlenc#sha256": xmlsec.constants.TransformSha256,
    "http://www.w3.org/2001/04/xmlenc#sha512": xmlsec.constants.TransformSha512,
}
_C14N = frozenset({Transform.EXC_C14N.value, Transform.C14N.value})
_NCNAME = re.compile(r"[^\W\d][\w.\-]*")

STRONG_ALGORITHMS = frozenset({SignatureAlgorithm.RSA_SHA256, SignatureAlgorithm.RSA_SHA512})
"""Signature algorithms accepted unless SHA-1 is explicitly allowed."""


class Binding(StrEnum):
    """How a message came: the two bindings this IdP receives."""

    REDIRECT = "redirect"
    POST = "post"


class SamlMessageError(IdpError):
    """Root of the errors about a SAML message received over HTTP."""

    code = "bad_saml_message"


class BadBase64Error(SamlMessageError):
    """The message is not valid base64."""

    code = "bad_base64"


class BadDeflateError(SamlMessageError):
    """A Redirect-binding message does not inflate (raw DEFLATE, RFC 1951)."""

    code = "bad_deflate"


class MessageTooLargeError(SamlMessageError):
    """The message, encoded or inflated, is over the transport limits."""

    code = "too_large"


class NotXmlError(SamlMessageError):
    """The decoded message is not well-formed XML."""

    code = "not_xml"


class DoctypeRefusedError(SamlMessageError):
    """The XML carries a DOCTYPE or entities, which are refused (XXE, billion laughs)."""

    code = "doctype_refused"


class WrongBindingError(SamlMessageError):
    """The message is encoded for the other binding, or asks for one the IdP does not answer on."""

    code = "wrong_binding"


class WrongMessageError(SamlMessageError):
    """The XML is another kind of SAML message than the endpoint takes."""

    code = "wrong_message"


class MalformedMessageError(SamlMessageError):
    """A required part is missing or has the wrong form (ID, Version, IssueInstant, …)."""

    code = "malformed_message"


class ExpiredRequestError(SamlMessageError):
    """The request's IssueInstant is too old, or in the future beyond the allowed skew."""

    code = "expired_request"


class SignatureMissingError(SamlMessageError):
    """The SP must sign its requests and this one is unsigned."""

    code = "unsigned_request"


class SignatureInvalidError(SamlMessageError):
    """The signature is malformed, uses a refused algorithm, or does not verify."""

    code = "bad_signature"


@dataclass(frozen=True)
class ReceivedMessage:
    """A SAML message as received: its XML root and what the binding carried beside it."""

    root: etree._Element
    binding: Binding
    parameter: str
    """``SAMLRequest`` or ``SAMLResponse``."""
    relay_state: str | None
    query_string: bytes = b""
    """The raw query string (Redirect binding): the signed octets are cut from it."""


@dataclass(frozen=True)
class AuthnRequest:
    """What the IdP reads from a ``samlp:AuthnRequest``."""

    request_id: str
    issuer: str | None
    issue_instant: dt.datetime
    destination: str | None = None
    acs_url: str | None = None
    acs_index: int | None = None
    protocol_binding: str | None = None
    force_authn: bool = False
    is_passive: bool = False
    name_id_format: str | None = None
    """NameIDPolicy/@Format, when the SP asks for one."""
    sp_name_qualifier: str | None = None
    allow_create: bool | None = None


def _decode_base64(text: str, *, what: str) -> bytes:
    compact = "".join(text.split())
    if not compact:
        raise BadBase64Error(f"the {what} is empty")
    if len(compact) > MAX_ENCODED_BYTES:
        raise MessageTooLargeError(
            f"the {what} is {len(compact)} characters long; at most {MAX_ENCODED_BYTES} are "
            "accepted"
        )
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise BadBase64Error(f"the {what} is not valid base64") from None


def _inflate(data: bytes, *, what: str) -> bytes:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        xml = inflater.decompress(data, MAX_XML_BYTES + 1)
    except zlib.error as exc:
        if _looks_like_xml(data):
            raise WrongBindingError(
                f"the {what} is plain base64 XML, as the HTTP-POST binding sends it, but came "
                "in a URL; the HTTP-Redirect binding deflates it first (SAML bindings §3.4.4.1)"
            ) from None
        raise BadDeflateError(
            f"the {what} does not inflate (raw DEFLATE expected): {exc}"
        ) from None
    if len(xml) > MAX_XML_BYTES or inflater.unconsumed_tail:
        raise MessageTooLargeError(
            f"the {what} inflates to more than {MAX_XML_BYTES} bytes; refused"
        )
    if not inflater.eof:
        raise BadDeflateError(f"the {what} is a truncated DEFLATE stream")
    return xml


def _looks_like_xml(data: bytes) -> bool:
    return data.lstrip()[:1] == b"<"


def _parse(document: bytes, *, what: str) -> etree._Element:
    try:
        return parse_xml(document)
    except UnsafeXmlError as exc:
        if (
            b"<!DOCTYPE" in document
            or b"<!ENTITY" in document
            or "DOCTYPE" in str(exc)
            or ("entity" in str(exc))
        ):
            raise DoctypeRefusedError(
                f"the {what} carries a DOCTYPE or entity declarations, which are refused "
                "(XXE and entity expansion)"
            ) from None
        raise NotXmlError(f"the {what} is not XML: {exc}") from None


def decode_redirect(
    params: Mapping[str, str], query_string: bytes, parameter: str = "SAMLRequest"
) -> ReceivedMessage:
    """Decode a message sent with HTTP-Redirect (deflated, base64, in the query string)."""
    encoded = params.get(parameter)
    if encoded is None:
        raise MalformedMessageError(f"no {parameter} parameter in the URL")
    # A '+' that the SP did not percent-encode arrives as a space.
    raw = _decode_base64(encoded.replace(" ", "+"), what=parameter)
    root = _parse(_inflate(raw, what=parameter), what=parameter)
    return ReceivedMessage(
        root, Binding.REDIRECT, parameter, params.get("RelayState"), query_string
    )


def decode_post(form: Mapping[str, str], parameter: str = "SAMLRequest") -> ReceivedMessage:
    """Decode a message sent with HTTP-POST (base64 XML in a form field)."""
    encoded = form.get(parameter)
    if encoded is None:
        raise MalformedMessageError(f"no {parameter} field in the form")
    raw = _decode_base64(encoded, what=parameter)
    if not _looks_like_xml(raw):
        try:
            inflated = zlib.decompressobj(-zlib.MAX_WBITS).decompress(raw, 64)
        except zlib.error:
            inflated = b""
        if _looks_like_xml(inflated):
            raise WrongBindingError(
                f"the {parameter} is deflated, as the HTTP-Redirect binding sends it, but came "
                "in a POST form; the HTTP-POST binding sends plain base64 XML "
                "(SAML bindings §3.5.4)"
            )
    return ReceivedMessage(
        _parse(raw, what=parameter), Binding.POST, parameter, form.get("RelayState")
    )


def parse_time(value: str | None, *, what: str) -> dt.datetime:
    """Parse an ``xs:dateTime`` in UTC, as SAML requires."""
    if not value:
        raise MalformedMessageError(f"the {what} is missing")
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedMessageError(f"the {what} {value!r} is not an xs:dateTime") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


def check_envelope(root: etree._Element, local: str) -> tuple[str, str | None, dt.datetime]:
    """Check the tag, Version and ID of a request or response; return ID, Issuer, IssueInstant."""
    if root.tag != qname(NS.SAMLP, local):
        found = etree.QName(root)
        raise WrongMessageError(
            f"expected a samlp:{local}, found <{found.localname}> in namespace {found.namespace!r}"
        )
    if root.get("Version") != "2.0":
        raise MalformedMessageError(
            f"the {local} has Version {root.get('Version')!r}; only SAML 2.0 is accepted"
        )
    message_id = root.get("ID") or ""
    if not _NCNAME.fullmatch(message_id):
        raise MalformedMessageError(
            f"the {local} ID {message_id!r} is missing or not an xs:ID (NCName)"
        )
    issuer = root.find(qname(NS.SAML, "Issuer"))
    issuer_text = (issuer.text or "").strip() or None if issuer is not None else None
    return (
        message_id,
        issuer_text,
        parse_time(root.get("IssueInstant"), what=f"{local} IssueInstant"),
    )


def _boolean(value: str | None, *, what: str) -> bool | None:
    if value is None:
        return None
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise MalformedMessageError(f"{what} is {value!r}, not an xs:boolean")


def parse_authn_request(root: etree._Element) -> AuthnRequest:
    """Read the fields the IdP honours from a parsed ``samlp:AuthnRequest``."""
    request_id, issuer, issue_instant = check_envelope(root, "AuthnRequest")
    index = root.get("AssertionConsumerServiceIndex")
    if index is not None and not index.isdigit():
        raise MalformedMessageError(
            f"AssertionConsumerServiceIndex {index!r} is not an unsigned number"
        )
    policy = root.find(qname(NS.SAMLP, "NameIDPolicy"))
    return AuthnRequest(
        request_id=request_id,
        issuer=issuer,
        issue_instant=issue_instant,
        destination=root.get("Destination"),
        acs_url=root.get("AssertionConsumerServiceURL"),
        acs_index=int(index) if index is not None else None,
        protocol_binding=root.get("ProtocolBinding"),
        force_authn=bool(_boolean(root.get("ForceAuthn"), what="ForceAuthn")),
        is_passive=bool(_boolean(root.get("IsPassive"), what="IsPassive")),
        name_id_format=policy.get("Format") if policy is not None else None,
        sp_name_qualifier=policy.get("SPNameQualifier") if policy is not None else None,
        allow_create=(
            _boolean(policy.get("AllowCreate"), what="NameIDPolicy/@AllowCreate")
            if policy is not None
            else None
        ),
    )


def check_age(
    issue_instant: dt.datetime,
    *,
    now: dt.datetime,
    max_age: dt.timedelta,
    skew: dt.timedelta,
    what: str = "AuthnRequest",
) -> None:
    """Refuse a message issued more than ``max_age`` ago, or later than ``now + skew``."""
    if issue_instant > now + skew:
        raise ExpiredRequestError(
            f"the {what} was issued at {issue_instant.isoformat()}, in the future "
            f"(now {now.isoformat()}, allowed skew {int(skew.total_seconds())} s)"
        )
    if issue_instant < now - max_age - skew:
        age = int((now - issue_instant).total_seconds())
        raise ExpiredRequestError(
            f"the {what} has expired: issued at {issue_instant.isoformat()}, {age} s ago "
            f"(at most {int(max_age.total_seconds())} s are accepted)"
        )


def is_signed(message: ReceivedMessage, params: Mapping[str, str] | None = None) -> bool:
    """Return whether the message carries a signature for its binding."""
    if message.binding is Binding.REDIRECT:
        return params is not None and ("Signature" in params or "SigAlg" in params)
    return any(child.tag == qname(NS.DS, "Signature") for child in message.root)


def verify_signature(
    message: ReceivedMessage,
    params: Mapping[str, str],
    certificates: Sequence[bytes],
    *,
    algorithms: Collection[SignatureAlgorithm] = STRONG_ALGORITHMS,
) -> SignatureAlgorithm:
    """Verify the message's signature with one of the registered PEM ``certificates``."""
    if not certificates:
        raise SignatureInvalidError(
            "the message is signed but no certificate is registered for its sender to check it"
        )
    if message.binding is Binding.REDIRECT:
        return _verify_redirect(message, params, certificates, algorithms)
    return _verify_enveloped(message.root, certificates, algorithms)


def _raw_query_values(query_string: bytes) -> dict[str, str]:
    values: dict[str, str] = {}
    for part in query_string.decode("ascii", "replace").split("&"):
        name, _, value = part.partition("=")
        values.setdefault(unquote_plus(name), value)
    return values


def _verify_redirect(
    message: ReceivedMessage,
    params: Mapping[str, str],
    certificates: Sequence[bytes],
    algorithms: Collection[SignatureAlgorithm],
) -> SignatureAlgorithm:
    sig_alg, signature_text = params.get("SigAlg"), params.get("Signature")
    if not sig_alg or not signature_text:
        raise SignatureInvalidError("a signed Redirect message needs both SigAlg and Signature")
    algorithm = _allowed_algorithm(sig_alg, algorithms)
    try:
        signature = base64.b64decode(
            "".join(signature_text.replace(" ", "+").split()), validate=True
        )
    except (binascii.Error, ValueError):
        raise SignatureInvalidError("the Signature parameter is not valid base64") from None
    raw = _raw_query_values(message.query_string)
    if message.parameter not in raw or "SigAlg" not in raw:
        raise SignatureInvalidError("the signed parameters are missing from the query string")
    parts = [f"{message.parameter}={raw[message.parameter]}"]
    if "RelayState" in raw:
        parts.append(f"RelayState={raw['RelayState']}")
    parts.append(f"SigAlg={raw['SigAlg']}")
    signed = "&".join(parts).encode("ascii")
    for cert_pem in certificates:
        try:
            _public_key(cert_pem).verify(
                signature, signed, padding.PKCS1v15(), _HASHES[algorithm]()
            )
        except InvalidSignature:
            continue
        return algorithm
    raise SignatureInvalidError(
        f"the Redirect signature does not verify with the {len(certificates)} certificate(s) "
        "registered for the sender"
    )


def _allowed_algorithm(uri: str, algorithms: Collection[SignatureAlgorithm]) -> SignatureAlgorithm:
    try:
        algorithm = SignatureAlgorithm(uri)
    except ValueError:
        algorithm = None
    if algorithm is None or algorithm not in algorithms:
        allowed = ", ".join(sorted(a.value for a in algorithms))
        raise SignatureInvalidError(f"signature algorithm {uri!r} is refused (allowed: {allowed})")
    return algorithm


@functools.lru_cache(maxsize=64)
def _public_key(cert_pem: bytes) -> rsa.RSAPublicKey:
    key = x509.load_pem_x509_certificate(cert_pem).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureInvalidError("only RSA certificates are supported for request signatures")
    return key


def _elements(parent: etree._Element) -> list[etree._Element]:
    return [child for child in parent if isinstance(child.tag, str)]


def _ds(element: etree._Element, local: str) -> list[etree._Element]:
    return [child for child in _elements(element) if child.tag == qname(NS.DS, local)]


def _verify_enveloped(
    root: etree._Element, certificates: Sequence[bytes], algorithms: Collection[SignatureAlgorithm]
) -> SignatureAlgorithm:
    """Check the one enveloped signature's layout, then verify it with a pinned key."""
    everywhere = list(root.iter(qname(NS.DS, "Signature")))
    own = _ds(root, "Signature")
    if len(everywhere) != 1 or len(own) != 1:
        raise SignatureInvalidError(
            f"exactly one ds:Signature, directly inside the message, is allowed (found "
            f"{len(everywhere)}, {len(own)} of them in place)"
        )
    signature = own[0]
    signed_info = _ds(signature, "SignedInfo")
    if len(signed_info) != 1 or len(_ds(signature, "SignatureValue")) != 1:
        raise SignatureInvalidError("the ds:Signature needs one SignedInfo and one SignatureValue")
    c14n = _ds(signed_info[0], "CanonicalizationMethod")
    method = _ds(signed_info[0], "SignatureMethod")
    references = _ds(signed_info[0], "Reference")
    if len(c14n) != 1 or len(method) != 1 or len(references) != 1:
        raise SignatureInvalidError(
            "ds:SignedInfo must hold one CanonicalizationMethod, one SignatureMethod and exactly "
            "one Reference"
        )
    if c14n[0].get("Algorithm") not in _C14N:
        raise SignatureInvalidError(
            f"canonicalization {c14n[0].get('Algorithm')!r} is refused (comments-free c14n only)"
        )
    algorithm = _allowed_algorithm(method[0].get("Algorithm") or "", algorithms)
    reference = references[0]
    if reference.get("URI") != f"#{root.get('ID')}":
        raise SignatureInvalidError(
            f"the Reference URI {reference.get('URI')!r} must name the signed message "
            f"(#{root.get('ID')})"
        )
    transforms = [t.get("Algorithm") for r in _ds(reference, "Transforms") for t in _elements(r)]
    if not set(transforms) <= {Transform.ENVELOPED.value, *_C14N}:
        raise SignatureInvalidError(f"reference transforms {transforms} are refused")
    digest = _ds(reference, "DigestMethod")
    digest_transform = _XMLSEC_DIGEST.get(digest[0].get("Algorithm") or "") if digest else None
    if digest_transform is None or (
        digest_transform is xmlsec.constants.TransformSha1
        and (SignatureAlgorithm.RSA_SHA1 not in algorithms)
    ):
        raise SignatureInvalidError("the digest algorithm is refused")
    for cert_pem in certificates:
        context = xmlsec.SignatureContext()
        context.key = _xmlsec_key(cert_pem)  # a key set here means KeyInfo is never consulted
        context.enable_signature_transform(_XMLSEC_SIGNATURE[algorithm])
        for allowed in (xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformInclC14N):
            context.enable_signature_transform(allowed)
            context.enable_reference_transform(allowed)
        context.enable_reference_transform(xmlsec.constants.TransformEnveloped)
        context.enable_reference_transform(digest_transform)
        context.register_id(root, "ID")
        try:
            context.verify(signature)
        except xmlsec.Error:
            continue
        return algorithm
    raise SignatureInvalidError(
        f"the enveloped signature does not verify with the {len(certificates)} certificate(s) "
        "registered for the sender"
    )


@functools.lru_cache(maxsize=64)
def _xmlsec_key(cert_pem: bytes) -> xmlsec.Key:
    return xmlsec.Key.from_memory(cert_pem, xmlsec.constants.KeyDataFormatCertPem)
