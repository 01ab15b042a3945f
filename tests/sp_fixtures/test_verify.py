"""Hardened SAML Response verification: genuine layouts accepted, every attack refused by code.

Every hostile case starts from a response freshly signed by the project's own IdP code and edits
the XML afterwards with lxml (prefixes and bytes of signed regions are kept), so that the attack
is the only defect (saml-attacks.md §8).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree

from idp.saml.builder import (
    AssertionSpec,
    ResponseSpec,
    SamlAttribute,
    aws_assertion_spec,
    build_assertion,
    build_response,
    to_bytes,
)
from idp.saml.constants import (
    ATTRNAME_FORMAT_URI,
    AUTHN_CONTEXT_PASSWORD_PROTECTED,
    AWS_AUDIENCE_URN,
    AWS_SIGNIN_URL,
    BEARER,
    NS,
    NSMAP,
    AwsAttribute,
    DigestAlgorithm,
    NameIDFormat,
    SignatureAlgorithm,
    StatusCode,
    Transform,
    qname,
)
from idp.saml.encryption import encrypt_plaintext, replace_with_encrypted
from idp.saml.keys import KeyPair
from idp.saml.metadata import IdpEndpoints, MetadataSpec, metadata_bytes
from idp.saml.signing import SignTarget, sign_element
from sp_fixtures.verify import (
    Attribute,
    AuthnInfo,
    Conditions,
    ErrorCode,
    MetadataError,
    StatusError,
    SubjectConfirmation,
    TrustedIdp,
    VerificationError,
    VerifiedResponse,
    parse_saml_time,
    verify_response,
)

ISSUER = "https://idp.example/saml"
NAME_ID = "alice@corp.example"
RESPONSE_ID = "_response1"
ASSERTION_ID = "_assertion1"
SESSION_INDEX = "_session1"
REQUEST_ID = "_request1"
ROLE_ADMIN = "arn:aws:iam::111111111111:role/Admin,arn:aws:iam::111111111111:saml-provider/CorpIdP"
ROLE_READ = "arn:aws:iam::222222222222:role/Read,arn:aws:iam::222222222222:saml-provider/CorpIdP"
ATTRIBUTES = (
    SamlAttribute(AwsAttribute.ROLE, (ROLE_ADMIN, ROLE_READ)),
    SamlAttribute(AwsAttribute.ROLE_SESSION_NAME, ("alice",)),
    SamlAttribute(AwsAttribute.SESSION_DURATION, ("3600",)),
)
EVIL = "admin@corp.example"
XPATH_TRANSFORM = "http://www.w3.org/TR/1999/REC-xpath-19991116"
XSLT_TRANSFORM = "http://www.w3.org/TR/1999/REC-xslt-19991116"

# A 768-bit RSA certificate (public part only), too weak for AWS; made with
# `openssl req -x509 -newkey rsa:768 -nodes -subj "/CN=weak test IdP"` (cryptography refuses
# to generate keys this small).
WEAK_CERT = b"""-----BEGIN CERTIFICATE-----
MIIBxzCCAVGgAwIBAgIUeTP15tQkvJAytvEnwB4GjeajBG0wDQYJKoZIhvcNAQEL
BQAwGDEWMBQGA1UEAwwNd2VhayB0ZXN0IElkUDAeFw0yNjExMjgwMzUwNTFaFw0z
NjExMjUwMzUwNTFaMBgxFjAUBgNVBAMMDXdlYWsgdGVzdCBJZFAwfDANBgkqhkiG
9w0BAQEFAANrADBoAmEA4pzrAlLxrODGLQ+eOf/m4sU2SpWghG4B6IdZcxR7p0ZQ
uN7elrX064ZufthuA9NZxQZ+zlGnfH24lj3z1c1YiMOZFUTXxDO58YVcxoNDcPof
Od9XjieX7XDPQ7ufIgD7AgMBAAGjUzBRMB0GA1UdDgQWBBQrWmKvYP/RHZU3H1Xa
qu0n15sUQjAfBgNVHSMEGDAWgBQrWmKvYP/RHZU3H1Xaqu0n15sUQjAPBgNVHRMB
Af8EBTADAQH/MA0GCSqGSIb3DQEBCwUAA2EAoBK2lB0P1KPCWfXNd2ZEZ5mWM4bf
qjGUDznjrhZX+UwbqGeVmwrQ+PB+k9VQ9YvcF+CPnqXBDFbpVp7DKOtCOgo/46wG
1HzgGIUG50chXAhAsvWqdePdCOk91WFNjY1Q
-----END CERTIFICATE-----
"""

Edit = Callable[[etree._Element], object]


# --- building genuine responses ------------------------------------------------------------


def assertion_spec(now: dt.datetime, **changes: Any) -> AssertionSpec:
    base = aws_assertion_spec(
        issuer=ISSUER,
        name_id=NAME_ID,
        attributes=ATTRIBUTES,
        now=now,
        audiences=(AWS_SIGNIN_URL, AWS_AUDIENCE_URN),
        in_response_to=REQUEST_ID,
        session_not_on_or_after=now + dt.timedelta(hours=8),
    )
    fixed: dict[str, Any] = {
        "assertion_id": ASSERTION_ID,
        "session_index": SESSION_INDEX,
        "name_qualifier": "https://idp.example",
        "sp_name_qualifier": AWS_SIGNIN_URL,
    }
    return dataclasses.replace(base, **(fixed | changes))


def build(
    now: dt.datetime,
    key: KeyPair,
    sign: str = "assertion",
    *,
    encrypt_for: KeyPair | None = None,
    algorithm: SignatureAlgorithm = SignatureAlgorithm.RSA_SHA256,
    digest: DigestAlgorithm | None = None,
    response_key: KeyPair | None = None,
    edit_assertion: Edit | None = None,
    assertion_changes: dict[str, Any] | None = None,
    response_changes: dict[str, Any] | None = None,
) -> bytes:
    """Build, sign (and encrypt) a response exactly as the IdP does; edits happen before signing."""
    target = SignTarget(sign)
    assertion = build_assertion(assertion_spec(now, **(assertion_changes or {})))
    if edit_assertion is not None:
        edit_assertion(assertion)
    spec = ResponseSpec(
        issuer=ISSUER, issue_instant=now, response_id=RESPONSE_ID, in_response_to=REQUEST_ID
    )
    response = build_response(dataclasses.replace(spec, **(response_changes or {})), assertion)
    if target.assertion:
        sign_element(assertion, key, algorithm=algorithm, digest=digest)
    if encrypt_for is not None:
        replace_with_encrypted(response, assertion, encrypt_for.cert_pem)
    if target.response:
        sign_element(response, response_key or key, algorithm=algorithm, digest=digest)
    return to_bytes(response)


def find(root: etree._Element, path: str) -> etree._Element:
    found = root.xpath(path, namespaces=NSMAP)
    assert isinstance(found, list) and len(found) == 1, f"{path} matched {found!r}"
    element = found[0]
    assert isinstance(element, etree._Element)
    return element


def mutate(document: bytes, *edits: Edit) -> bytes:
    """Apply ``edits`` to a parsed copy of ``document`` and serialise it without reformatting."""
    root = etree.fromstring(document)
    for edit in edits:
        edit(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def assertion_of(root: etree._Element) -> etree._Element:
    return find(root, "/samlp:Response/saml:Assertion")


def signature_of(element: etree._Element) -> etree._Element:
    return find(element, "ds:Signature")


def reference_of(element: etree._Element) -> etree._Element:
    return find(element, "ds:Signature/ds:SignedInfo/ds:Reference")


def set_name_id(value: str) -> Edit:
    def edit(root: etree._Element) -> None:
        find(root, "//saml:NameID").text = value

    return edit


def expect_code(code: ErrorCode, document: bytes, idp: TrustedIdp, **options: Any) -> str:
    with pytest.raises(VerificationError) as caught:
        verify_response(document, idp, **options)
    assert caught.value.code == code, caught.value.message
    return caught.value.message


@pytest.fixture
def idp(idp_key: KeyPair, sp_key: KeyPair) -> TrustedIdp:
    return TrustedIdp(ISSUER, (idp_key.cert_pem,), (sp_key.key_pem,))


def assert_alice(verified: VerifiedResponse, now: dt.datetime) -> None:
    lifetime = now + dt.timedelta(minutes=5)
    assert verified.issuer == ISSUER
    assert verified.response_issuer == ISSUER
    assert verified.assertion_id == ASSERTION_ID
    assert verified.response_id == RESPONSE_ID
    assert verified.issue_instant == now
    assert verified.response_issue_instant == now
    assert verified.destination == AWS_SIGNIN_URL
    assert verified.in_response_to == REQUEST_ID
    assert verified.status == StatusCode.SUCCESS
    assert verified.name_id == NAME_ID
    assert verified.name_id_format == NameIDFormat.PERSISTENT
    assert verified.name_qualifier == "https://idp.example"
    assert verified.sp_name_qualifier == AWS_SIGNIN_URL
    assert verified.subject_confirmations == (
        SubjectConfirmation(BEARER, AWS_SIGNIN_URL, lifetime, None, REQUEST_ID),
    )
    assert verified.conditions == Conditions(
        not_before=now - dt.timedelta(seconds=30),
        not_on_or_after=lifetime,
        audiences=(AWS_SIGNIN_URL, AWS_AUDIENCE_URN),
        audience_restrictions=((AWS_SIGNIN_URL, AWS_AUDIENCE_URN),),
        one_time_use=False,
        has_proxy_restriction=False,
    )
    assert verified.authn == AuthnInfo(
        now, SESSION_INDEX, now + dt.timedelta(hours=8), AUTHN_CONTEXT_PASSWORD_PROTECTED
    )
    assert verified.attributes == (
        Attribute(AwsAttribute.ROLE, ATTRNAME_FORMAT_URI, (ROLE_ADMIN, ROLE_READ)),
        Attribute(AwsAttribute.ROLE_SESSION_NAME, ATTRNAME_FORMAT_URI, ("alice",)),
        Attribute(AwsAttribute.SESSION_DURATION, ATTRNAME_FORMAT_URI, ("3600",)),
    )
    assert verified.values(AwsAttribute.ROLE) == (ROLE_ADMIN, ROLE_READ)
    assert verified.values("missing") == ()


# --- positive controls ---------------------------------------------------------------------

LAYOUTS = [
    pytest.param("assertion", False, id="assertion-signed"),
    pytest.param("response", False, id="response-signed"),
    pytest.param("both", False, id="both-signed"),
    pytest.param("assertion", True, id="encrypted+assertion-signed"),
    pytest.param("response", True, id="encrypted+response-signed"),
    pytest.param("both", True, id="encrypted+both-signed"),
]


@pytest.mark.parametrize(("sign", "encrypted"), LAYOUTS)
def test_genuine_layout_is_accepted_with_exact_fields(
    now: dt.datetime,
    idp_key: KeyPair,
    sp_key: KeyPair,
    idp: TrustedIdp,
    sign: str,
    encrypted: bool,
) -> None:
    document = build(now, idp_key, sign, encrypt_for=sp_key if encrypted else None)
    verified = verify_response(document, idp)
    assert_alice(verified, now)
    target = SignTarget(sign)
    assert (verified.response_signed, verified.assertion_signed) == (
        target.response,
        target.assertion,
    )
    assert verified.response_fields_signed is target.response
    assert verified.encrypted is encrypted
    assert verified.signature_algorithm is SignatureAlgorithm.RSA_SHA256
    assert verified.digest_algorithm is DigestAlgorithm.SHA256
    assert verified.certificate == idp_key.cert_pem


@pytest.mark.parametrize(
    ("algorithm", "options"),
    [
        (SignatureAlgorithm.RSA_SHA1, {"allow_sha1": True}),
        (SignatureAlgorithm.RSA_SHA512, {}),
    ],
    ids=["rsa-sha1-only-with-allow-sha1", "rsa-sha512"],
)
def test_other_allowed_algorithms_verify(
    now: dt.datetime,
    idp_key: KeyPair,
    idp: TrustedIdp,
    algorithm: SignatureAlgorithm,
    options: dict[str, Any],
) -> None:
    """SHA-1 is refused by default: test_verify_policy.py has the refusals."""
    verified = verify_response(build(now, idp_key, "both", algorithm=algorithm), idp, **options)
    assert verified.signature_algorithm is algorithm


@pytest.mark.parametrize("signer", ["current", "next"])
def test_key_rollover_accepts_either_pinned_certificate(
    now: dt.datetime, idp_key: KeyPair, idp_next_key: KeyPair, signer: str
) -> None:
    key = idp_key if signer == "current" else idp_next_key
    trusted = TrustedIdp(ISSUER, (idp_key.cert_pem, idp_next_key.cert_pem))
    verified = verify_response(build(now, key, "both"), trusted)
    assert verified.certificate == key.cert_pem
    assert verified.name_id == NAME_ID


def test_inclusive_namespaces_prefix_list_is_accepted(
    now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp
) -> None:
    """Okta-style ``ec:InclusiveNamespaces PrefixList`` on the exc-c14n transform."""

    def sign_with_prefix_list(assertion: etree._Element) -> None:
        signature = xmlsec.template.create(
            assertion,
            xmlsec.constants.TransformExclC14N,
            xmlsec.constants.TransformRsaSha256,
            ns="ds",
        )
        find(assertion, "saml:Issuer").addnext(signature)
        reference = xmlsec.template.add_reference(
            signature, xmlsec.constants.TransformSha256, uri=f"#{ASSERTION_ID}"
        )
        xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
        c14n = xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
        xmlsec.template.transform_add_c14n_inclusive_namespaces(c14n, ["xs"])
        xmlsec.tree.add_ids(assertion, ["ID"])
        context = xmlsec.SignatureContext()
        context.key = xmlsec.Key.from_memory(idp_key.key_pem, xmlsec.constants.KeyDataFormatPem)
        context.sign(signature)

    document = build(now, idp_key, "none")
    document = mutate(document, lambda root: sign_with_prefix_list(assertion_of(root)))
    assert b"PrefixList" in document
    assert verify_response(document, idp).assertion_signed


def test_keyinfo_written_by_xmlsec_templates_is_seen_after_parsing_bytes(
    now: dt.datetime, idp_key: KeyPair, idp_next_key: KeyPair
) -> None:
    """xmlsec template KeyInfo can be invisible to lxml find() in memory; we parse bytes."""
    response = etree.fromstring(build(now, idp_key, "none"))
    assertion = assertion_of(response)
    signature = xmlsec.template.create(
        assertion, xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha256, ns="ds"
    )
    find(assertion, "saml:Issuer").addnext(signature)
    reference = xmlsec.template.add_reference(
        signature, xmlsec.constants.TransformSha256, uri=f"#{ASSERTION_ID}"
    )
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
    xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
    xmlsec.tree.add_ids(assertion, ["ID"])
    context = xmlsec.SignatureContext()
    key = xmlsec.Key.from_memory(idp_next_key.key_pem, xmlsec.constants.KeyDataFormatPem)
    key.load_cert_from_memory(idp_next_key.cert_pem, xmlsec.constants.KeyDataFormatCertPem)
    context.key = key
    context.sign(signature)
    document = to_bytes(response)

    pinned_next = TrustedIdp(ISSUER, (idp_next_key.cert_pem,))
    assert verify_response(document, pinned_next).certificate == idp_next_key.cert_pem
    message = expect_code(
        ErrorCode.SIGNATURE_INVALID, document, TrustedIdp(ISSUER, (idp_key.cert_pem,))
    )
    assert "not pinned" in message
    assert "CN=fedharness sample IdP (next key)" in message


def test_only_assertion_signed_exposes_unsigned_response_fields_as_such(
    now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp
) -> None:
    def retarget(root: etree._Element) -> None:
        root.set("Destination", "https://evil.example/acs")

    verified = verify_response(mutate(build(now, idp_key, "assertion"), retarget), idp)
    assert verified.response_fields_signed is False
    assert verified.destination == "https://evil.example/acs"
    assert verified.name_id == NAME_ID


def test_complex_attribute_value_reads_as_its_text(
    now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp
) -> None:
    def nested_name_id(assertion: etree._Element) -> None:
        value = find(assertion, "//saml:Attribute[2]/saml:AttributeValue")
        value.text = None
        etree.SubElement(value, qname(NS.SAML, "NameID")).text = "targeted-id-123"

    verified = verify_response(build(now, idp_key, edit_assertion=nested_name_id), idp)
    assert verified.values(AwsAttribute.ROLE_SESSION_NAME) == ("targeted-id-123",)


# --- signature policy ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sign", "encrypted", "require", "accepted"),
    [
        pytest.param(
            sign,
            encrypted,
            require,
            accepted,
            id=f"{'encrypted+' if encrypted else ''}{sign}-signed/require={require}",
        )
        for sign, encrypted, require, accepted in [
            ("none", False, "either", False),
            ("none", False, "assertion", False),
            ("none", False, "response", False),
            ("none", False, "both", False),
            ("assertion", False, "either", True),
            ("assertion", False, "assertion", True),
            ("assertion", False, "response", False),
            ("assertion", False, "both", False),
            ("response", False, "either", True),
            ("response", False, "assertion", False),
            ("response", False, "response", True),
            ("response", False, "both", False),
            ("both", False, "either", True),
            ("both", False, "assertion", True),
            ("both", False, "response", True),
            ("both", False, "both", True),
            ("none", True, "either", False),
            ("assertion", True, "response", False),
            ("assertion", True, "assertion", True),
            ("response", True, "assertion", False),
            ("response", True, "response", True),
            ("both", True, "both", True),
        ]
    ],
)
def test_require_signature_on(
    now: dt.datetime,
    idp_key: KeyPair,
    sp_key: KeyPair,
    idp: TrustedIdp,
    sign: str,
    encrypted: bool,
    require: Any,
    accepted: bool,
) -> None:
    document = build(now, idp_key, sign, encrypt_for=sp_key if encrypted else None)
    if accepted:
        assert verify_response(document, idp, require_signature_on=require).name_id == NAME_ID
    else:
        expect_code(ErrorCode.SIGNATURE_MISSING, document, idp, require_signature_on=require)


def test_unknown_requirement_is_a_programming_error(
    now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp
) -> None:
    with pytest.raises(ValueError, match="require_signature_on"):
        verify_response(build(now, idp_key), idp, require_signature_on="sometimes")  # type: ignore[arg-type]


# --- keys ----------------------------------------------------------------------------------


def _swap_keyinfo_certificate(cert_base64: str) -> Edit:
    def edit(root: etree._Element) -> None:
        for cert in root.iterfind(f".//{qname(NS.DS, 'X509Certificate')}"):
            cert.text = cert_base64

    return edit


def _drop_keyinfo(root: etree._Element) -> None:
    for key_info in list(root.iterfind(f".//{qname(NS.DS, 'KeyInfo')}")):
        key_info.getparent().remove(key_info)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "case",
    [
        "pinned-key/keyinfo-names-unpinned-cert",
        "pinned-key/no-keyinfo",
    ],
)
def test_keyinfo_certificate_never_matters_for_a_pinned_signature(
    now: dt.datetime, idp_key: KeyPair, idp_next_key: KeyPair, idp: TrustedIdp, case: str
) -> None:
    """X509Data is informational; KeyInfo offering other key material (an attacker's KeyValue,
    HMACKeyValue, RetrievalMethod…) is refused: see test_verify_policy.py."""
    edit = {
        "pinned-key/keyinfo-names-unpinned-cert": _swap_keyinfo_certificate(
            idp_next_key.cert_base64
        ),
        "pinned-key/no-keyinfo": _drop_keyinfo,
    }[case]
    verified = verify_response(mutate(build(now, idp_key, "assertion"), edit), idp)
    assert verified.certificate == idp_key.cert_pem


@pytest.mark.parametrize(
    ("case", "hint"),
    [
        ("unpinned-key/its-own-cert-in-keyinfo", "not pinned"),
        ("unpinned-key/keyinfo-claims-pinned-cert", "names a pinned certificate"),
        ("unpinned-key/no-keyinfo", "names no certificate"),
    ],
)
def test_signature_by_unpinned_key_is_invalid(
    now: dt.datetime,
    idp_key: KeyPair,
    idp_next_key: KeyPair,
    idp: TrustedIdp,
    case: str,
    hint: str,
) -> None:
    document = build(now, idp_next_key, "assertion")
    if case.endswith("claims-pinned-cert"):
        document = mutate(document, _swap_keyinfo_certificate(idp_key.cert_base64))
    elif case.endswith("no-keyinfo"):
        document = mutate(document, _drop_keyinfo)
    assert hint in expect_code(ErrorCode.SIGNATURE_INVALID, document, idp)


def test_every_present_signature_must_verify(
    now: dt.datetime, idp_key: KeyPair, idp_next_key: KeyPair, idp: TrustedIdp
) -> None:
    """A good assertion signature does not excuse a Response signature by an unpinned key."""
    document = build(now, idp_key, "both", response_key=idp_next_key)
    expect_code(ErrorCode.SIGNATURE_INVALID, document, idp)


# --- tampering after signing ---------------------------------------------------------------


def _set_role(root: etree._Element) -> None:
    find(root, "//saml:Attribute[1]/saml:AttributeValue[2]").text = ROLE_ADMIN.replace(
        "Admin", "Root"
    )


def _set_destination(root: etree._Element) -> None:
    root.set("Destination", "https://evil.example/acs")


def _flip_ciphertext(root: etree._Element) -> None:
    value = find(root, "//xenc:EncryptedData/xenc:CipherData/xenc:CipherValue")
    text = value.text or ""
    value.text = ("B" if text[10] == "A" else "A").join((text[:10], text[11:]))


@pytest.mark.parametrize(
    ("sign", "encrypted", "edit"),
    [
        pytest.param("assertion", False, set_name_id(EVIL), id="nameid/assertion-signed"),
        pytest.param("response", False, set_name_id(EVIL), id="nameid/response-signed"),
        pytest.param("both", False, set_name_id(EVIL), id="nameid/both-signed"),
        pytest.param("assertion", False, _set_role, id="role/assertion-signed"),
        pytest.param("response", False, _set_role, id="role/response-signed"),
        pytest.param("response", False, _set_destination, id="destination/response-signed"),
        pytest.param("response", True, _flip_ciphertext, id="ciphertext/encrypted+response-signed"),
    ],
)
def test_tampered_signed_content_is_invalid(
    now: dt.datetime,
    idp_key: KeyPair,
    sp_key: KeyPair,
    idp: TrustedIdp,
    sign: str,
    encrypted: bool,
    edit: Edit,
) -> None:
    document = build(now, idp_key, sign, encrypt_for=sp_key if encrypted else None)
    message = expect_code(ErrorCode.SIGNATURE_INVALID, mutate(document, edit), idp)
    assert "changed after signing" in message


# --- wrapping and hidden assertions (saml-attacks.md §2, §3.10) ----------------------------


def _strip_signature(element: etree._Element) -> etree._Element:
    for signature in element.findall(qname(NS.DS, "Signature")):
        element.remove(signature)
    return element


def _evil_copy(assertion: etree._Element, new_id: str | None = "_evil") -> etree._Element:
    evil = _strip_signature(copy.deepcopy(assertion))
    if new_id is not None:
        evil.set("ID", new_id)
    find(evil, "saml:Subject/saml:NameID").text = EVIL
    return evil


def xsw1(root: etree._Element) -> None:
    clean = _strip_signature(copy.deepcopy(root))
    signature_of(root).append(clean)
    root.set("ID", "_evil_response")
    find(root, "saml:Assertion/saml:Subject/saml:NameID").text = EVIL


def xsw2(root: etree._Element) -> None:
    clean = _strip_signature(copy.deepcopy(root))
    signature_of(root).addprevious(clean)
    root.set("ID", "_evil_response")


def xsw3(root: etree._Element) -> None:
    assertion = assertion_of(root)
    assertion.addprevious(_evil_copy(assertion))


def xsw4(root: etree._Element) -> None:
    assertion = assertion_of(root)
    evil = _evil_copy(assertion)
    root.append(evil)
    evil.append(assertion)


def xsw5(root: etree._Element) -> None:
    assertion = assertion_of(root)
    clean = _strip_signature(copy.deepcopy(assertion))
    assertion.set("ID", "_evil")
    find(assertion, "saml:Subject/saml:NameID").text = EVIL
    root.append(clean)


def xsw6(root: etree._Element) -> None:
    assertion = assertion_of(root)
    clean = _strip_signature(copy.deepcopy(assertion))
    assertion.set("ID", "_evil")
    signature_of(assertion).append(clean)


def xsw7(root: etree._Element) -> None:
    assertion = assertion_of(root)
    wrapper = etree.Element("Extensions")
    wrapper.append(_evil_copy(assertion, new_id=None))
    assertion.addprevious(wrapper)


def xsw8(root: etree._Element) -> None:
    assertion = assertion_of(root)
    holder = etree.SubElement(signature_of(assertion), "Object")
    holder.append(_strip_signature(copy.deepcopy(assertion)))
    find(assertion, "saml:Subject/saml:NameID").text = EVIL


def signed_in_extensions_evil_outside(root: etree._Element) -> None:
    assertion = assertion_of(root)
    evil = _evil_copy(assertion)
    extensions = etree.Element(qname(NS.SAMLP, "Extensions"))
    find(root, "samlp:Status").addprevious(extensions)
    assertion.addprevious(evil)
    extensions.append(assertion)


def signed_in_ds_object_evil_outside(root: etree._Element) -> None:
    assertion = assertion_of(root)
    evil = _evil_copy(assertion)
    evil_signature = copy.deepcopy(signature_of(assertion))
    find(evil, "saml:Issuer").addnext(evil_signature)
    assertion.addprevious(evil)
    etree.SubElement(evil_signature, qname(NS.DS, "Object")).append(assertion)


def appended_clone(root: etree._Element) -> None:
    """crewjam/saml CVE-2022-41912: a stripped clone with ``_attack`` appended to the ID."""
    assertion = assertion_of(root)
    root.append(_evil_copy(assertion, new_id=ASSERTION_ID + "_attack"))


def response_in_status_detail(root: etree._Element) -> None:
    detail = etree.SubElement(find(root, "samlp:Status"), qname(NS.SAMLP, "StatusDetail"))
    detail.append(copy.deepcopy(root))


def assertion_in_advice(root: etree._Element) -> None:
    assertion = assertion_of(root)
    advice = etree.Element(qname(NS.SAML, "Advice"))
    find(assertion, "saml:AuthnStatement").addprevious(advice)
    advice.append(_evil_copy(assertion))


def plain_assertion_beside_encrypted(root: etree._Element) -> None:
    root.append(build_assertion(assertion_spec(dt.datetime.now(dt.UTC), assertion_id="_plain")))


def only_assertion_hidden_in_extensions(root: etree._Element) -> None:
    assertion = assertion_of(root)
    extensions = etree.Element(qname(NS.SAMLP, "Extensions"))
    assertion.addprevious(extensions)
    extensions.append(assertion)


def assertion_in_saml11_namespace(root: etree._Element) -> None:
    assertion_of(root).tag = "{urn:oasis:names:tc:SAML:1.0:assertion}Assertion"


def no_assertion(root: etree._Element) -> None:
    root.remove(assertion_of(root))


@pytest.mark.parametrize(
    ("sign", "encrypted", "edit", "code"),
    [
        pytest.param("response", False, xsw1, ErrorCode.DUPLICATE_ID, id="xsw1"),
        pytest.param("response", False, xsw2, ErrorCode.DUPLICATE_ID, id="xsw2"),
        pytest.param("assertion", False, xsw3, ErrorCode.MULTIPLE_ASSERTIONS, id="xsw3"),
        pytest.param("assertion", False, xsw4, ErrorCode.MULTIPLE_ASSERTIONS, id="xsw4"),
        pytest.param("assertion", False, xsw5, ErrorCode.MULTIPLE_ASSERTIONS, id="xsw5"),
        pytest.param("assertion", False, xsw6, ErrorCode.MULTIPLE_ASSERTIONS, id="xsw6"),
        pytest.param("assertion", False, xsw7, ErrorCode.DUPLICATE_ID, id="xsw7-same-id"),
        pytest.param("assertion", False, xsw8, ErrorCode.DUPLICATE_ID, id="xsw8-same-id"),
        pytest.param(
            "assertion",
            False,
            signed_in_extensions_evil_outside,
            ErrorCode.MULTIPLE_ASSERTIONS,
            id="signed-in-extensions/evil-outside",
        ),
        pytest.param(
            "assertion",
            False,
            signed_in_ds_object_evil_outside,
            ErrorCode.MULTIPLE_ASSERTIONS,
            id="signed-in-ds-object/evil-outside",
        ),
        pytest.param(
            "assertion",
            False,
            appended_clone,
            ErrorCode.MULTIPLE_ASSERTIONS,
            id="second-assertion-appended",
        ),
        pytest.param(
            "response",
            False,
            response_in_status_detail,
            ErrorCode.DUPLICATE_ID,
            id="response-copy-in-status-detail",
        ),
        pytest.param(
            "assertion",
            False,
            assertion_in_advice,
            ErrorCode.MULTIPLE_ASSERTIONS,
            id="assertion-in-advice",
        ),
        pytest.param(
            "response",
            True,
            plain_assertion_beside_encrypted,
            ErrorCode.MULTIPLE_ASSERTIONS,
            id="assertion-beside-encrypted-assertion",
        ),
        pytest.param(
            "assertion",
            False,
            only_assertion_hidden_in_extensions,
            ErrorCode.ASSERTION_MISPLACED,
            id="only-assertion-inside-extensions",
        ),
        pytest.param(
            "assertion",
            False,
            assertion_in_saml11_namespace,
            ErrorCode.ASSERTION_MISPLACED,
            id="assertion-in-saml1-namespace",
        ),
        pytest.param("assertion", False, no_assertion, ErrorCode.NO_ASSERTION, id="no-assertion"),
    ],
)
def test_wrapping_and_hidden_assertions_are_refused(
    now: dt.datetime,
    idp_key: KeyPair,
    sp_key: KeyPair,
    idp: TrustedIdp,
    sign: str,
    encrypted: bool,
    edit: Edit,
    code: ErrorCode,
) -> None:
    document = build(now, idp_key, sign, encrypt_for=sp_key if encrypted else None)
    expect_code(code, mutate(document, edit), idp)


# --- signature layout (saml-attacks.md §3.1, §3.4) -----------------------------------------


def _assertion_signature(root: etree._Element) -> etree._Element:
    return signature_of(assertion_of(root))


def _signed_info(root: etree._Element) -> etree._Element:
    return find(_assertion_signature(root), "ds:SignedInfo")


def _transform(root: etree._Element, position: int) -> etree._Element:
    return find(_signed_info(root), f"ds:Reference/ds:Transforms/ds:Transform[{position}]")


def signature_moved_to_end(root: etree._Element) -> None:
    assertion_of(root).append(_assertion_signature(root))


def signature_before_issuer(root: etree._Element) -> None:
    assertion_of(root).insert(0, _assertion_signature(root))


def two_signatures_on_assertion(root: etree._Element) -> None:
    signature = _assertion_signature(root)
    signature.addnext(copy.deepcopy(signature))


def signature_copy_in_extensions(root: etree._Element) -> None:
    extensions = etree.Element(qname(NS.SAMLP, "Extensions"))
    find(root, "samlp:Status").addprevious(extensions)
    extensions.append(copy.deepcopy(_assertion_signature(root)))


def signature_in_attribute_value(root: etree._Element) -> None:
    value = find(root, "//saml:Attribute[1]/saml:AttributeValue[1]")
    value.append(copy.deepcopy(_assertion_signature(root)))


def signature_moved_to_response(root: etree._Element) -> None:
    find(root, "saml:Issuer").addnext(_assertion_signature(root))


def set_uri(uri: str | None) -> Edit:
    def edit(root: etree._Element) -> None:
        reference = reference_of(assertion_of(root))
        if uri is None:
            del reference.attrib["URI"]
        else:
            reference.set("URI", uri)

    return edit


def two_references(root: etree._Element) -> None:
    reference = reference_of(assertion_of(root))
    reference.addnext(copy.deepcopy(reference))


def no_reference(root: etree._Element) -> None:
    reference = reference_of(assertion_of(root))
    _signed_info(root).remove(reference)


def xpath_transform(root: etree._Element) -> None:
    transform = etree.Element(qname(NS.DS, "Transform"), Algorithm=XPATH_TRANSFORM)
    etree.SubElement(transform, qname(NS.DS, "XPath")).text = "not(ancestor-or-self::ds:Signature)"
    _transform(root, 1).addnext(transform)


def xslt_transform(root: etree._Element) -> None:
    transform = _transform(root, 2)
    transform.set("Algorithm", XSLT_TRANSFORM)
    etree.SubElement(transform, "{http://www.w3.org/1999/XSL/Transform}stylesheet")


def set_transform(position: int, algorithm: str) -> Edit:
    def edit(root: etree._Element) -> None:
        _transform(root, position).set("Algorithm", algorithm)

    return edit


def set_c14n_method(algorithm: str) -> Edit:
    def edit(root: etree._Element) -> None:
        find(_signed_info(root), "ds:CanonicalizationMethod").set("Algorithm", algorithm)

    return edit


def drop_enveloped_transform(root: etree._Element) -> None:
    transform = _transform(root, 1)
    transform.getparent().remove(transform)  # type: ignore[union-attr]


def drop_transforms(root: etree._Element) -> None:
    transforms = find(_signed_info(root), "ds:Reference/ds:Transforms")
    transforms.getparent().remove(transforms)  # type: ignore[union-attr]


def object_in_signature(root: etree._Element) -> None:
    etree.SubElement(_assertion_signature(root), qname(NS.DS, "Object"))


def two_signed_infos(root: etree._Element) -> None:
    _signed_info(root).addprevious(copy.deepcopy(_signed_info(root)))


def empty_signature_value(root: etree._Element) -> None:
    find(_assertion_signature(root), "ds:SignatureValue").text = ""


def comment_in_digest_value(root: etree._Element) -> None:
    """xml-crypto CVE-2025-29775: a comment that a first-child reader takes as the digest."""
    digest = find(_signed_info(root), "ds:Reference/ds:DigestValue")
    original = digest.text
    digest.text = None
    comment = etree.Comment("evilDigestValue=")
    digest.append(comment)
    comment.tail = original


def set_signature_method(algorithm: str) -> Edit:
    def edit(root: etree._Element) -> None:
        find(_signed_info(root), "ds:SignatureMethod").set("Algorithm", algorithm)

    return edit


def set_digest_method(algorithm: str) -> Edit:
    def edit(root: etree._Element) -> None:
        find(_signed_info(root), "ds:Reference/ds:DigestMethod").set("Algorithm", algorithm)

    return edit


def hmac_output_length(root: etree._Element) -> None:
    method = find(_signed_info(root), "ds:SignatureMethod")
    etree.SubElement(method, qname(NS.DS, "HMACOutputLength")).text = "40"


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        pytest.param(signature_moved_to_end, ErrorCode.SIGNATURE_PLACEMENT, id="moved-to-end"),
        pytest.param(signature_before_issuer, ErrorCode.SIGNATURE_PLACEMENT, id="before-issuer"),
        pytest.param(
            two_signatures_on_assertion, ErrorCode.SIGNATURE_PLACEMENT, id="two-on-the-assertion"
        ),
        pytest.param(
            signature_copy_in_extensions, ErrorCode.SIGNATURE_PLACEMENT, id="copy-in-extensions"
        ),
        pytest.param(
            signature_in_attribute_value, ErrorCode.SIGNATURE_PLACEMENT, id="inside-attribute-value"
        ),
        pytest.param(
            signature_moved_to_response, ErrorCode.REFERENCE_MISMATCH, id="moved-to-response"
        ),
        pytest.param(
            set_uri(f"#{RESPONSE_ID}"), ErrorCode.REFERENCE_MISMATCH, id="uri-names-another-element"
        ),
        pytest.param(set_uri(""), ErrorCode.REFERENCE_MISMATCH, id="uri-empty"),
        pytest.param(set_uri(None), ErrorCode.REFERENCE_MISMATCH, id="uri-missing"),
        pytest.param(set_uri("#xpointer(/)"), ErrorCode.REFERENCE_MISMATCH, id="uri-xpointer"),
        pytest.param(
            set_uri("#x'] or eval('1') or /[@ID='v"),
            ErrorCode.REFERENCE_MISMATCH,
            id="uri-xpath-injection",
        ),
        pytest.param(two_references, ErrorCode.MULTIPLE_REFERENCES, id="two-references"),
        pytest.param(no_reference, ErrorCode.SIGNATURE_MALFORMED, id="no-reference"),
        pytest.param(xpath_transform, ErrorCode.TRANSFORM_NOT_ALLOWED, id="xpath-transform"),
        pytest.param(xslt_transform, ErrorCode.TRANSFORM_NOT_ALLOWED, id="xslt-transform"),
        pytest.param(
            set_transform(2, Transform.EXC_C14N_WITH_COMMENTS),
            ErrorCode.TRANSFORM_NOT_ALLOWED,
            id="transform-exc-c14n-with-comments",
        ),
        pytest.param(
            set_transform(2, Transform.C14N_WITH_COMMENTS),
            ErrorCode.TRANSFORM_NOT_ALLOWED,
            id="transform-inclusive-c14n-with-comments",
        ),
        pytest.param(
            drop_enveloped_transform, ErrorCode.TRANSFORM_NOT_ALLOWED, id="no-enveloped-transform"
        ),
        pytest.param(drop_transforms, ErrorCode.TRANSFORM_NOT_ALLOWED, id="no-transforms"),
        pytest.param(
            set_c14n_method(Transform.EXC_C14N_WITH_COMMENTS),
            ErrorCode.TRANSFORM_NOT_ALLOWED,
            id="c14n-method-with-comments",
        ),
        pytest.param(
            set_c14n_method(Transform.C14N),
            ErrorCode.TRANSFORM_NOT_ALLOWED,
            id="c14n-method-inclusive",
        ),
        pytest.param(object_in_signature, ErrorCode.SIGNATURE_MALFORMED, id="ds-object"),
        pytest.param(two_signed_infos, ErrorCode.SIGNATURE_MALFORMED, id="two-signedinfo"),
        pytest.param(
            empty_signature_value, ErrorCode.SIGNATURE_MALFORMED, id="empty-signature-value"
        ),
        pytest.param(
            comment_in_digest_value, ErrorCode.SIGNATURE_MALFORMED, id="comment-in-digest-value"
        ),
        pytest.param(hmac_output_length, ErrorCode.SIGNATURE_MALFORMED, id="hmac-output-length"),
        pytest.param(
            set_signature_method("http://www.w3.org/2000/09/xmldsig#hmac-sha1"),
            ErrorCode.ALGORITHM_NOT_ALLOWED,
            id="hmac-signature-method",
        ),
        pytest.param(
            set_digest_method("http://www.w3.org/2001/04/xmldsig-more#md5"),
            ErrorCode.ALGORITHM_NOT_ALLOWED,
            id="md5-digest",
        ),
    ],
)
def test_signature_layout_is_enforced(
    now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp, edit: Edit, code: ErrorCode
) -> None:
    expect_code(code, mutate(build(now, idp_key, "assertion"), edit), idp)


@pytest.mark.parametrize(
    ("algorithm", "digest", "options"),
    [
        pytest.param(
            SignatureAlgorithm.RSA_SHA1,
            None,
            {"allowed_signature_algorithms": (SignatureAlgorithm.RSA_SHA256,)},
            id="rsa-sha1-not-allowed",
        ),
        pytest.param(
            SignatureAlgorithm.RSA_SHA256,
            DigestAlgorithm.SHA1,
            {"allowed_digests": (DigestAlgorithm.SHA256, DigestAlgorithm.SHA512)},
            id="sha1-digest-not-allowed",
        ),
    ],
)
def test_algorithm_policy(
    now: dt.datetime,
    idp_key: KeyPair,
    idp: TrustedIdp,
    algorithm: SignatureAlgorithm,
    digest: DigestAlgorithm | None,
    options: dict[str, Any],
) -> None:
    document = build(now, idp_key, "assertion", algorithm=algorithm, digest=digest)
    expect_code(ErrorCode.ALGORITHM_NOT_ALLOWED, document, idp, **options)


# --- parsing, envelope, IDs, status --------------------------------------------------------

HEADER = b'<?xml version="1.0"?>'
LAUGHS = (
    b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
)


@pytest.mark.parametrize(
    ("doctype", "replace", "code"),
    [
        pytest.param(b"<!DOCTYPE samlp:Response>", (b"", b""), ErrorCode.DTD_REFUSED, id="doctype"),
        pytest.param(
            LAUGHS, (b">alice@corp.example<", b">&c;<"), ErrorCode.DTD_REFUSED, id="billion-laughs"
        ),
        pytest.param(
            b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
            (b">alice@corp.example<", b">&x;<"),
            ErrorCode.DTD_REFUSED,
            id="external-entity",
        ),
        pytest.param(
            b'<!DOCTYPE r [<!ENTITY % x SYSTEM "http://127.0.0.1:9/x.dtd"> %x;]>',
            (b"", b""),
            ErrorCode.DTD_REFUSED,
            id="parameter-entity-network",
        ),
        pytest.param(
            b"",
            (b">alice@corp.example<", b">&undefined;<"),
            ErrorCode.NOT_XML,
            id="undefined-entity",
        ),
    ],
)
def test_dtd_and_entities_are_refused(
    now: dt.datetime,
    idp_key: KeyPair,
    idp: TrustedIdp,
    doctype: bytes,
    replace: tuple[bytes, bytes],
    code: ErrorCode,
) -> None:
    body = build(now, idp_key).split(b"?>", 1)[1].replace(*replace)
    expect_code(code, HEADER + doctype + body, idp)


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"PHNhbWxwOlJlc3BvbnNlLz4=", id="still-base64"),
        pytest.param(b"\x00\xff\xfe garbage", id="binary"),
        pytest.param(
            b"<samlp:Response xmlns:samlp='urn:oasis:names:tc:SAML:2.0:protocol'>", id="truncated"
        ),
    ],
)
def test_non_xml_bytes_are_refused(idp: TrustedIdp, document: bytes) -> None:
    expect_code(ErrorCode.NOT_XML, document, idp)


def test_text_instead_of_bytes_is_a_type_error(
    now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp
) -> None:
    with pytest.raises(TypeError, match="bytes"):
        verify_response(build(now, idp_key).decode(), idp)  # type: ignore[arg-type]


def _rename_root(tag: str) -> Edit:
    def edit(root: etree._Element) -> None:
        root.tag = tag

    return edit


def _set_root(attribute: str, value: str | None) -> Edit:
    def edit(root: etree._Element) -> None:
        if value is None:
            del root.attrib[attribute]
        else:
            root.set(attribute, value)

    return edit


def _id_in_extensions(value: str, attribute: str = "ID") -> Edit:
    def edit(root: etree._Element) -> None:
        extensions = etree.Element(qname(NS.SAMLP, "Extensions"))
        find(root, "samlp:Status").addprevious(extensions)
        etree.SubElement(extensions, "{urn:example:ext}Thing", {attribute: value})

    return edit


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        pytest.param(
            _rename_root(qname(NS.SAMLP, "AuthnRequest")),
            ErrorCode.NOT_A_RESPONSE,
            id="authn-request",
        ),
        pytest.param(
            _rename_root("{urn:oasis:names:tc:SAML:1.0:protocol}Response"),
            ErrorCode.NOT_A_RESPONSE,
            id="saml1-namespace",
        ),
        pytest.param(_rename_root("Response"), ErrorCode.NOT_A_RESPONSE, id="no-namespace"),
        pytest.param(_set_root("Version", "1.1"), ErrorCode.UNSUPPORTED_VERSION, id="version-1.1"),
        pytest.param(_set_root("ID", None), ErrorCode.INVALID_ID, id="response-without-id"),
        pytest.param(
            _set_root("ID", "has space"), ErrorCode.INVALID_ID, id="response-id-not-ncname"
        ),
        pytest.param(
            _set_root("ID", ASSERTION_ID),
            ErrorCode.DUPLICATE_ID,
            id="response-id-equals-assertion-id",
        ),
        pytest.param(
            _id_in_extensions(ASSERTION_ID),
            ErrorCode.DUPLICATE_ID,
            id="assertion-id-repeated-in-extensions",
        ),
        pytest.param(
            _id_in_extensions(ASSERTION_ID, "{http://www.w3.org/XML/1998/namespace}id"),
            ErrorCode.DUPLICATE_ID,
            id="assertion-id-repeated-as-xml-id",
        ),
        pytest.param(
            _id_in_extensions(RESPONSE_ID, "AssertionID"),
            ErrorCode.DUPLICATE_ID,
            id="response-id-repeated-as-saml1-assertion-id",
        ),
    ],
)
def test_envelope_and_ids(
    now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp, edit: Edit, code: ErrorCode
) -> None:
    expect_code(code, mutate(build(now, idp_key, "assertion"), edit), idp)


def test_assertion_version_is_checked(now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp) -> None:
    document = build(now, idp_key, "response", assertion_changes={"version": "1.1"})
    expect_code(ErrorCode.UNSUPPORTED_VERSION, document, idp)


def test_status_other_than_success_is_refused(
    now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp
) -> None:
    def sub_status(root: etree._Element) -> None:
        code = find(root, "samlp:Status/samlp:StatusCode")
        etree.SubElement(
            code,
            qname(NS.SAMLP, "StatusCode"),
            Value="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed",
        )

    document = build(
        now,
        idp_key,
        "response",
        response_changes={"status": StatusCode.RESPONDER, "status_message": "user is locked"},
    )
    with pytest.raises(StatusError) as caught:
        verify_response(mutate(document, sub_status), idp)
    assert caught.value.code == ErrorCode.STATUS_NOT_SUCCESS
    assert caught.value.status == StatusCode.RESPONDER
    assert caught.value.sub_status == StatusCode.AUTHN_FAILED
    assert caught.value.status_message == "user is locked"


def test_missing_status_is_refused(now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp) -> None:
    def drop_status(root: etree._Element) -> None:
        root.remove(find(root, "samlp:Status"))

    expect_code(ErrorCode.STATUS_NOT_SUCCESS, mutate(build(now, idp_key), drop_status), idp)


# --- issuer --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assertion_changes", "response_changes"),
    [
        pytest.param({"issuer": "https://evil.example"}, {}, id="assertion-issuer"),
        pytest.param({}, {"issuer": "https://evil.example"}, id="response-issuer"),
        pytest.param({"issuer": None}, {}, id="assertion-without-issuer"),
    ],
)
def test_issuer_must_be_the_trusted_entity(
    now: dt.datetime,
    idp_key: KeyPair,
    idp: TrustedIdp,
    assertion_changes: dict[str, Any],
    response_changes: dict[str, Any],
) -> None:
    document = build(
        now, idp_key, "both", assertion_changes=assertion_changes, response_changes=response_changes
    )
    expect_code(ErrorCode.ISSUER_MISMATCH, document, idp)


def test_response_without_issuer_is_fine(
    now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp
) -> None:
    verified = verify_response(build(now, idp_key, response_changes={"issuer": None}), idp)
    assert verified.response_issuer is None
    assert verified.issuer == ISSUER


# --- comment injection and text reading (saml-attacks.md §3.3) -----------------------------

VICTIM = "victim@corp.example"
ATTACKER_NAME_ID = VICTIM + ".attacker.example"


def split_with(path: str, at: int, node: Callable[[], etree._Element]) -> Edit:
    """Split the text of the element at ``path`` by inserting ``node`` after ``at`` chars."""

    def edit(root: etree._Element) -> None:
        element = find(root, path)
        text = element.text or ""
        element.text = text[:at]
        inserted = node()
        element.insert(0, inserted)
        inserted.tail = text[at:]

    return edit


def _comment() -> etree._Element:
    return etree.Comment("")


@pytest.mark.parametrize(
    ("sign", "edit"),
    [
        pytest.param(
            "assertion",
            split_with("//saml:NameID", len(VICTIM), _comment),
            id="nameid/assertion-signed",
        ),
        pytest.param(
            "response",
            split_with("//saml:NameID", len(VICTIM), _comment),
            id="nameid/response-signed",
        ),
        pytest.param(
            "assertion",
            split_with("//saml:Attribute[1]/saml:AttributeValue[1]", 24, _comment),
            id="role-value",
        ),
        pytest.param(
            "assertion",
            split_with("//saml:Assertion/saml:Issuer", 19, _comment),
            id="assertion-issuer",
        ),
        pytest.param("assertion", split_with("//saml:Audience[1]", 8, _comment), id="audience"),
    ],
)
def test_comment_inside_signed_text_is_refused(
    now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp, sign: str, edit: Edit
) -> None:
    """The signature still verifies (c14n drops comments): the reader itself must refuse."""
    document = build(now, idp_key, sign, assertion_changes={"name_id": ATTACKER_NAME_ID})
    expect_code(ErrorCode.COMMENT_IN_TEXT, mutate(document, edit), idp)


def test_cdata_added_after_signing_breaks_the_digest(
    now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp
) -> None:
    """Negative control (ruby-saml node_text_attack3): CDATA is text, so the digest changes."""
    document = build(now, idp_key).replace(
        b">alice@corp.example<", b">alice@corp.example<![CDATA[.evil.example]]><"
    )
    expect_code(ErrorCode.SIGNATURE_INVALID, document, idp)


@pytest.mark.parametrize(
    ("node", "code"),
    [
        pytest.param(
            lambda: etree.ProcessingInstruction("evil", "x"),
            ErrorCode.COMMENT_IN_TEXT,
            id="processing-instruction",
        ),
        pytest.param(
            lambda: etree.Element(qname(NS.SAML, "Evil")), ErrorCode.ELEMENT_IN_TEXT, id="element"
        ),
    ],
)
def test_markup_signed_into_name_id_is_refused(
    now: dt.datetime,
    idp_key: KeyPair,
    idp: TrustedIdp,
    node: Callable[[], etree._Element],
    code: ErrorCode,
) -> None:
    edit = split_with("saml:Subject/saml:NameID", 5, node)
    expect_code(code, build(now, idp_key, edit_assertion=edit), idp)


# --- times and assertion content -----------------------------------------------------------


def _set_attribute(path: str, attribute: str, value: str) -> Edit:
    def edit(assertion: etree._Element) -> None:
        find(assertion, path).set(attribute, value)

    return edit


def _add_child(path: str, local: str, ns: NS = NS.SAML) -> Edit:
    def edit(assertion: etree._Element) -> None:
        etree.SubElement(find(assertion, path), qname(ns, local))

    return edit


def _duplicate(path: str) -> Edit:
    def edit(assertion: etree._Element) -> None:
        element = find(assertion, path)
        element.addnext(copy.deepcopy(element))

    return edit


def _replace_name_id_with(local: str) -> Edit:
    def edit(assertion: etree._Element) -> None:
        name_id = find(assertion, "saml:Subject/saml:NameID")
        name_id.tag = qname(NS.SAML, local)

    return edit


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        pytest.param(
            _set_attribute(".", "IssueInstant", "2026-11-28T12:00:00"),
            ErrorCode.MALFORMED_TIME,
            id="issue-instant-without-zone",
        ),
        pytest.param(
            _set_attribute("saml:Conditions", "NotOnOrAfter", "tomorrow"),
            ErrorCode.MALFORMED_TIME,
            id="conditions-not-on-or-after",
        ),
        pytest.param(
            _set_attribute(
                "saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData",
                "NotOnOrAfter",
                "2026-02-30T00:00:00Z",
            ),
            ErrorCode.MALFORMED_TIME,
            id="confirmation-february-30",
        ),
        pytest.param(
            _set_attribute("saml:AuthnStatement", "AuthnInstant", "2026-11-28 12:00:00Z"),
            ErrorCode.MALFORMED_TIME,
            id="authn-instant-with-space",
        ),
        pytest.param(_duplicate("saml:Subject"), ErrorCode.MALFORMED_ASSERTION, id="two-subjects"),
        pytest.param(
            _duplicate("saml:AuthnStatement"),
            ErrorCode.MALFORMED_ASSERTION,
            id="two-authn-statements",
        ),
        pytest.param(
            _duplicate("saml:Subject/saml:NameID"), ErrorCode.MALFORMED_ASSERTION, id="two-name-ids"
        ),
        pytest.param(
            _add_child(".", "Unexpected"),
            ErrorCode.MALFORMED_ASSERTION,
            id="unknown-assertion-child",
        ),
        pytest.param(
            _replace_name_id_with("EncryptedID"), ErrorCode.UNSUPPORTED_CONTENT, id="encrypted-id"
        ),
        pytest.param(
            _add_child("saml:Conditions", "Condition"),
            ErrorCode.UNSUPPORTED_CONTENT,
            id="unknown-condition",
        ),
        pytest.param(
            _add_child("saml:AttributeStatement", "EncryptedAttribute"),
            ErrorCode.UNSUPPORTED_CONTENT,
            id="encrypted-attribute",
        ),
    ],
)
def test_signed_assertion_content_is_read_strictly(
    now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp, edit: Edit, code: ErrorCode
) -> None:
    expect_code(code, build(now, idp_key, edit_assertion=edit), idp)


def test_optional_conditions_are_reported(
    now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp
) -> None:
    def add_conditions(assertion: etree._Element) -> None:
        conditions = find(assertion, "saml:Conditions")
        restriction = etree.SubElement(conditions, qname(NS.SAML, "AudienceRestriction"))
        etree.SubElement(restriction, qname(NS.SAML, "Audience")).text = "urn:example:other"
        etree.SubElement(conditions, qname(NS.SAML, "OneTimeUse"))
        etree.SubElement(conditions, qname(NS.SAML, "ProxyRestriction"), Count="0")

    conditions = verify_response(build(now, idp_key, edit_assertion=add_conditions), idp).conditions
    assert conditions is not None
    assert conditions.audiences == (AWS_SIGNIN_URL, AWS_AUDIENCE_URN, "urn:example:other")
    assert conditions.audience_restrictions == (
        (AWS_SIGNIN_URL, AWS_AUDIENCE_URN),
        ("urn:example:other",),
    )
    assert (conditions.one_time_use, conditions.has_proxy_restriction) == (True, True)


UTC = dt.UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28T12:00:00Z", dt.datetime(2026, 11, 28, 12, tzinfo=UTC)),
        ("2026-11-28T12:00:00.250Z", dt.datetime(2026, 11, 28, 12, 0, 0, 250000, tzinfo=UTC)),
        ("2026-11-28T12:00:00.1234567Z", dt.datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-28T13:30:00+01:30", dt.datetime(2026, 11, 28, 12, tzinfo=UTC)),
        ("2026-11-28T00:00:00-05:00", dt.datetime(2026, 11, 28, 5, tzinfo=UTC)),
    ],
    ids=["z", "milliseconds", "seven-digits-adfs", "positive-offset", "negative-offset"],
)
def test_saml_time_parses(text: str, expected: dt.datetime) -> None:
    parsed = parse_saml_time(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-28T12:00:00",
        "2026-11-28 12:00:00Z",
        "2026-11-28T12:00Z",
        "2026-13-01T00:00:00Z",
        "2026-11-28T24:00:00Z",
        "2026-11-28T12:00:60Z",
        "2026-11-28T12:00:00z",
        " 2026-11-28T12:00:00Z",
        "2026-11-28T12:00:00+15:00",
        "2026-11-28T12:00:00.Z",
        "+2026-11-28T12:00:00Z",
        "２０２６-11-28T12:00:00Z",
        "",
    ],
    ids=[
        "no-zone",
        "space",
        "no-seconds",
        "month-13",
        "hour-24",
        "leap-second",
        "lowercase-z",
        "leading-space",
        "offset-15h",
        "empty-fraction",
        "sign",
        "fullwidth-digits",
        "empty",
    ],
)
def test_saml_time_refuses(text: str) -> None:
    with pytest.raises(VerificationError) as caught:
        parse_saml_time(text)
    assert caught.value.code == ErrorCode.MALFORMED_TIME


# --- encryption ----------------------------------------------------------------------------


def _encrypted_response(
    now: dt.datetime, idp_key: KeyPair, sp_key: KeyPair, plaintext: bytes
) -> bytes:
    spec = ResponseSpec(issuer=ISSUER, issue_instant=now, response_id=RESPONSE_ID)
    response = build_response(spec)
    response.append(encrypt_plaintext(plaintext, sp_key.cert_pem))
    sign_element(response, idp_key)
    return to_bytes(response)


def _plaintext(now: dt.datetime, edit: Edit | None = None, **changes: Any) -> bytes:
    assertion = build_assertion(assertion_spec(now, **changes))
    if edit is not None:
        edit(assertion)
    return etree.tostring(assertion)


def test_assertion_encrypted_for_someone_else_cannot_be_decrypted(
    now: dt.datetime, idp_key: KeyPair, idp: TrustedIdp
) -> None:
    document = build(now, idp_key, "response", encrypt_for=idp_key)
    expect_code(ErrorCode.DECRYPTION_FAILED, document, idp)


def test_encrypted_assertion_without_decryption_key(
    now: dt.datetime, idp_key: KeyPair, sp_key: KeyPair
) -> None:
    document = build(now, idp_key, "response", encrypt_for=sp_key)
    message = expect_code(
        ErrorCode.DECRYPTION_FAILED, document, TrustedIdp(ISSUER, (idp_key.cert_pem,))
    )
    assert "no decryption key" in message


def test_encrypted_assertion_signed_by_unpinned_key(
    now: dt.datetime,
    idp_key: KeyPair,
    idp_next_key: KeyPair,
    sp_key: KeyPair,
    idp: TrustedIdp,
) -> None:
    document = build(now, idp_next_key, "assertion", encrypt_for=sp_key)
    expect_code(ErrorCode.SIGNATURE_INVALID, document, idp)


@pytest.mark.parametrize(
    ("plaintext", "code"),
    [
        pytest.param(
            lambda now: _plaintext(now, assertion_in_advice_of_assertion),
            ErrorCode.MULTIPLE_ASSERTIONS,
            id="nested-assertion",
        ),
        pytest.param(
            lambda now: _plaintext(now, assertion_id=RESPONSE_ID),
            ErrorCode.DUPLICATE_ID,
            id="assertion-id-equals-response-id",
        ),
        pytest.param(
            lambda now: b"<!DOCTYPE a>" + _plaintext(now),
            ErrorCode.DECRYPTION_FAILED,
            id="doctype-in-plaintext",
        ),
        pytest.param(
            lambda now: b"<samlp:Response xmlns:samlp='urn:oasis:names:tc:SAML:2.0:protocol'/>",
            ErrorCode.DECRYPTION_FAILED,
            id="plaintext-not-an-assertion",
        ),
    ],
)
def test_decrypted_assertion_gets_the_same_structural_checks(
    now: dt.datetime,
    idp_key: KeyPair,
    sp_key: KeyPair,
    idp: TrustedIdp,
    plaintext: Callable[[dt.datetime], bytes],
    code: ErrorCode,
) -> None:
    expect_code(code, _encrypted_response(now, idp_key, sp_key, plaintext(now)), idp)


def assertion_in_advice_of_assertion(assertion: etree._Element) -> None:
    advice = etree.Element(qname(NS.SAML, "Advice"))
    find(assertion, "saml:AuthnStatement").addprevious(advice)
    advice.append(_evil_copy(assertion))


def test_response_signed_encrypted_assertion_built_by_hand_is_accepted(
    now: dt.datetime, idp_key: KeyPair, sp_key: KeyPair, idp: TrustedIdp
) -> None:
    """Positive control for the hand-built encrypted cases above."""
    verified = verify_response(_encrypted_response(now, idp_key, sp_key, _plaintext(now)), idp)
    assert (verified.encrypted, verified.response_signed, verified.assertion_signed) == (
        True,
        True,
        False,
    )
    assert verified.name_id == NAME_ID


# --- trust: TrustedIdp and metadata --------------------------------------------------------

ENDPOINTS = IdpEndpoints(sso_url="https://idp.example/sso", slo_url="https://idp.example/slo")


def metadata(*keys: KeyPair) -> bytes:
    return metadata_bytes(MetadataSpec(entity_id=ISSUER, signing_keys=keys, endpoints=ENDPOINTS))


def test_metadata_pins_every_signing_certificate_in_order(
    idp_key: KeyPair, idp_next_key: KeyPair, sp_key: KeyPair
) -> None:
    trusted = TrustedIdp.from_metadata(
        metadata(idp_key, idp_next_key), decryption_keys=(sp_key.key_pem,)
    )
    assert trusted.entity_id == ISSUER
    assert trusted.certificates == (idp_key.cert_pem, idp_next_key.cert_pem)
    assert trusted.decryption_keys == (sp_key.key_pem,)


def test_metadata_from_text_verifies_a_response(now: dt.datetime, idp_key: KeyPair) -> None:
    trusted = TrustedIdp.from_metadata(metadata(idp_key).decode())
    assert verify_response(build(now, idp_key), trusted).name_id == NAME_ID


def test_ten_certificates_are_allowed(idp_key: KeyPair) -> None:
    assert len(TrustedIdp.from_metadata(metadata(*[idp_key] * 10)).certificates) == 10


def _ec_certificate() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec test IdP")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def _pem_to_base64(pem: bytes) -> bytes:
    return b"".join(pem.strip().splitlines()[1:-1])


def _metadata_with_certificate(idp_key: KeyPair, pem: bytes) -> bytes:
    return metadata(idp_key).replace(idp_key.cert_base64.encode(), _pem_to_base64(pem))


@pytest.mark.parametrize(
    ("document", "code"),
    [
        pytest.param(
            lambda key: metadata(*[key] * 11),
            ErrorCode.TOO_MANY_CERTIFICATES,
            id="eleven-certificates",
        ),
        pytest.param(
            lambda key: _metadata_with_certificate(key, WEAK_CERT),
            ErrorCode.WEAK_CERTIFICATE,
            id="768-bit-rsa",
        ),
        pytest.param(
            lambda key: _metadata_with_certificate(key, _ec_certificate()),
            ErrorCode.METADATA_INVALID,
            id="ec-key",
        ),
        pytest.param(
            lambda key: metadata(key).replace(key.cert_base64.encode()[:40], b"!!!!"),
            ErrorCode.METADATA_INVALID,
            id="bad-base64",
        ),
        pytest.param(
            lambda key: metadata(key).replace(b'use="signing"', b'use="encryption"'),
            ErrorCode.METADATA_INVALID,
            id="no-signing-certificate",
        ),
        pytest.param(
            lambda key: metadata(key).replace(f'entityID="{ISSUER}"'.encode(), b""),
            ErrorCode.METADATA_INVALID,
            id="no-entity-id",
        ),
        pytest.param(
            lambda key: metadata(key).replace(b"IDPSSODescriptor", b"SPSSODescriptor"),
            ErrorCode.METADATA_INVALID,
            id="not-an-idp",
        ),
        pytest.param(
            lambda key: b"<!DOCTYPE x>" + metadata(key).split(b"?>", 1)[1],
            ErrorCode.METADATA_INVALID,
            id="doctype",
        ),
        pytest.param(lambda key: b"not xml", ErrorCode.METADATA_INVALID, id="not-xml"),
        pytest.param(
            lambda key: metadata(key).replace(b"md:EntityDescriptor", b"md:Other"),
            ErrorCode.METADATA_INVALID,
            id="wrong-root",
        ),
    ],
)
def test_bad_metadata_is_refused(
    idp_key: KeyPair, document: Callable[[KeyPair], bytes], code: ErrorCode
) -> None:
    with pytest.raises(MetadataError) as caught:
        TrustedIdp.from_metadata(document(idp_key))
    assert caught.value.code == code


def test_trusted_idp_checks_certificates_given_directly(idp_key: KeyPair) -> None:
    with pytest.raises(MetadataError) as caught:
        TrustedIdp(ISSUER, (idp_key.cert_pem, WEAK_CERT))
    assert caught.value.code == ErrorCode.WEAK_CERTIFICATE
    with pytest.raises(TypeError):
        TrustedIdp(ISSUER, idp_key.cert_pem)  # type: ignore[arg-type]
