"""XML-DSig for SAML verifiers: structural invariants, one signature layout, pinned keys.

Before any crypto the document must pass the cheap invariants that stop signature wrapping (one
hardened parse, unique IDs, exactly one assertion, saml-attacks.md §7). A signature is then
trusted only with exactly the shape IdPs produce (one enveloped ``ds:Signature`` right after
``Issuer``, one ``Reference`` to its parent's ID, enveloped-signature + exclusive c14n,
allowlisted algorithms, SHA-1 only when opted in) and only if it verifies with a certificate
pinned out of band: KeyInfo never picks the key (pysaml2 CVE-2021-21239, saml-attacks.md §3.2),
and a KeyInfo that offers key material other than certificates is refused (§7 step 3: "no
KeyValue, no HMAC"). The error codes are shared with :mod:`sp_fixtures.verify`, whose docstring
lists them in the order the checks run.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lxml import etree

from idp.saml.constants import NS, DigestAlgorithm, SignatureAlgorithm, Transform, qname
from idp.saml.xmlparse import UnsafeXmlError, parse_xml

#: Namespace of ``ec:InclusiveNamespaces`` (Exclusive XML Canonicalization §3).
EXC_C14N_NS = "http://www.w3.org/2001/10/xml-exc-c14n#"

_SIGNATURE_TRANSFORMS = {
    SignatureAlgorithm.RSA_SHA1: xmlsec.constants.TransformRsaSha1,
    SignatureAlgorithm.RSA_SHA256: xmlsec.constants.TransformRsaSha256,
    SignatureAlgorithm.RSA_SHA512: xmlsec.constants.TransformRsaSha512,
}
_DIGEST_TRANSFORMS = {
    DigestAlgorithm.SHA1: xmlsec.constants.TransformSha1,
    DigestAlgorithm.SHA256: xmlsec.constants.TransformSha256,
    DigestAlgorithm.SHA512: xmlsec.constants.TransformSha512,
}
#: SHA-1 algorithms and how messages name them: refused unless the caller opts in (saml-attacks.md
#: §3.11 and §7 step 3). Whether AWS still accepts SHA-1 is not documented, so the default is to
#: fail closed.
SHA1_ALGORITHMS: dict[str, str] = {
    SignatureAlgorithm.RSA_SHA1.value: "RSA-SHA1",
    DigestAlgorithm.SHA1.value: "SHA-1",
}
#: How to opt into SHA-1, in every refusal that names it.
SHA1_OPT_IN = (
    "allow_sha1=True (Python), --allow-sha1 (fedharness sts serve) or "
    "sts: {allow_sha1: true} (scenario file)"
)
_REFERENCE_TRANSFORMS = (Transform.ENVELOPED.value, Transform.EXC_C14N.value)
_NCNAME = re.compile(r"[^\W\d][\w.\-]*")
_ID_ATTRIBUTES = frozenset({"ID", "Id", "id", "AssertionID", "ResponseID"})


class ErrorCode(StrEnum):
    """Stable reasons for refusing a response, in the order the checks run."""

    DOCUMENT_TOO_LARGE = "document_too_large"
    NOT_XML = "not_xml"
    DTD_REFUSED = "dtd_refused"
    NOT_A_RESPONSE = "not_a_response"
    UNSUPPORTED_VERSION = "unsupported_version"
    INVALID_ID = "invalid_id"
    STATUS_NOT_SUCCESS = "status_not_success"
    DUPLICATE_ID = "duplicate_id"
    NO_ASSERTION = "no_assertion"
    MULTIPLE_ASSERTIONS = "multiple_assertions"
    ASSERTION_MISPLACED = "assertion_misplaced"
    SIGNATURE_PLACEMENT = "signature_placement"
    SIGNATURE_MALFORMED = "signature_malformed"
    MULTIPLE_REFERENCES = "multiple_references"
    REFERENCE_MISMATCH = "reference_mismatch"
    TRANSFORM_NOT_ALLOWED = "transform_not_allowed"
    ALGORITHM_NOT_ALLOWED = "algorithm_not_allowed"
    SIGNATURE_MISSING = "signature_missing"
    SIGNATURE_INVALID = "signature_invalid"
    KEY_INFO_NOT_ALLOWED = "key_info_not_allowed"
    DECRYPTION_FAILED = "decryption_failed"
    ISSUER_MISMATCH = "issuer_mismatch"
    MALFORMED_ASSERTION = "malformed_assertion"
    UNSUPPORTED_CONTENT = "unsupported_content"
    COMMENT_IN_TEXT = "comment_in_text"
    ELEMENT_IN_TEXT = "element_in_text"
    MALFORMED_TIME = "malformed_time"
    METADATA_INVALID = "metadata_invalid"
    TOO_MANY_CERTIFICATES = "too_many_certificates"
    WEAK_CERTIFICATE = "weak_certificate"


class VerificationError(Exception):
    """A SAML response (or the trust set up for it) was refused; ``code`` says why."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class MetadataError(VerificationError):
    """IdP metadata or trust material is unusable (AWS: "Unable to parse metadata")."""


SignatureRequirement = Literal["either", "assertion", "response", "both"]
"""Which signatures ``verify_response`` insists on; any signature present must verify anyway."""

#: AWS accepts at most 10 signing keys per SAML provider (aws-sts-saml.md §4).
MAX_CERTIFICATES = 10
#: AWS refuses metadata certificates with RSA keys under 1024 bits (aws-sts-saml.md §2.1).
MIN_RSA_BITS = 1024


@dataclass(frozen=True)
class CheckedSignature:
    """A ``ds:Signature`` whose layout passed every check, ready for the crypto."""

    signature: etree._Element
    """The ``ds:Signature`` element."""
    parent: etree._Element
    """The element it signs: its parent, which its one Reference names."""
    algorithm: SignatureAlgorithm
    digest: DigestAlgorithm


def elements(parent: etree._Element) -> list[etree._Element]:
    """Return the element children of ``parent``, skipping comments, PIs and entities."""
    return [child for child in parent if isinstance(child.tag, str)]


def describe(element: etree._Element) -> str:
    """Return ``<prefix:Local>`` for messages."""
    prefix = f"{element.prefix}:" if element.prefix else ""
    return f"<{prefix}{etree.QName(element).localname}>"


def is_ncname(value: str) -> bool:
    """Return whether ``value`` can be an xs:ID (an NCName; no colon, no spaces, no quotes)."""
    return _NCNAME.fullmatch(value) is not None


def _fail(code: ErrorCode, message: str) -> VerificationError:
    return VerificationError(code, message)


def parse_response_bytes(document: bytes) -> etree._Element:
    """Parse with the hardened parser, telling malformed bytes from a refused DTD."""
    if not isinstance(document, bytes):
        raise TypeError("verify_response takes the decoded SAML response as bytes")
    try:
        return parse_xml(document)
    except UnsafeXmlError as exc:
        code = ErrorCode.NOT_XML
        if not str(exc).startswith(("not well-formed", "empty")) or _mentions_doctype(document):
            code = ErrorCode.DTD_REFUSED
        raise _fail(code, str(exc)) from None


def _mentions_doctype(document: bytes) -> bool:
    """Tell a DTD refused mid-parse (e.g. a network parameter entity) from plain bad bytes."""
    return any(
        marker in document
        for marker in (
            b"<!DOCTYPE",
            "<!DOCTYPE".encode("utf-16-le"),
            "<!DOCTYPE".encode("utf-16-be"),
        )
    )


def check_root(element: etree._Element, ns: NS, local: str) -> str:
    """Check the tag, Version and ID of the Response or the Assertion; return the ID."""
    if element.tag != qname(ns, local):
        code = ErrorCode.NOT_A_RESPONSE if local == "Response" else ErrorCode.ASSERTION_MISPLACED
        raise _fail(
            code,
            f"expected {ns.value}:{local}, found {describe(element)} in namespace "
            f"{etree.QName(element).namespace!r}",
        )
    version = element.get("Version")
    if version != "2.0":
        raise _fail(
            ErrorCode.UNSUPPORTED_VERSION,
            f"the {local} has Version {version!r}; only SAML 2.0 is accepted",
        )
    element_id = element.get("ID") or ""
    if not is_ncname(element_id):
        raise _fail(
            ErrorCode.INVALID_ID,
            f"the {local} ID {element_id!r} is missing or not an xs:ID (NCName)",
        )
    return element_id


def _local_name(name: str | bytes) -> str:
    """Return the local part of a ``{namespace}local`` name, as ``etree.QName`` does, cheaply."""
    text = name if isinstance(name, str) else name.decode()
    return text.rpartition("}")[2]


def collect_ids(root: etree._Element, seen: dict[str, etree._Element]) -> None:
    """Refuse two elements carrying the same ID-like value (libxml2 resolves only one)."""
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for name, raw in element.attrib.items():
            if _local_name(name) not in _ID_ATTRIBUTES:
                continue
            value = str(raw)
            other = seen.get(value)
            if other is not None and other is not element:
                raise _fail(
                    ErrorCode.DUPLICATE_ID,
                    f"{describe(other)} and {describe(element)} share the ID {value!r}",
                )
            seen[value] = element


def sole_assertion(root: etree._Element, *, decrypted: bool) -> etree._Element:
    """Return the one Assertion/EncryptedAssertion, refusing any other anywhere in the tree."""
    # "{*}" matches any namespace and none: every element with either local name, in order.
    found = list(root.iter("{*}Assertion", "{*}EncryptedAssertion"))
    if not found:
        raise _fail(ErrorCode.NO_ASSERTION, "the Response holds no Assertion")
    if len(found) > 1:
        raise _fail(
            ErrorCode.MULTIPLE_ASSERTIONS,
            f"the {'decrypted assertion' if decrypted else 'Response'} holds "
            f"{len(found)} assertions (counting nested and hidden ones); exactly one "
            "is allowed",
        )
    holder = found[0]
    if decrypted:
        return holder
    if holder.getparent() is not root or holder.tag not in (
        qname(NS.SAML, "Assertion"),
        qname(NS.SAML, "EncryptedAssertion"),
    ):
        raise _fail(
            ErrorCode.ASSERTION_MISPLACED,
            f"{describe(holder)} (namespace {etree.QName(holder).namespace!r}) must be a "
            "saml: element directly inside the Response",
        )
    return holder


def _previous_element(element: etree._Element) -> etree._Element | None:
    sibling = element.getprevious()
    while sibling is not None and not isinstance(sibling.tag, str):
        sibling = sibling.getprevious()
    return sibling


def enveloped_signature(element: etree._Element) -> etree._Element | None:
    """Return ``element``'s own ``ds:Signature`` after checking it sits right after ``Issuer``."""
    found = [child for child in elements(element) if child.tag == qname(NS.DS, "Signature")]
    if not found:
        return None
    if len(found) > 1:
        raise _fail(
            ErrorCode.SIGNATURE_PLACEMENT,
            f"{describe(element)} carries {len(found)} signatures; one is allowed",
        )
    signature = found[0]
    previous = _previous_element(signature)
    issuer_first = (
        previous is not None
        and previous.tag == qname(NS.SAML, "Issuer")
        and (_previous_element(previous) is None)
    )
    no_issuer_first = previous is None and all(
        child.tag != qname(NS.SAML, "Issuer") for child in elements(element)
    )
    if not (issuer_first or no_issuer_first):
        raise _fail(
            ErrorCode.SIGNATURE_PLACEMENT,
            f"the ds:Signature of {describe(element)} must come right after its Issuer "
            "(SAML schema)",
        )
    return signature


def refuse_other_signatures(root: etree._Element, allowed: Collection[etree._Element]) -> None:
    """Refuse every ``ds:Signature`` in ``root``'s tree that is not one of ``allowed``."""
    for signature in root.iter(qname(NS.DS, "Signature")):
        if not any(signature is known for known in allowed):
            parent = signature.getparent()
            where = describe(parent) if parent is not None else "the document"
            raise _fail(
                ErrorCode.SIGNATURE_PLACEMENT,
                f"a ds:Signature inside {where} is not allowed; signatures may only sit "
                "directly in the Response or the Assertion, after the Issuer",
            )


def _plain_text(element: etree._Element, what: str) -> str:
    for child in element:
        raise _fail(
            ErrorCode.SIGNATURE_MALFORMED,
            f"{what} must hold only text, found {_node_kind(child)} in it",
        )
    return element.text or ""


def _node_kind(node: etree._Element) -> str:
    if isinstance(node, etree._Comment):
        return "an XML comment"
    if isinstance(node, etree._ProcessingInstruction):
        return "a processing instruction"
    if isinstance(node, etree._Entity):
        return "an entity reference"
    return f"the element {describe(node)}"


def _expect_children(
    parent: etree._Element, names: Sequence[str], optional: Collection[str], what: str
) -> dict[str, etree._Element]:
    """Check that ``parent``'s element children are exactly ``names`` (DS namespace), in order."""
    children = elements(parent)
    found: dict[str, etree._Element] = {}
    position = 0
    for child in children:
        local = etree.QName(child).localname
        while (
            position < len(names)
            and (child.tag != qname(NS.DS, names[position]))
            and names[position] in optional
        ):
            position += 1
        if position >= len(names) or child.tag != qname(NS.DS, names[position]):
            raise _fail(
                ErrorCode.SIGNATURE_MALFORMED,
                f"unexpected {describe(child)} in {what} (expected "
                f"{', '.join('ds:' + name for name in names)} in that order)",
            )
        found[local] = child
        position += 1
    missing = [name for name in names if name not in found and name not in optional]
    if missing:
        raise _fail(ErrorCode.SIGNATURE_MALFORMED, f"{what} lacks ds:{missing[0]}")
    return found


def _exc_c14n(method: etree._Element, what: str) -> None:
    """Check an exclusive-c14n method element: the exact URI, at most an InclusiveNamespaces."""
    algorithm = method.get("Algorithm")
    if algorithm != Transform.EXC_C14N:
        raise _fail(
            ErrorCode.TRANSFORM_NOT_ALLOWED,
            f"{what} {algorithm!r} is not allowed; only exclusive c14n without comments "
            f"({Transform.EXC_C14N.value})",
        )
    for child in elements(method):
        if (
            child.tag != f"{{{EXC_C14N_NS}}}InclusiveNamespaces"
            or elements(child)
            or (set(child.attrib) - {"PrefixList"})
        ):
            raise _fail(
                ErrorCode.TRANSFORM_NOT_ALLOWED,
                f"{what} may only hold an ec:InclusiveNamespaces PrefixList, not {describe(child)}",
            )


def _transforms(transforms: etree._Element | None) -> None:
    if transforms is None:
        raise _fail(
            ErrorCode.TRANSFORM_NOT_ALLOWED,
            "the Reference has no Transforms; enveloped-signature and exclusive c14n are required",
        )
    listed = elements(transforms)
    for transform in listed:
        if transform.tag != qname(NS.DS, "Transform"):
            raise _fail(
                ErrorCode.SIGNATURE_MALFORMED, f"unexpected {describe(transform)} in ds:Transforms"
            )
    algorithms = tuple(transform.get("Algorithm") or "" for transform in listed)
    for algorithm in algorithms:
        if algorithm not in _REFERENCE_TRANSFORMS:
            raise _fail(
                ErrorCode.TRANSFORM_NOT_ALLOWED,
                f"transform {algorithm!r} is not allowed; only enveloped-signature "
                "and exclusive c14n",
            )
    if algorithms != _REFERENCE_TRANSFORMS:
        raise _fail(
            ErrorCode.TRANSFORM_NOT_ALLOWED,
            "the Reference must list exactly enveloped-signature then exclusive c14n, "
            f"found {len(algorithms)} transform(s) in another order",
        )
    if elements(listed[0]):
        raise _fail(
            ErrorCode.TRANSFORM_NOT_ALLOWED, "the enveloped-signature transform takes no parameters"
        )
    _exc_c14n(listed[1], "the Reference transform")


def _algorithm(method: etree._Element, allowed: Collection[str], what: str) -> str:
    algorithm = method.get("Algorithm") or ""
    sha1 = SHA1_ALGORITHMS.get(algorithm)
    if algorithm not in allowed and sha1 is not None:
        raise _fail(
            ErrorCode.ALGORITHM_NOT_ALLOWED,
            f"{what} {sha1} ({algorithm}) is refused: SHA-1 is deprecated and off by "
            "default (whether AWS still accepts it is unverified, so fedharness fails "
            f"closed); to accept it, opt in with {SHA1_OPT_IN}",
        )
    if algorithm not in allowed:
        raise _fail(
            ErrorCode.ALGORITHM_NOT_ALLOWED,
            f"{what} {algorithm!r} is not allowed here (allowed: "
            f"{', '.join(sorted(allowed)) or 'none'})",
        )
    if elements(method):
        raise _fail(
            ErrorCode.SIGNATURE_MALFORMED,
            f"the {what} takes no parameters, found {describe(elements(method)[0])}",
        )
    return algorithm


def check_signature(
    signature: etree._Element,
    *,
    algorithms: Collection[SignatureAlgorithm],
    digests: Collection[DigestAlgorithm],
) -> CheckedSignature:
    """Check that ``signature`` has the one layout accepted, and return what the crypto needs."""
    parent = signature.getparent()
    if parent is None:
        raise _fail(ErrorCode.SIGNATURE_PLACEMENT, "a ds:Signature must be inside what it signs")
    parts = _expect_children(
        signature, ("SignedInfo", "SignatureValue", "KeyInfo"), {"KeyInfo"}, "ds:Signature"
    )
    if not _plain_text(parts["SignatureValue"], "ds:SignatureValue").strip():
        raise _fail(ErrorCode.SIGNATURE_MALFORMED, "ds:SignatureValue is empty")
    signed_info = parts["SignedInfo"]
    children = elements(signed_info)
    references = [child for child in children if child.tag == qname(NS.DS, "Reference")]
    head = [child for child in children if child.tag != qname(NS.DS, "Reference")]
    if [child.tag for child in head] != [
        qname(NS.DS, "CanonicalizationMethod"),
        qname(NS.DS, "SignatureMethod"),
    ] or (children[:2] != head):
        raise _fail(
            ErrorCode.SIGNATURE_MALFORMED,
            "ds:SignedInfo must hold CanonicalizationMethod, SignatureMethod, then "
            "References, and nothing else",
        )
    if not references:
        raise _fail(ErrorCode.SIGNATURE_MALFORMED, "ds:SignedInfo holds no ds:Reference")
    if len(references) > 1:
        raise _fail(
            ErrorCode.MULTIPLE_REFERENCES,
            f"ds:SignedInfo holds {len(references)} References; exactly one is allowed",
        )
    reference = references[0]
    reference_parts = _expect_children(
        reference, ("Transforms", "DigestMethod", "DigestValue"), {"Transforms"}, "ds:Reference"
    )
    if not _plain_text(reference_parts["DigestValue"], "ds:DigestValue").strip():
        raise _fail(ErrorCode.SIGNATURE_MALFORMED, "ds:DigestValue is empty")
    parent_id = parent.get("ID")
    uri = reference.get("URI")
    if not parent_id or uri != f"#{parent_id}":
        raise _fail(
            ErrorCode.REFERENCE_MISMATCH,
            f"the Reference URI {uri!r} must be '#' + the ID of the signed "
            f"{describe(parent)} ({parent_id!r})",
        )
    _exc_c14n(head[0], "CanonicalizationMethod")
    _transforms(reference_parts.get("Transforms"))
    algorithm = SignatureAlgorithm(
        _algorithm(head[1], {str(item) for item in algorithms}, "SignatureMethod")
    )
    digest = DigestAlgorithm(
        _algorithm(reference_parts["DigestMethod"], {str(item) for item in digests}, "DigestMethod")
    )
    return CheckedSignature(signature, parent, algorithm, digest)


def checked_signature_of(
    element: etree._Element,
    *,
    algorithms: Collection[SignatureAlgorithm],
    digests: Collection[DigestAlgorithm],
) -> CheckedSignature | None:
    """Return ``element``'s own signature, placed and shaped as required, or None."""
    signature = enveloped_signature(element)
    if signature is None:
        return None
    return check_signature(signature, algorithms=algorithms, digests=digests)


def require_signatures(
    requirement: SignatureRequirement, response_signed: bool, assertion_signed: bool | None
) -> None:
    """Refuse when the policy is unmet; ``None`` means the assertion is not decrypted yet."""
    missing: str | None = None
    if requirement in ("response", "both") and not response_signed:
        missing = "the Response is not signed"
    elif assertion_signed is None:
        return
    elif requirement in ("assertion", "both") and not assertion_signed:
        missing = "the Assertion is not signed"
    elif requirement == "either" and not (response_signed or assertion_signed):
        missing = "neither the Response nor the Assertion is signed"
    if missing is not None:
        raise _fail(
            ErrorCode.SIGNATURE_MISSING, f"{missing} (require_signature_on={requirement!r})"
        )


@functools.lru_cache(maxsize=64)
def _xmlsec_key(cert_pem: bytes) -> xmlsec.Key:
    """Return the certificate's public key as an xmlsec key, loaded once per certificate.

    The bare public key, not the certificate: xmlsec copies the key into every context, and a
    certificate-backed key costs a certificate copy each time (about 35 µs) for no check — with
    a key set on the context xmlsec validates no certificate either way.
    """
    public_pem = (
        x509.load_pem_x509_certificate(cert_pem)
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    return xmlsec.Key.from_memory(public_pem, xmlsec.constants.KeyDataFormatPem)


def _verifies(checked: CheckedSignature, cert_pem: bytes) -> bool:
    context = xmlsec.SignatureContext()
    # A key set beforehand makes xmlsec skip KeyInfo entirely: only the pinned key is tried.
    context.key = _xmlsec_key(cert_pem)
    context.enable_signature_transform(xmlsec.constants.TransformExclC14N)
    context.enable_signature_transform(_SIGNATURE_TRANSFORMS[checked.algorithm])
    context.enable_reference_transform(xmlsec.constants.TransformEnveloped)
    context.enable_reference_transform(xmlsec.constants.TransformExclC14N)
    context.enable_reference_transform(_DIGEST_TRANSFORMS[checked.digest])
    # Only the signed element's own ID is registered, so the Reference can resolve nothing else.
    context.register_id(checked.parent, "ID")
    try:
        context.verify(checked.signature)
    except xmlsec.Error:
        return False
    return True


def verify_pinned(checked: CheckedSignature, certificates: Sequence[bytes]) -> bytes:
    """Return the first pinned PEM certificate whose key verifies ``checked``, or raise.

    A signature that verifies must also carry an acceptable KeyInfo (:func:`check_key_info`).
    """
    for cert_pem in certificates:
        if _verifies(checked, cert_pem):
            check_key_info(checked, cert_pem)
            return cert_pem
    hint = _key_info_hint(checked, certificates)
    raise _fail(
        ErrorCode.SIGNATURE_INVALID,
        f"the signature of {describe(checked.parent)} does not verify with any of the "
        f"{len(certificates)} pinned certificate(s); {hint}",
    )


def check_key_info(checked: CheckedSignature, cert_pem: bytes) -> None:
    """Refuse a KeyInfo offering key material other than certificates, once ``cert_pem`` verified.

    KeyInfo never picks the key: the pinned key is set on the context, so xmlsec reads none of
    it. Still, a KeyInfo offering other keys (an attacker's ``KeyValue``, an ``HMACKeyValue``, a
    ``RetrievalMethod`` to fetch one) is what key-confusion attacks send, and saml-attacks.md §7
    step 3 says "no KeyValue, no HMAC". Accepted children: ``ds:X509Data`` (informational: a
    certificate there that is not pinned changes nothing), ``ds:KeyName`` as plain text (Keycloak
    sends its key id) and a ``ds:KeyValue`` that repeats exactly the RSA key of ``cert_pem``
    (Keycloak's signer adds one; signxml likewise refuses only a KeyValue that differs from the
    X.509 key). Run after the crypto, so a signature that does not verify is reported as
    ``signature_invalid`` whatever its KeyInfo holds.
    """
    key_info = next(
        (child for child in elements(checked.signature) if child.tag == qname(NS.DS, "KeyInfo")),
        None,
    )
    if key_info is None:
        return
    where = f"the KeyInfo of the {describe(checked.parent)} signature"
    for child in elements(key_info):
        if child.tag == qname(NS.DS, "X509Data"):
            continue
        if child.tag == qname(NS.DS, "KeyName"):
            if len(child):
                raise _fail(
                    ErrorCode.KEY_INFO_NOT_ALLOWED,
                    f"the ds:KeyName in {where} must hold only text, found "
                    f"{_node_kind(child[0])} in it",
                )
            continue
        if child.tag == qname(NS.DS, "KeyValue"):
            _check_key_value(child, cert_pem, where)
            continue
        namespace = etree.QName(child).namespace
        raise _fail(
            ErrorCode.KEY_INFO_NOT_ALLOWED,
            f"{where} holds {describe(child)} (namespace {namespace!r}); only ds:X509Data, "
            "ds:KeyName and a ds:KeyValue repeating the pinned key are accepted: the key comes "
            "from the pinned certificates, never from KeyInfo",
        )


def _check_key_value(key_value: etree._Element, cert_pem: bytes, where: str) -> None:
    """Accept a ``ds:KeyValue`` only if it is exactly the RSA key of the verifying certificate."""
    public_key = x509.load_pem_x509_certificate(cert_pem).public_key()
    children = elements(key_value)
    if (
        isinstance(public_key, rsa.RSAPublicKey)
        and len(children) == 1
        and children[0].tag == qname(NS.DS, "RSAKeyValue")
    ):
        parts = elements(children[0])
        if [part.tag for part in parts] == [qname(NS.DS, "Modulus"), qname(NS.DS, "Exponent")]:
            numbers = public_key.public_numbers()
            if (_crypto_binary(parts[0]), _crypto_binary(parts[1])) == (numbers.n, numbers.e):
                return
    raise _fail(
        ErrorCode.KEY_INFO_NOT_ALLOWED,
        f"{where} holds a ds:KeyValue that is not the RSA key of the pinned certificate that "
        "verified the signature; a KeyValue is accepted only when it repeats that key (key "
        "confusion)",
    )


def _crypto_binary(element: etree._Element) -> int | None:
    """Return the integer of an ``ds:CryptoBinary`` value, or None when it is not one."""
    if len(element):
        return None
    try:
        raw = base64.b64decode("".join((element.text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return int.from_bytes(raw, "big") if raw else None


def _der(cert_pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(cert_pem).public_bytes(Encoding.DER)


def _key_info_hint(checked: CheckedSignature, certificates: Sequence[bytes]) -> str:
    """Say what KeyInfo claims, to tell a rollover mistake from tampering (never for trust)."""
    key_info = [
        child for child in elements(checked.signature) if child.tag == qname(NS.DS, "KeyInfo")
    ]
    claimed = [
        cert
        for info in key_info
        for data in elements(info)
        if data.tag == qname(NS.DS, "X509Data")
        for cert in elements(data)
        if cert.tag == qname(NS.DS, "X509Certificate")
    ]
    if not claimed:
        return "the message names no certificate in KeyInfo"
    try:
        der = base64.b64decode("".join((claimed[0].text or "").split()), validate=True)
        named = x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        return "its KeyInfo certificate is unreadable"
    pinned = {_der(pem) for pem in certificates}
    fingerprint = hashlib.sha256(der).hexdigest()[:16]
    if der in pinned:
        return (
            "its KeyInfo names a pinned certificate, so the signed content was changed "
            "after signing"
        )
    return (
        f"its KeyInfo names a certificate that is not pinned "
        f"({named.subject.rfc4514_string()}, sha256 {fingerprint}…)"
    )


def check_certificate(cert_pem: bytes, index: int) -> None:
    """Refuse a certificate AWS would not take into a SAML provider's metadata."""
    where = f"signing certificate #{index + 1}"
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise MetadataError(
            ErrorCode.METADATA_INVALID, f"{where} is not a PEM certificate ({exc})"
        ) from None
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise MetadataError(
            ErrorCode.METADATA_INVALID,
            f"{where} holds a non-RSA key; only RSA signatures are verified",
        )
    if public_key.key_size < MIN_RSA_BITS:
        raise MetadataError(
            ErrorCode.WEAK_CERTIFICATE,
            f"{where} has a {public_key.key_size}-bit RSA key; AWS refuses "
            f"keys under {MIN_RSA_BITS} bits",
        )
