"""SAML ``EncryptedAssertion``: encrypt a signed assertion for one SP, and decrypt it again.

AWS accepts encrypted assertions once an IAM SAML provider has ``AssertionEncryptionMode``
``Allowed`` or ``Required`` and holds up to two private keys (aws-sts-saml.md §2.1 item 10, §4).
The layout is the one Shibboleth, ADFS and Okta send: ``xenc:EncryptedData`` (Type Element,
AES-CBC or AES-GCM) whose ``ds:KeyInfo`` holds one ``xenc:EncryptedKey`` (RSA-OAEP) naming the
recipient's certificate in ``ds:X509Data``.

The assertion is signed *before* it is encrypted, so its bytes must come back unchanged: the
plaintext is the assertion serialized with every namespace declaration in scope, and decryption
parses it again on its own, through the hardened parser, so it canonicalizes as before.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple, TypeVar

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from idp.errors import IdpError
from idp.saml.constants import NS, DataEncryption, KeyTransport, qname
from idp.saml.xmlparse import UnsafeXmlError, parse_xml

if TYPE_CHECKING:
    from xmlsec.constants import __Transform as XmlsecTransform

#: ``EncryptedData/@Type`` for an encrypted element (XML Encryption 1.0 §3.5.1).
XENC_TYPE_ELEMENT = "http://www.w3.org/2001/04/xmlenc#Element"


class _Cipher(NamedTuple):
    transform: XmlsecTransform
    key_bytes: int


_CIPHERS: dict[DataEncryption, _Cipher] = {
    DataEncryption.AES128_CBC: _Cipher(xmlsec.constants.TransformAes128Cbc, 16),
    DataEncryption.AES256_CBC: _Cipher(xmlsec.constants.TransformAes256Cbc, 32),
    DataEncryption.AES128_GCM: _Cipher(xmlsec.constants.TransformAes128Gcm, 16),
    DataEncryption.AES256_GCM: _Cipher(xmlsec.constants.TransformAes256Gcm, 32),
}

#: libxmlsec implements xmlenc11#rsa-oaep from 1.3.0 on (python-xmlsec has no constant for it).
_RSA_OAEP11_SINCE = (1, 3, 0)

_Uri = TypeVar("_Uri", DataEncryption, KeyTransport)


class EncryptionError(IdpError, ValueError):
    """The assertion cannot be encrypted for this certificate or with these algorithms."""

    code = "encryption"


class DecryptionError(IdpError, ValueError):
    """An EncryptedAssertion cannot be decrypted, or what it holds is not a plain Assertion."""

    code = "decryption_failed"


def _libxmlsec_version() -> tuple[int, ...]:
    # get_libxmlsec_version exists in python-xmlsec >= 1.3.14 but is missing from its stubs.
    get_version = getattr(xmlsec, "get_libxmlsec_version", None)
    return tuple(int(part) for part in get_version()) if callable(get_version) else ()


def _describe(element: etree._Element) -> str:
    tag = element.tag
    if not isinstance(tag, str):
        return "a non-element node"
    name = etree.QName(tag)
    return f"<{name.localname}> in namespace {name.namespace!r}"


def _children(parent: etree._Element, ns: NS, local: str) -> list[etree._Element]:
    # Compare tag strings rather than use find(): see the note at the end of encrypt_plaintext.
    tag = qname(ns, local)
    return [child for child in parent if child.tag == tag]


def _recipient_key(cert_pem: bytes) -> xmlsec.Key:
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise EncryptionError(
            f"the recipient certificate is not a PEM certificate ({exc})"
        ) from None
    if not isinstance(certificate.public_key(), rsa.RSAPublicKey):
        raise EncryptionError("the recipient certificate must hold an RSA key (RSA-OAEP transport)")
    try:
        return xmlsec.Key.from_memory(cert_pem, xmlsec.constants.KeyDataFormatCertPem, None)
    except xmlsec.Error as exc:
        raise EncryptionError(f"xmlsec cannot load the recipient certificate: {exc}") from None


def _standalone_bytes(element: etree._Element) -> bytes:
    """Serialize ``element`` as UTF-8 with every in-scope namespace declaration, no tail."""
    # lxml declares all in-scope namespaces on a serialized subelement, including those used
    # only in attribute values such as xsi:type="xs:string" (a deepcopy would drop those).
    serialized: bytes = etree.tostring(
        element, encoding="UTF-8", xml_declaration=False, with_tail=False
    )
    return serialized


def encrypt_assertion(
    assertion: etree._Element,
    recipient_cert_pem: bytes,
    *,
    data_algorithm: DataEncryption = DataEncryption.AES256_GCM,
    key_transport: KeyTransport = KeyTransport.RSA_OAEP_MGF1P,
) -> etree._Element:
    """Return a new ``saml:EncryptedAssertion`` holding ``assertion``, which is left untouched."""
    if assertion.tag != qname(NS.SAML, "Assertion"):
        raise EncryptionError(f"expected a saml:Assertion to encrypt, got {_describe(assertion)}")
    return encrypt_plaintext(
        _standalone_bytes(assertion),
        recipient_cert_pem,
        data_algorithm=data_algorithm,
        key_transport=key_transport,
    )


def encrypt_plaintext(
    plaintext: bytes,
    recipient_cert_pem: bytes,
    *,
    data_algorithm: DataEncryption = DataEncryption.AES256_GCM,
    key_transport: KeyTransport = KeyTransport.RSA_OAEP_MGF1P,
) -> etree._Element:
    """Return a ``saml:EncryptedAssertion`` over raw ``plaintext`` (for crafting hostile cases)."""
    try:
        cipher = _CIPHERS[DataEncryption(data_algorithm)]
        key_transport = KeyTransport(key_transport)
    except ValueError as exc:
        raise EncryptionError(f"unsupported encryption algorithm: {exc}") from None
    version = _libxmlsec_version()
    if key_transport is KeyTransport.RSA_OAEP and version and version < _RSA_OAEP11_SINCE:
        raise EncryptionError(
            f"{KeyTransport.RSA_OAEP.value} needs libxmlsec >= 1.3.0, this python-xmlsec links "
            f"{'.'.join(map(str, version))}; use {KeyTransport.RSA_OAEP_MGF1P.value}"
        )
    recipient = _recipient_key(recipient_cert_pem)

    encrypted_assertion = etree.Element(
        qname(NS.SAML, "EncryptedAssertion"), nsmap={"saml": NS.SAML}
    )
    encrypted_data = xmlsec.template.encrypted_data_create(
        encrypted_assertion, cipher.transform, type=XENC_TYPE_ELEMENT, ns="xenc"
    )
    encrypted_assertion.append(encrypted_data)
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_data)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(encrypted_data, ns="ds")
    encrypted_key = xmlsec.template.add_encrypted_key(key_info, xmlsec.constants.TransformRsaOaep)
    if key_transport is KeyTransport.RSA_OAEP:
        # libxmlsec picks the transform by this URI; defaults are SHA-1 digest and MGF1-SHA1.
        for method in _children(encrypted_key, NS.XENC, "EncryptionMethod"):
            method.set("Algorithm", KeyTransport.RSA_OAEP.value)
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
    key_key_info = xmlsec.template.encrypted_data_ensure_key_info(encrypted_key, ns="ds")
    xmlsec.template.add_x509_data(key_key_info)

    manager = xmlsec.KeysManager()
    manager.add_key(recipient)
    context = xmlsec.EncryptionContext(manager)
    context.key = xmlsec.Key.generate(
        xmlsec.constants.KeyDataAes, cipher.key_bytes * 8, xmlsec.constants.KeyDataTypeSession
    )
    try:
        context.encrypt_binary(encrypted_data, plaintext)
    except xmlsec.Error as exc:
        raise EncryptionError(
            f"xmlsec could not encrypt with {data_algorithm} and {key_transport}: {exc}"
        ) from None
    # Parse the result again: lxml's find() by tag misses some nodes that xmlsec's template
    # functions create (ds:KeyInfo) because their names are not in the document's dictionary.
    return parse_xml(etree.tostring(encrypted_assertion))


def replace_with_encrypted(
    response: etree._Element,
    assertion: etree._Element,
    cert_pem: bytes,
    *,
    data_algorithm: DataEncryption = DataEncryption.AES256_GCM,
    key_transport: KeyTransport = KeyTransport.RSA_OAEP_MGF1P,
) -> etree._Element:
    """Swap ``assertion`` inside ``response`` for its EncryptedAssertion; return the latter.

    A Response signature made before the swap no longer verifies: sign the Response after.
    """
    if assertion.getparent() is not response:
        raise EncryptionError("the assertion to encrypt is not a child of the given response")
    encrypted = encrypt_assertion(
        assertion, cert_pem, data_algorithm=data_algorithm, key_transport=key_transport
    )
    encrypted.tail = assertion.tail
    response.replace(assertion, encrypted)
    return encrypted


def _algorithm(owner: etree._Element, allowed: type[_Uri], what: str) -> _Uri:
    methods = _children(owner, NS.XENC, "EncryptionMethod")
    uri = methods[0].get("Algorithm") if len(methods) == 1 else None
    if uri is None:
        raise DecryptionError(f"the {what} needs exactly one EncryptionMethod with an Algorithm")
    try:
        return allowed(uri)
    except ValueError:
        choices = ", ".join(allowed)
        raise DecryptionError(
            f"unsupported {what} algorithm {uri!r} (supported: {choices})"
        ) from None


def _load_private_key(pem: bytes, index: int) -> xmlsec.Key:
    where = f"private key #{index + 1}"
    try:
        private_key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise DecryptionError(
            f"{where} is encrypted; give it unencrypted, as AWS stores it"
        ) from None
    except ValueError as exc:
        raise DecryptionError(f"{where} is not a PEM private key ({exc})") from None
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise DecryptionError(f"{where} is not an RSA key; RSA-OAEP needs one")
    try:
        return xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatPem, None)
    except xmlsec.Error as exc:
        raise DecryptionError(f"xmlsec cannot load {where}: {exc}") from None


def _decrypt_to_bytes(node: etree._Element, key: xmlsec.Key) -> bytes | None:
    # A copy without @Type makes xmlsec hand back the raw bytes instead of parsing them itself.
    detached = copy.deepcopy(node)
    if "Type" in detached.attrib:
        del detached.attrib["Type"]
    context = xmlsec.EncryptionContext()
    context.key = key
    try:
        result: object = context.decrypt(detached)
    except xmlsec.Error:
        return None
    return result if isinstance(result, bytes) else None


def _encrypted_keys(
    encrypted: etree._Element, encrypted_data: etree._Element
) -> list[etree._Element]:
    # Okta/ADFS put the EncryptedKey in EncryptedData's KeyInfo; Shibboleth may put it beside
    # EncryptedData and point at it with ds:RetrievalMethod. Both layouts are accepted.
    inline = [
        encrypted_key
        for key_info in _children(encrypted_data, NS.DS, "KeyInfo")
        for encrypted_key in _children(key_info, NS.XENC, "EncryptedKey")
    ]
    return inline + _children(encrypted, NS.XENC, "EncryptedKey")


def decrypt_assertion(encrypted: etree._Element, private_keys: Sequence[bytes]) -> etree._Element:
    """Decrypt a ``saml:EncryptedAssertion`` with the first PEM key that fits; return the Assertion.

    The plaintext is parsed on its own by :func:`parse_xml`, never by xmlsec in the context of the
    response, so a DOCTYPE or entity inside the ciphertext is refused like anywhere else. It must
    therefore declare its own namespaces, as our encryption and the IdPs we know of do.
    """
    if isinstance(private_keys, bytes | str):
        raise TypeError("private_keys is a sequence of PEM keys, not a single key")
    if encrypted.tag != qname(NS.SAML, "EncryptedAssertion"):
        raise DecryptionError(f"expected a saml:EncryptedAssertion, got {_describe(encrypted)}")
    if not private_keys:
        raise DecryptionError("no private key to decrypt the EncryptedAssertion with")
    data_nodes = _children(encrypted, NS.XENC, "EncryptedData")
    if len(data_nodes) != 1:
        raise DecryptionError(
            f"an EncryptedAssertion holds exactly one xenc:EncryptedData, found {len(data_nodes)}"
        )
    encrypted_data = data_nodes[0]
    data_type = encrypted_data.get("Type")
    if data_type not in (None, XENC_TYPE_ELEMENT):
        raise DecryptionError(f"EncryptedData Type must be {XENC_TYPE_ELEMENT}, not {data_type!r}")
    cipher = _CIPHERS[_algorithm(encrypted_data, DataEncryption, "data encryption")]
    encrypted_keys = _encrypted_keys(encrypted, encrypted_data)
    if not encrypted_keys:
        raise DecryptionError("the EncryptedAssertion carries no xenc:EncryptedKey")
    for encrypted_key in encrypted_keys:
        _algorithm(encrypted_key, KeyTransport, "key transport")
    rsa_keys = [_load_private_key(pem, index) for index, pem in enumerate(private_keys)]

    unlocked = False
    for rsa_key in rsa_keys:
        for encrypted_key in encrypted_keys:
            session_key = _decrypt_to_bytes(encrypted_key, rsa_key)
            if session_key is None:
                continue
            unlocked = True
            if len(session_key) != cipher.key_bytes:
                continue
            aes_key = xmlsec.Key.from_binary_data(xmlsec.constants.KeyDataAes, session_key)
            plaintext = _decrypt_to_bytes(encrypted_data, aes_key)
            if plaintext is not None:
                return _parse_assertion(plaintext)
    if unlocked:
        raise DecryptionError(
            "the EncryptedKey opened but the EncryptedData did not decrypt with it "
            "(tampered ciphertext or wrong algorithm)"
        )
    raise DecryptionError(
        f"none of the {len(rsa_keys)} private key(s) could decrypt the EncryptedKey "
        "(the assertion was encrypted for another certificate)"
    )


def _parse_assertion(plaintext: bytes) -> etree._Element:
    try:
        root = parse_xml(plaintext)
    except UnsafeXmlError as exc:
        raise DecryptionError(f"the decrypted content is refused: {exc}") from None
    if root.tag != qname(NS.SAML, "Assertion"):
        raise DecryptionError(f"the decrypted content is {_describe(root)}, not a saml:Assertion")
    return root
