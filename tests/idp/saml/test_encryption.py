"""Tests for idp.saml.encryption: EncryptedAssertion as Okta/ADFS/Shibboleth send it to AWS."""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from lxml import etree

from idp.saml.constants import NS, DataEncryption, KeyTransport, qname
from idp.saml.encryption import (
    XENC_TYPE_ELEMENT,
    DecryptionError,
    EncryptionError,
    decrypt_assertion,
    encrypt_assertion,
    encrypt_plaintext,
    replace_with_encrypted,
)
from idp.saml.xmlparse import parse_xml

NAME_ID = "alice.secret-nameid@corp.example"
SESSION_NAME = "alice.secret-session"
ROLE_PAIR = (
    "arn:aws:iam::111122223333:role/Engineers,arn:aws:iam::111122223333:saml-provider/CorpIdP"
)
RECIPIENT = "https://us-east-1.signin.aws.amazon.com/saml/acs/SAMLSPD0EXAMPLE"
NOT_BEFORE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2035, 1, 1, tzinfo=dt.UTC)
XSI_TYPE = qname(NS.XSI, "type")

ALGORITHM_PAIRS = [(data, transport) for data in DataEncryption for transport in KeyTransport]


def _short(uri: str) -> str:
    return uri.rsplit("#", 1)[1]


ALGORITHM_IDS = [f"{_short(data)}+{_short(transport)}" for data, transport in ALGORITHM_PAIRS]


@dataclass(frozen=True)
class Party:
    """A generated RSA key pair with a self-signed certificate, as PEM."""

    key_pem: bytes
    cert_pem: bytes

    @property
    def cert_base64(self) -> str:
        """Return the DER certificate in base64, as ds:X509Certificate holds it."""
        der = x509.load_pem_x509_certificate(self.cert_pem).public_bytes(serialization.Encoding.DER)
        return base64.b64encode(der).decode("ascii")


def _self_signed(
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, common_name: str
) -> Party:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .sign(private_key, hashes.SHA256())
    )
    key_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return Party(key_pem, certificate.public_bytes(serialization.Encoding.PEM))


def _rsa_party(common_name: str) -> Party:
    return _self_signed(rsa.generate_private_key(public_exponent=65537, key_size=2048), common_name)


@pytest.fixture(scope="module")
def idp() -> Party:
    """The IdP's signing key pair."""
    return _rsa_party("idp.corp.example")


@pytest.fixture(scope="module")
def sp() -> Party:
    """The key pair AWS holds for the SAML provider (the current one)."""
    return _rsa_party("aws-saml-provider-current")


@pytest.fixture(scope="module")
def other_sp() -> Party:
    """A second key pair: another SP, or the provider's previous key during rotation."""
    return _rsa_party("aws-saml-provider-previous")


def _sub(
    parent: etree._Element, ns: NS, local: str, text: str | None = None, **attrs: str
) -> etree._Element:
    element = etree.SubElement(parent, qname(ns, local), attrs)
    element.text = text
    return element


def _attribute(statement: etree._Element, name: str, *values: str) -> None:
    attribute = _sub(
        statement,
        NS.SAML,
        "Attribute",
        Name=name,
        NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
    )
    for value in values:
        _sub(attribute, NS.SAML, "AttributeValue", value).set(XSI_TYPE, "xs:string")


def _build_response() -> etree._Element:
    # xs and xsi are declared on the Response only, as many IdPs do: the assertion uses the xs
    # prefix inside an attribute value (xsi:type="xs:string"), which a careless copy would drop.
    nsmap = {"samlp": NS.SAMLP, "saml": NS.SAML, "xs": NS.XS, "xsi": NS.XSI}
    issue_instant = "2026-11-28T10:00:00.000Z"
    response = etree.Element(
        qname(NS.SAMLP, "Response"),
        {
            "ID": "_response-9f2c",
            "Version": "2.0",
            "IssueInstant": issue_instant,
            "Destination": RECIPIENT,
        },
        nsmap=nsmap,
    )
    _sub(response, NS.SAML, "Issuer", "https://idp.corp.example/metadata")
    status = _sub(response, NS.SAMLP, "Status")
    _sub(status, NS.SAMLP, "StatusCode", Value="urn:oasis:names:tc:SAML:2.0:status:Success")
    assertion = _sub(
        response,
        NS.SAML,
        "Assertion",
        ID="_assertion-41ab",
        Version="2.0",
        IssueInstant=issue_instant,
    )
    _sub(assertion, NS.SAML, "Issuer", "https://idp.corp.example/metadata")
    subject = _sub(assertion, NS.SAML, "Subject")
    _sub(
        subject,
        NS.SAML,
        "NameID",
        NAME_ID,
        Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    )
    confirmation = _sub(
        subject, NS.SAML, "SubjectConfirmation", Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"
    )
    _sub(
        confirmation,
        NS.SAML,
        "SubjectConfirmationData",
        NotOnOrAfter="2026-11-28T10:05:00.000Z",
        Recipient=RECIPIENT,
    )
    conditions = _sub(
        assertion,
        NS.SAML,
        "Conditions",
        NotBefore="2026-11-28T09:59:00.000Z",
        NotOnOrAfter="2026-11-28T10:05:00.000Z",
    )
    restriction = _sub(conditions, NS.SAML, "AudienceRestriction")
    _sub(restriction, NS.SAML, "Audience", "urn:amazon:webservices")
    authn = _sub(
        assertion,
        NS.SAML,
        "AuthnStatement",
        AuthnInstant=issue_instant,
        SessionIndex="_session-1",
    )
    context = _sub(authn, NS.SAML, "AuthnContext")
    _sub(
        context,
        NS.SAML,
        "AuthnContextClassRef",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
    )
    statement = _sub(assertion, NS.SAML, "AttributeStatement")
    _attribute(statement, "https://aws.amazon.com/SAML/Attributes/Role", ROLE_PAIR)
    _attribute(statement, "https://aws.amazon.com/SAML/Attributes/RoleSessionName", SESSION_NAME)
    _attribute(statement, "https://aws.amazon.com/SAML/Attributes/PrincipalTag:Team", "Größe")
    return response


def _child(parent: etree._Element, ns: NS, local: str) -> etree._Element:
    found = [child for child in parent if child.tag == qname(ns, local)]
    assert len(found) == 1, f"expected one {local} under {parent.tag}, found {len(found)}"
    return found[0]


def _sign_assertion(assertion: etree._Element, signer: Party) -> None:
    signature = xmlsec.template.create(
        assertion, xmlsec.constants.TransformExclC14N, xmlsec.constants.TransformRsaSha256, ns="ds"
    )
    _child(assertion, NS.SAML, "Issuer").addnext(signature)
    reference = xmlsec.template.add_reference(
        signature, xmlsec.constants.TransformSha256, uri=f"#{assertion.get('ID')}"
    )
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
    xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
    xmlsec.tree.add_ids(assertion, ["ID"])
    context = xmlsec.SignatureContext()
    key = xmlsec.Key.from_memory(signer.key_pem, xmlsec.constants.KeyDataFormatPem, None)
    key.load_cert_from_memory(signer.cert_pem, xmlsec.constants.KeyDataFormatCertPem)
    context.key = key
    context.sign(signature)


def _verify_assertion(assertion: etree._Element, signer: Party) -> None:
    """Raise xmlsec.VerificationError unless the assertion's signature verifies with the cert."""
    xmlsec.tree.add_ids(assertion, ["ID"])
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(
        signer.cert_pem, xmlsec.constants.KeyDataFormatCertPem, None
    )
    context.verify(_child(assertion, NS.DS, "Signature"))


@pytest.fixture(scope="module")
def signed_response_bytes(idp: Party) -> bytes:
    """A samlp:Response whose assertion is signed by the IdP, serialized as sent."""
    response = _build_response()
    _sign_assertion(_child(response, NS.SAML, "Assertion"), idp)
    serialized: bytes = etree.tostring(response, encoding="UTF-8", xml_declaration=False)
    return serialized


@pytest.fixture
def response(signed_response_bytes: bytes) -> etree._Element:
    """A fresh parsed copy of the signed response, as an SP receives it."""
    return parse_xml(signed_response_bytes)


@pytest.fixture
def assertion(response: etree._Element) -> etree._Element:
    """The signed assertion, still inside its response."""
    return _child(response, NS.SAML, "Assertion")


def _exc_c14n(element: etree._Element) -> bytes:
    canonical: bytes = etree.tostring(element, method="c14n", exclusive=True)
    return canonical


def _inc_c14n(element: etree._Element) -> bytes:
    canonical: bytes = etree.tostring(element, method="c14n", exclusive=False)
    return canonical


def _assertion_bytes(element: etree._Element) -> bytes:
    serialized: bytes = etree.tostring(
        element, encoding="UTF-8", xml_declaration=False, with_tail=False
    )
    return serialized


# --- an independent implementation of XML Encryption with `cryptography` ---------------------

_OAEP_SHA1 = asym_padding.OAEP(
    mgf=asym_padding.MGF1(algorithm=hashes.SHA1()),  # noqa: S303 - the xmlenc defaults
    algorithm=hashes.SHA1(),  # noqa: S303
    label=None,
)


def _key_bytes(data_algorithm: str) -> int:
    return 16 if "aes128" in data_algorithm else 32


def _aes_encrypt(data_algorithm: str, key: bytes, plaintext: bytes) -> bytes:
    if data_algorithm.endswith("-gcm"):
        nonce = os.urandom(12)
        return nonce + AESGCM(key).encrypt(nonce, plaintext, None)
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return iv + encryptor.update(padded) + encryptor.finalize()


def _aes_decrypt(data_algorithm: str, key: bytes, ciphertext: bytes) -> bytes:
    if data_algorithm.endswith("-gcm"):
        return AESGCM(key).decrypt(ciphertext[:12], ciphertext[12:], None)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(ciphertext[:16])).decryptor()
    padded = decryptor.update(ciphertext[16:]) + decryptor.finalize()
    # XML Encryption padding: the last byte says how many bytes to drop (the rest is arbitrary).
    return padded[: -padded[-1]]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _hand_encrypt_shibboleth(
    plaintext: bytes, recipients: list[Party], data_algorithm: str
) -> bytes:
    """Encrypt as Shibboleth lays it out: EncryptedKeys beside EncryptedData, one per recipient."""
    session_key = os.urandom(_key_bytes(data_algorithm))
    ciphertext = _aes_encrypt(data_algorithm, session_key, plaintext)
    encrypted_keys = []
    for index, recipient in enumerate(recipients):
        public_key = x509.load_pem_x509_certificate(recipient.cert_pem).public_key()
        assert isinstance(public_key, rsa.RSAPublicKey)
        wrapped_key = public_key.encrypt(session_key, _OAEP_SHA1)
        encrypted_keys.append(f"""
  <xenc:EncryptedKey xmlns:xenc="{NS.XENC}" Id="_ek-{index}" Recipient="{RECIPIENT}">
    <xenc:EncryptionMethod Algorithm="{KeyTransport.RSA_OAEP_MGF1P}">
      <ds:DigestMethod xmlns:ds="{NS.DS}" Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/>
    </xenc:EncryptionMethod>
    <ds:KeyInfo xmlns:ds="{NS.DS}">
      <ds:X509Data><ds:X509Certificate>{recipient.cert_base64}</ds:X509Certificate></ds:X509Data>
    </ds:KeyInfo>
    <xenc:CipherData><xenc:CipherValue>{_b64(wrapped_key)}</xenc:CipherValue></xenc:CipherData>
    <xenc:ReferenceList><xenc:DataReference URI="#_ed-1"/></xenc:ReferenceList>
  </xenc:EncryptedKey>""")
    return f"""<saml2:EncryptedAssertion xmlns:saml2="{NS.SAML}">
  <xenc:EncryptedData xmlns:xenc="{NS.XENC}" Id="_ed-1" Type="{XENC_TYPE_ELEMENT}">
    <xenc:EncryptionMethod Algorithm="{data_algorithm}"/>
    <ds:KeyInfo xmlns:ds="{NS.DS}">
      <ds:RetrievalMethod Type="{NS.XENC}EncryptedKey" URI="#_ek-0"/>
    </ds:KeyInfo>
    <xenc:CipherData><xenc:CipherValue>{_b64(ciphertext)}</xenc:CipherValue></xenc:CipherData>
  </xenc:EncryptedData>{"".join(encrypted_keys)}
</saml2:EncryptedAssertion>""".encode()


def _hand_decrypt(encrypted: etree._Element, recipient: Party) -> bytes:
    """Decrypt our layout without xmlsec: RSA-OAEP (SHA-1, MGF1-SHA1) then AES."""
    encrypted_data = _child(encrypted, NS.XENC, "EncryptedData")
    data_algorithm = _child(encrypted_data, NS.XENC, "EncryptionMethod").get("Algorithm", "")
    encrypted_key = _child(_child(encrypted_data, NS.DS, "KeyInfo"), NS.XENC, "EncryptedKey")
    method = _child(encrypted_key, NS.XENC, "EncryptionMethod")
    assert len(method) == 0, "no DigestMethod/MGF: the SHA-1 defaults apply"
    private_key = serialization.load_pem_private_key(recipient.key_pem, password=None)
    assert isinstance(private_key, rsa.RSAPrivateKey)

    def cipher_value(owner: etree._Element) -> bytes:
        value = _child(_child(owner, NS.XENC, "CipherData"), NS.XENC, "CipherValue")
        return base64.b64decode(value.text or "")

    session_key = private_key.decrypt(cipher_value(encrypted_key), _OAEP_SHA1)
    return _aes_decrypt(data_algorithm, session_key, cipher_value(encrypted_data))


# --- what encryption produces -------------------------------------------------------------------


@pytest.mark.parametrize(("data_algorithm", "key_transport"), ALGORITHM_PAIRS, ids=ALGORITHM_IDS)
def test_layout_names_the_algorithms_and_the_recipient(
    assertion: etree._Element,
    sp: Party,
    data_algorithm: DataEncryption,
    key_transport: KeyTransport,
) -> None:
    encrypted = encrypt_assertion(
        assertion, sp.cert_pem, data_algorithm=data_algorithm, key_transport=key_transport
    )

    assert encrypted.tag == qname(NS.SAML, "EncryptedAssertion")
    assert [child.tag for child in encrypted] == [qname(NS.XENC, "EncryptedData")]
    encrypted_data = encrypted[0]
    assert encrypted_data.get("Type") == XENC_TYPE_ELEMENT
    data_method = _child(encrypted_data, NS.XENC, "EncryptionMethod")
    assert data_method.get("Algorithm") == data_algorithm.value
    encrypted_key = _child(_child(encrypted_data, NS.DS, "KeyInfo"), NS.XENC, "EncryptedKey")
    key_method = _child(encrypted_key, NS.XENC, "EncryptionMethod")
    assert key_method.get("Algorithm") == key_transport.value
    certificate = _child(
        _child(_child(encrypted_key, NS.DS, "KeyInfo"), NS.DS, "X509Data"),
        NS.DS,
        "X509Certificate",
    )
    assert "".join((certificate.text or "").split()) == sp.cert_base64
    for owner in (encrypted_key, encrypted_data):
        value = _child(_child(owner, NS.XENC, "CipherData"), NS.XENC, "CipherValue")
        assert len(base64.b64decode(value.text or "")) >= 16


@pytest.mark.parametrize(("data_algorithm", "key_transport"), ALGORITHM_PAIRS, ids=ALGORITHM_IDS)
def test_no_plaintext_is_left_in_the_response(
    response: etree._Element,
    assertion: etree._Element,
    sp: Party,
    data_algorithm: DataEncryption,
    key_transport: KeyTransport,
) -> None:
    replace_with_encrypted(
        response,
        assertion,
        sp.cert_pem,
        data_algorithm=data_algorithm,
        key_transport=key_transport,
    )

    sent = etree.tostring(response, encoding="unicode")
    for secret in (NAME_ID, SESSION_NAME, "Engineers", "NameID", "AttributeStatement", "Größe"):
        assert secret not in sent
    assert not list(response.iter(qname(NS.SAML, "Assertion")))
    assert not list(response.iter(qname(NS.DS, "Signature")))


def test_defaults_are_aes256_gcm_and_rsa_oaep_mgf1p(assertion: etree._Element, sp: Party) -> None:
    encrypted = encrypt_assertion(assertion, sp.cert_pem)

    methods = [
        method.get("Algorithm") for method in encrypted.iter(qname(NS.XENC, "EncryptionMethod"))
    ]
    assert methods == [DataEncryption.AES256_GCM.value, KeyTransport.RSA_OAEP_MGF1P.value]


def test_each_encryption_uses_a_fresh_session_key(assertion: etree._Element, sp: Party) -> None:
    first = encrypt_assertion(assertion, sp.cert_pem)
    second = encrypt_assertion(assertion, sp.cert_pem)

    values = [
        [value.text for value in encrypted.iter(qname(NS.XENC, "CipherValue"))]
        for encrypted in (first, second)
    ]
    assert values[0][0] != values[1][0]
    assert values[0][1] != values[1][1]


def test_encrypt_leaves_the_input_untouched(
    response: etree._Element, assertion: etree._Element, sp: Party
) -> None:
    before = etree.tostring(response)

    encrypt_assertion(assertion, sp.cert_pem)

    assert etree.tostring(response) == before
    assert assertion.getparent() is response


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize(("data_algorithm", "key_transport"), ALGORITHM_PAIRS, ids=ALGORITHM_IDS)
def test_round_trip_keeps_the_signature_valid(
    assertion: etree._Element,
    idp: Party,
    sp: Party,
    data_algorithm: DataEncryption,
    key_transport: KeyTransport,
) -> None:
    exclusive, inclusive = _exc_c14n(assertion), _inc_c14n(assertion)
    encrypted = encrypt_assertion(
        assertion, sp.cert_pem, data_algorithm=data_algorithm, key_transport=key_transport
    )

    decrypted = decrypt_assertion(encrypted, [sp.key_pem])

    assert decrypted.getparent() is None
    assert _exc_c14n(decrypted) == exclusive
    assert _inc_c14n(decrypted) == inclusive
    _verify_assertion(decrypted, idp)


def test_signature_check_in_these_tests_can_fail(
    assertion: etree._Element, idp: Party, sp: Party
) -> None:
    decrypted = decrypt_assertion(encrypt_assertion(assertion, sp.cert_pem), [sp.key_pem])
    name_id = next(decrypted.iter(qname(NS.SAML, "NameID")))
    name_id.text = "mallory@corp.example"

    with pytest.raises(xmlsec.VerificationError):
        _verify_assertion(decrypted, idp)


def test_namespaces_declared_on_the_response_travel_with_the_assertion(
    assertion: etree._Element, sp: Party
) -> None:
    decrypted = decrypt_assertion(encrypt_assertion(assertion, sp.cert_pem), [sp.key_pem])

    value = next(decrypted.iter(qname(NS.SAML, "AttributeValue")))
    prefix, _, local = (value.get(XSI_TYPE) or "").partition(":")
    assert (value.nsmap[prefix], local) == (NS.XS.value, "string")
    team = [v.text for v in decrypted.iter(qname(NS.SAML, "AttributeValue"))][-1]
    assert team == "Größe"


def test_replace_with_encrypted_keeps_the_position(
    response: etree._Element, assertion: etree._Element, idp: Party, sp: Party
) -> None:
    position = response.index(assertion)
    original = _exc_c14n(assertion)

    encrypted = replace_with_encrypted(response, assertion, sp.cert_pem)

    assert response.index(encrypted) == position
    assert [etree.QName(child).localname for child in response] == [
        "Issuer",
        "Status",
        "EncryptedAssertion",
    ]
    received = parse_xml(etree.tostring(response))
    decrypted = decrypt_assertion(_child(received, NS.SAML, "EncryptedAssertion"), [sp.key_pem])
    assert _exc_c14n(decrypted) == original
    _verify_assertion(decrypted, idp)


def test_replace_with_encrypted_refuses_an_assertion_from_elsewhere(
    response: etree._Element, signed_response_bytes: bytes, sp: Party
) -> None:
    stranger = _child(parse_xml(signed_response_bytes), NS.SAML, "Assertion")

    with pytest.raises(EncryptionError, match="not a child of the given response"):
        replace_with_encrypted(response, stranger, sp.cert_pem)


# --- keys ---------------------------------------------------------------------------------------


def test_wrong_key_is_refused(assertion: etree._Element, sp: Party, other_sp: Party) -> None:
    encrypted = encrypt_assertion(assertion, sp.cert_pem)

    with pytest.raises(DecryptionError, match="none of the 1 private key") as caught:
        decrypt_assertion(encrypted, [other_sp.key_pem])
    assert caught.value.code == "decryption_failed"
    assert isinstance(caught.value, ValueError)


def test_second_key_opens_when_the_first_does_not(
    assertion: etree._Element, idp: Party, sp: Party, other_sp: Party
) -> None:
    encrypted = encrypt_assertion(assertion, sp.cert_pem)

    decrypted = decrypt_assertion(encrypted, [other_sp.key_pem, sp.key_pem])

    assert decrypted.get("ID") == assertion.get("ID")
    _verify_assertion(decrypted, idp)


def test_no_private_key_is_refused(assertion: etree._Element, sp: Party) -> None:
    with pytest.raises(DecryptionError, match="no private key"):
        decrypt_assertion(encrypt_assertion(assertion, sp.cert_pem), [])


def test_a_single_pem_instead_of_a_list_is_a_type_error(
    assertion: etree._Element, sp: Party
) -> None:
    encrypted = encrypt_assertion(assertion, sp.cert_pem)

    with pytest.raises(TypeError, match="sequence of PEM keys"):
        decrypt_assertion(encrypted, sp.key_pem)  # type: ignore[arg-type]


def test_password_protected_private_key_is_refused(assertion: etree._Element, sp: Party) -> None:
    private_key = serialization.load_pem_private_key(sp.key_pem, password=None)
    locked = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"correct horse"),
    )

    with pytest.raises(DecryptionError, match="private key #1 is encrypted"):
        decrypt_assertion(encrypt_assertion(assertion, sp.cert_pem), [locked])


def test_encrypting_for_a_non_rsa_certificate_is_refused(assertion: etree._Element) -> None:
    ec_party = _self_signed(ec.generate_private_key(ec.SECP256R1()), "ec-sp")

    with pytest.raises(EncryptionError, match="must hold an RSA key"):
        encrypt_assertion(assertion, ec_party.cert_pem)


def test_encrypting_something_else_than_an_assertion_is_refused(
    response: etree._Element, sp: Party
) -> None:
    with pytest.raises(EncryptionError, match="expected a saml:Assertion"):
        encrypt_assertion(response, sp.cert_pem)


# --- tampering and hostile content ----------------------------------------------------------


def _flip_cipher_byte(owner: etree._Element, offset: int) -> None:
    value = _child(_child(owner, NS.XENC, "CipherData"), NS.XENC, "CipherValue")
    raw = bytearray(base64.b64decode(value.text or ""))
    raw[offset] ^= 0x01
    value.text = _b64(bytes(raw))


@pytest.mark.parametrize(
    "data_algorithm",
    [DataEncryption.AES128_CBC, DataEncryption.AES256_GCM],
    ids=["aes128-cbc", "aes256-gcm"],
)
def test_tampered_ciphertext_is_refused(
    assertion: etree._Element, sp: Party, data_algorithm: DataEncryption
) -> None:
    encrypted = encrypt_assertion(assertion, sp.cert_pem, data_algorithm=data_algorithm)
    # The byte past the IV/nonce: CBC garbles a block, GCM fails its tag.
    _flip_cipher_byte(_child(encrypted, NS.XENC, "EncryptedData"), 20)

    with pytest.raises(DecryptionError) as caught:
        decrypt_assertion(encrypted, [sp.key_pem])
    assert caught.value.code == "decryption_failed"


def test_tampered_encrypted_key_is_refused(assertion: etree._Element, sp: Party) -> None:
    encrypted = encrypt_assertion(assertion, sp.cert_pem)
    key_info = _child(_child(encrypted, NS.XENC, "EncryptedData"), NS.DS, "KeyInfo")
    _flip_cipher_byte(_child(key_info, NS.XENC, "EncryptedKey"), 100)

    with pytest.raises(DecryptionError, match="could decrypt the EncryptedKey"):
        decrypt_assertion(encrypted, [sp.key_pem])


def test_doctype_inside_the_ciphertext_is_refused(assertion: etree._Element, sp: Party) -> None:
    body = _assertion_bytes(assertion).replace(NAME_ID.encode(), b"&victim;")
    crafted = b'<!DOCTYPE saml:Assertion [<!ENTITY victim "bob@corp.example">]>' + body
    encrypted = encrypt_plaintext(crafted, sp.cert_pem)

    with pytest.raises(DecryptionError, match="DOCTYPE is refused"):
        decrypt_assertion(encrypted, [sp.key_pem])


@pytest.mark.parametrize(
    ("plaintext", "message"),
    [
        (
            f'<saml:Attribute xmlns:saml="{NS.SAML}" Name="x"/>'.encode(),
            "is <Attribute>.*not a saml:Assertion",
        ),
        (
            f'<samlp:Response xmlns:samlp="{NS.SAMLP}" ID="_r"/>'.encode(),
            "is <Response>.*not a saml:Assertion",
        ),
        (
            f'<saml:Assertion xmlns:saml="{NS.SAML}" ID="_a"/>'
            f'<saml:Assertion xmlns:saml="{NS.SAML}" ID="_b"/>'.encode(),
            "not well-formed",
        ),
        (b"\x00\x01 not xml at all", "not well-formed"),
    ],
    ids=["attribute", "response", "two-assertions", "binary"],
)
def test_decrypted_content_that_is_not_one_assertion_is_refused(
    sp: Party, plaintext: bytes, message: str
) -> None:
    encrypted = encrypt_plaintext(plaintext, sp.cert_pem)

    with pytest.raises(DecryptionError, match=message):
        decrypt_assertion(encrypted, [sp.key_pem])


def test_plain_assertion_is_not_an_encrypted_assertion(
    assertion: etree._Element, sp: Party
) -> None:
    with pytest.raises(DecryptionError, match="expected a saml:EncryptedAssertion"):
        decrypt_assertion(assertion, [sp.key_pem])


@pytest.mark.parametrize(
    ("where", "algorithm"),
    [
        ("data", "http://www.w3.org/2001/04/xmlenc#tripledes-cbc"),
        ("key", "http://www.w3.org/2001/04/xmlenc#rsa-1_5"),
    ],
    ids=["tripledes-cbc", "rsa-1_5"],
)
def test_unsupported_algorithm_is_refused(
    assertion: etree._Element, sp: Party, where: str, algorithm: str
) -> None:
    encrypted = encrypt_assertion(assertion, sp.cert_pem)
    encrypted_data = _child(encrypted, NS.XENC, "EncryptedData")
    owner = encrypted_data
    if where == "key":
        owner = _child(_child(encrypted_data, NS.DS, "KeyInfo"), NS.XENC, "EncryptedKey")
    _child(owner, NS.XENC, "EncryptionMethod").set("Algorithm", algorithm)

    with pytest.raises(DecryptionError, match=f"unsupported .* algorithm '{re.escape(algorithm)}'"):
        decrypt_assertion(encrypted, [sp.key_pem])


def test_content_type_encrypted_data_is_refused(assertion: etree._Element, sp: Party) -> None:
    encrypted = encrypt_assertion(assertion, sp.cert_pem)
    _child(encrypted, NS.XENC, "EncryptedData").set("Type", f"{NS.XENC}Content")

    with pytest.raises(DecryptionError, match="EncryptedData Type must be"):
        decrypt_assertion(encrypted, [sp.key_pem])


# --- cross-checks with independent implementations ------------------------------------------


@pytest.mark.parametrize(("data_algorithm", "key_transport"), ALGORITHM_PAIRS, ids=ALGORITHM_IDS)
def test_cryptography_decrypts_our_output_to_the_original_bytes(
    assertion: etree._Element,
    sp: Party,
    data_algorithm: DataEncryption,
    key_transport: KeyTransport,
) -> None:
    encrypted = encrypt_assertion(
        assertion, sp.cert_pem, data_algorithm=data_algorithm, key_transport=key_transport
    )

    assert _hand_decrypt(encrypted, sp) == _assertion_bytes(assertion)


@pytest.mark.parametrize(
    "data_algorithm",
    [DataEncryption.AES128_CBC, DataEncryption.AES256_GCM],
    ids=["aes128-cbc", "aes256-gcm"],
)
def test_we_decrypt_shibboleth_layout_made_by_cryptography(
    assertion: etree._Element, idp: Party, sp: Party, data_algorithm: DataEncryption
) -> None:
    received = parse_xml(
        _hand_encrypt_shibboleth(_assertion_bytes(assertion), [sp], data_algorithm.value)
    )

    decrypted = decrypt_assertion(received, [sp.key_pem])

    assert _exc_c14n(decrypted) == _exc_c14n(assertion)
    _verify_assertion(decrypted, idp)


def test_encrypted_key_for_another_recipient_is_skipped(
    assertion: etree._Element, idp: Party, sp: Party, other_sp: Party
) -> None:
    plaintext = _assertion_bytes(assertion)
    received = parse_xml(
        _hand_encrypt_shibboleth(plaintext, [other_sp, sp], DataEncryption.AES256_GCM.value)
    )
    assert len(received.findall(qname(NS.XENC, "EncryptedKey"))) == 2

    decrypted = decrypt_assertion(received, [sp.key_pem])

    assert _assertion_bytes(decrypted) == plaintext
    _verify_assertion(decrypted, idp)


def test_missing_encrypted_key_is_refused(assertion: etree._Element, sp: Party) -> None:
    encrypted = encrypt_assertion(assertion, sp.cert_pem)
    encrypted_data = _child(encrypted, NS.XENC, "EncryptedData")
    encrypted_data.remove(_child(encrypted_data, NS.DS, "KeyInfo"))

    with pytest.raises(DecryptionError, match="carries no xenc:EncryptedKey"):
        decrypt_assertion(encrypted, [sp.key_pem])


@pytest.fixture(scope="module")
def xmlsec1() -> tuple[str, tuple[int, ...]]:
    """The xmlsec1 command-line tool and its version, or a skip naming the missing binary."""
    binary = shutil.which("xmlsec1")
    if binary is None:
        pytest.skip("the `xmlsec1` binary is not installed (apt-get install xmlsec1)")
    printed = subprocess.run(  # noqa: S603 - fixed arguments, binary found on PATH
        [binary, "--version"], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", printed)
    assert found is not None, f"cannot read the xmlsec1 version from {printed!r}"
    return binary, tuple(int(part) for part in found.groups())


@pytest.mark.parametrize(("data_algorithm", "key_transport"), ALGORITHM_PAIRS, ids=ALGORITHM_IDS)
def test_xmlsec1_command_line_decrypts_our_output(
    xmlsec1: tuple[str, tuple[int, ...]],
    tmp_path: Path,
    response: etree._Element,
    assertion: etree._Element,
    idp: Party,
    sp: Party,
    data_algorithm: DataEncryption,
    key_transport: KeyTransport,
) -> None:
    binary, version = xmlsec1
    if key_transport is KeyTransport.RSA_OAEP and version < (1, 3, 0):
        pytest.skip(
            f"xmlsec1 {'.'.join(map(str, version))} predates {key_transport.value} "
            "(added in xmlsec 1.3.0)"
        )
    original = _exc_c14n(assertion)
    replace_with_encrypted(
        response,
        assertion,
        sp.cert_pem,
        data_algorithm=data_algorithm,
        key_transport=key_transport,
    )
    (tmp_path / "response.xml").write_bytes(etree.tostring(response))
    (tmp_path / "sp.key").write_bytes(sp.key_pem)

    result = subprocess.run(  # noqa: S603 - fixed arguments, binary found on PATH
        [
            binary,
            "--decrypt",
            "--privkey-pem",
            str(tmp_path / "sp.key"),
            str(tmp_path / "response.xml"),
        ],
        capture_output=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr.decode(errors="replace")
    decrypted = next(parse_xml(result.stdout).iter(qname(NS.SAML, "Assertion")))
    assert _exc_c14n(decrypted) == original
    _verify_assertion(decrypted, idp)
