"""SAML ``EncryptedAssertion``: encrypt a signed assertion for one SP, and decrypt it again.

AWS accepts encrypted assertions once an IAM SAML provider has ``AssertionEncryptionMode``
``Allowed`` or ``Required`` and holds up to two private keys (aws-sts-saml.md §2.1 item 10, §4).
The layout is the one Shibboleth, ADFS and Okta send: ``xenc:EncryptedData`` (Type Element,
AES-CBC or AES-GCM) whose ``ds:KeyInfo`` holds one ``xenc:EncryptedKey`` (RSA-OAEP) naming the
recipient's certificate in ``ds:X509Data``.

The assertion is signed *before* it is encrypted, so its bytes must come back unchanged: the
plaintext is the assertion serialized with every namespace declaration in scope, and decryption
parses it again on its own, through the hardened parser, so it canonicalizes as before.

Decryption runs before any signature is checked and needs nothing but the SP's public
certificate, so nothing the sender wrote may make xmlsec fetch or compute anything:
:func:`check_encrypted_structure` refuses ``xenc:CipherReference`` (xmlsec would read ``file:``
paths, ``/dev/zero``, HTTP URLs), any ``Transforms`` (XSLT runs arbitrary computation), nested
``EncryptedData``, misplaced ``EncryptedKey``, any ``ds:RetrievalMethod`` but a same-document
``#id`` pointing at an ``EncryptedKey`` of the same EncryptedAssertion, and algorithms outside
the allowlists; and xmlsec only ever sees a minimal copy rebuilt from the checked
``EncryptionMethod`` and inline ``CipherValue`` (:func:`_minimal_copy`), never the received
element.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple, TypeVar

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from idp.errors import IdpError
from idp.saml.constants import NS, DataEncryption, DigestAlgorithm, KeyTransport, qname
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

#: ``RetrievalMethod/@Type`` for a pointer to an EncryptedKey (XML Encryption 1.0 §3.5.1).
XENC_TYPE_ENCRYPTED_KEY = "http://www.w3.org/2001/04/xmlenc#EncryptedKey"

#: Mask generation functions libxmlsec accepts inside an xmlenc11#rsa-oaep EncryptionMethod.
_MGF_ALGORITHMS = frozenset(
    f"http://www.w3.org/2009/xmlenc11#mgf1{digest}"
    for digest in ("sha1", "sha224", "sha256", "sha384", "sha512")
)

#: Elements refused anywhere inside an EncryptedAssertion, by local name in any namespace:
#: each makes xmlsec dereference a URI or run a transform (XSLT, XPath, base64 of a file...).
_FORBIDDEN_ANYWHERE = frozenset(
    {"CipherReference", "Transforms", "Transform", "KeyInfoReference", "AgreementMethod"}
)

#: Namespaces whose elements have no business in an EncryptedAssertion.
_FORBIDDEN_NAMESPACES = frozenset(
    {"http://www.w3.org/1999/XSL/Transform", "http://www.w3.org/2001/XInclude"}
)

_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]+")
_SAME_DOCUMENT_ID = re.compile(r"#([A-Za-z_][\w.\-]*)")

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


def _refuse(reason: str) -> DecryptionError:
    return DecryptionError(f"the EncryptedAssertion is refused: {reason}")


def _element_children(parent: etree._Element) -> list[etree._Element]:
    return [child for child in parent if isinstance(child.tag, str)]


def _check_children(owner: etree._Element, what: str, allowed: dict[str, tuple[int, int]]) -> None:
    """Each element child of ``owner`` must be one of ``allowed`` (tag -> (min, max) count)."""
    counts = dict.fromkeys(allowed, 0)
    for child in _element_children(owner):
        tag = child.tag
        if not isinstance(tag, str) or tag not in counts:
            raise _refuse(f"{_describe(child)} is not allowed in {what}")
        counts[tag] += 1
    for tag, (least, most) in allowed.items():
        if not least <= counts[tag] <= most:
            expected = f"exactly {least}" if least == most else f"at most {most}"
            local = etree.QName(tag).localname
            raise _refuse(f"{what} must hold {expected} <{local}>, found {counts[tag]}")


def _cipher_value(owner: etree._Element) -> etree._Element:
    return _children(_children(owner, NS.XENC, "CipherData")[0], NS.XENC, "CipherValue")[0]


def _check_cipher_data(owner: etree._Element, what: str) -> None:
    """CipherData must hold one inline CipherValue of base64 text: never a CipherReference."""
    cipher_data = _children(owner, NS.XENC, "CipherData")[0]
    _check_children(
        cipher_data, f"the {what}'s CipherData", {qname(NS.XENC, "CipherValue"): (1, 1)}
    )
    value = _cipher_value(owner)
    if len(value) or not value.text or _BASE64.fullmatch(value.text) is None:
        raise _refuse(f"the {what}'s CipherValue must be base64 text and nothing else")


def _check_method_parameters(method: etree._Element, what: str, *, key: bool) -> None:
    """An EncryptionMethod holds only parameters we know, with allowlisted algorithms."""
    allowed = {qname(NS.XENC, "KeySize"): (0, 1)}
    if key:
        allowed |= {
            qname(NS.DS, "DigestMethod"): (0, 1),
            qname(NS.XENC11, "MGF"): (0, 1),
            qname(NS.XENC, "OAEPparams"): (0, 1),
        }
    _check_children(method, f"the {what} EncryptionMethod", allowed)
    digests = {digest.value for digest in DigestAlgorithm}
    for parameter in _element_children(method):
        if len(parameter):
            raise _refuse(f"{_describe(parameter)} in the {what} EncryptionMethod has children")
        algorithm = parameter.get("Algorithm")
        if parameter.tag == qname(NS.DS, "DigestMethod") and algorithm not in digests:
            raise _refuse(f"unsupported OAEP digest algorithm {algorithm!r}")
        if parameter.tag == qname(NS.XENC11, "MGF") and algorithm not in _MGF_ALGORITHMS:
            raise _refuse(f"unsupported OAEP mask generation function {algorithm!r}")


#: Children of xenc:EncryptedData (EncryptedType), each with its (min, max) count.
_ENCRYPTED_DATA_CHILDREN = {
    qname(NS.XENC, "EncryptionMethod"): (1, 1),
    qname(NS.DS, "KeyInfo"): (0, 1),
    qname(NS.XENC, "CipherData"): (1, 1),
    qname(NS.XENC, "EncryptionProperties"): (0, 1),
}
#: xenc:EncryptedKey adds ReferenceList and CarriedKeyName.
_ENCRYPTED_KEY_CHILDREN = _ENCRYPTED_DATA_CHILDREN | {
    qname(NS.XENC, "ReferenceList"): (0, 1),
    qname(NS.XENC, "CarriedKeyName"): (0, 1),
}
#: At most this many EncryptedKeys (each costs an RSA decryption per private key) and KeyInfo
#: entries; Shibboleth sends one EncryptedKey per recipient, the others one in all.
MAX_ENCRYPTED_KEYS = 10
_MANY = MAX_ENCRYPTED_KEYS
#: What EncryptedData's ds:KeyInfo may hold: the key (or a pointer to it) and inert names.
_DATA_KEY_INFO_CHILDREN = {
    qname(NS.XENC, "EncryptedKey"): (0, _MANY),
    qname(NS.DS, "RetrievalMethod"): (0, _MANY),
    qname(NS.DS, "KeyName"): (0, _MANY),
    qname(NS.DS, "X509Data"): (0, _MANY),
}


def _check_retrieval_method(
    method: etree._Element, encrypted_keys: Sequence[etree._Element]
) -> None:
    """Allow only ``URI="#id"`` naming exactly one EncryptedKey of this EncryptedAssertion."""
    uri = method.get("URI") or ""
    kind = method.get("Type")
    if kind not in (None, XENC_TYPE_ENCRYPTED_KEY):
        raise _refuse(f"ds:RetrievalMethod Type must be {XENC_TYPE_ENCRYPTED_KEY}, not {kind!r}")
    if len(method):
        raise _refuse("ds:RetrievalMethod must not hold child elements (no Transforms)")
    same_document = _SAME_DOCUMENT_ID.fullmatch(uri)
    if same_document is None:
        raise _refuse(f"ds:RetrievalMethod URI {uri!r} is not a same-document '#id' reference")
    targets = [key for key in encrypted_keys if key.get("Id") == same_document.group(1)]
    if len(targets) != 1:
        raise _refuse(
            f"ds:RetrievalMethod URI {uri!r} must name exactly one xenc:EncryptedKey of this "
            f"EncryptedAssertion, found {len(targets)}"
        )


def _among(element: etree._Element, nodes: Sequence[etree._Element]) -> bool:
    return any(element is node for node in nodes)


def _check_no_forbidden_elements(
    encrypted: etree._Element,
    encrypted_data: etree._Element,
    encrypted_keys: Sequence[etree._Element],
) -> None:
    """Scan the whole EncryptedAssertion, EncryptionProperties and KeyInfo contents included."""
    # Compare nodes with ``is``, holding the proxies: lxml returns the same proxy for a node
    # only while one is alive, so id() of a discarded proxy could be reused by another node.
    allowed_methods = [
        method
        for key_info in _children(encrypted_data, NS.DS, "KeyInfo")
        for method in _children(key_info, NS.DS, "RetrievalMethod")
    ]
    for element in encrypted.iter():
        tag = element.tag
        if not isinstance(tag, str):
            continue  # comments and processing instructions are inert
        name = etree.QName(tag)
        if name.localname in _FORBIDDEN_ANYWHERE or name.namespace in _FORBIDDEN_NAMESPACES:
            raise _refuse(f"{_describe(element)} is not allowed (only inline CipherValue data)")
        if tag == qname(NS.XENC, "EncryptedData") and element is not encrypted_data:
            raise _refuse("a nested xenc:EncryptedData is not allowed")
        if tag == qname(NS.XENC, "EncryptedKey") and not _among(element, encrypted_keys):
            raise _refuse(
                "an xenc:EncryptedKey may only be a child of the EncryptedAssertion or of the "
                "EncryptedData's ds:KeyInfo"
            )
        if tag == qname(NS.DS, "RetrievalMethod") and not _among(element, allowed_methods):
            raise _refuse("ds:RetrievalMethod is only allowed in the EncryptedData's ds:KeyInfo")


def check_encrypted_structure(
    encrypted: etree._Element, encrypted_data: etree._Element
) -> list[etree._Element]:
    """Refuse any EncryptedAssertion that could make xmlsec fetch or compute something.

    Runs before xmlsec sees anything; raises :class:`DecryptionError`. Returns the
    EncryptedKeys, found in the two places they may be: in EncryptedData's ``ds:KeyInfo``
    (Okta, ADFS) or beside EncryptedData (Shibboleth, pointing at them with RetrievalMethod).
    """
    encrypted_keys = _encrypted_keys(encrypted, encrypted_data)
    if len(encrypted_keys) > MAX_ENCRYPTED_KEYS:
        raise _refuse(
            f"{len(encrypted_keys)} xenc:EncryptedKey elements; at most {MAX_ENCRYPTED_KEYS} "
            "are accepted"
        )
    _check_no_forbidden_elements(encrypted, encrypted_data, encrypted_keys)
    _check_children(
        encrypted,
        "the EncryptedAssertion",
        {qname(NS.XENC, "EncryptedData"): (1, 1), qname(NS.XENC, "EncryptedKey"): (0, _MANY)},
    )
    _check_children(encrypted_data, "the EncryptedData", _ENCRYPTED_DATA_CHILDREN)
    _algorithm(encrypted_data, DataEncryption, "data encryption")
    _check_method_parameters(
        _children(encrypted_data, NS.XENC, "EncryptionMethod")[0], "data", key=False
    )
    _check_cipher_data(encrypted_data, "EncryptedData")
    for key_info in _children(encrypted_data, NS.DS, "KeyInfo"):
        _check_children(key_info, "the EncryptedData's ds:KeyInfo", _DATA_KEY_INFO_CHILDREN)
        for method in _children(key_info, NS.DS, "RetrievalMethod"):
            _check_retrieval_method(method, encrypted_keys)
    for encrypted_key in encrypted_keys:
        _check_children(encrypted_key, "an EncryptedKey", _ENCRYPTED_KEY_CHILDREN)
        _algorithm(encrypted_key, KeyTransport, "key transport")
        _check_method_parameters(
            _children(encrypted_key, NS.XENC, "EncryptionMethod")[0], "key transport", key=True
        )
        _check_cipher_data(encrypted_key, "EncryptedKey")
        for reference_list in _children(encrypted_key, NS.XENC, "ReferenceList"):
            for reference in _element_children(reference_list):
                if _SAME_DOCUMENT_ID.fullmatch(reference.get("URI") or "") is None:
                    raise _refuse(
                        f"{_describe(reference)} in a ReferenceList must be a same-document "
                        "'#id' reference"
                    )
    return encrypted_keys


def _minimal_copy(owner: etree._Element) -> etree._Element:
    """Rebuild a checked ``owner`` for xmlsec: its EncryptionMethod and inline CipherValue only.

    No KeyInfo, no ReferenceList, no EncryptionProperties, no @Type (so xmlsec hands back the
    raw bytes instead of parsing them itself): xmlsec gets nothing it could follow or run.
    """
    rebuilt = etree.Element(owner.tag, nsmap={"xenc": NS.XENC.value})
    method = _children(owner, NS.XENC, "EncryptionMethod")[0]
    rebuilt_method = etree.SubElement(rebuilt, method.tag, Algorithm=method.get("Algorithm", ""))
    for parameter in _element_children(method):
        rebuilt_parameter = etree.SubElement(rebuilt_method, parameter.tag)
        algorithm = parameter.get("Algorithm")
        if algorithm is not None:
            rebuilt_parameter.set("Algorithm", algorithm)
        rebuilt_parameter.text = parameter.text
    cipher_data = etree.SubElement(rebuilt, qname(NS.XENC, "CipherData"))
    etree.SubElement(cipher_data, qname(NS.XENC, "CipherValue")).text = _cipher_value(owner).text
    return rebuilt


def _decrypt_to_bytes(node: etree._Element, key: xmlsec.Key) -> bytes | None:
    # Only a checked, rebuilt copy ever reaches xmlsec (check_encrypted_structure first).
    context = xmlsec.EncryptionContext()
    context.key = key
    try:
        result: object = context.decrypt(_minimal_copy(node))
    except xmlsec.Error:
        return None
    return result if isinstance(result, bytes) else None


def _encrypted_keys(
    encrypted: etree._Element, encrypted_data: etree._Element
) -> list[etree._Element]:
    # Okta/ADFS put the EncryptedKey in EncryptedData's KeyInfo; Shibboleth may put it beside
    # EncryptedData and point at it with ds:RetrievalMethod. Both layouts are accepted; the
    # RetrievalMethod is checked but never followed: every EncryptedKey found here is tried.
    inline = [
        encrypted_key
        for key_info in _children(encrypted_data, NS.DS, "KeyInfo")
        for encrypted_key in _children(key_info, NS.XENC, "EncryptedKey")
    ]
    return inline + _children(encrypted, NS.XENC, "EncryptedKey")


def decrypt_assertion(encrypted: etree._Element, private_keys: Sequence[bytes]) -> etree._Element:
    """Decrypt a ``saml:EncryptedAssertion`` with the first PEM key that fits; return the Assertion.

    :func:`check_encrypted_structure` runs first, so xmlsec never dereferences a URI or runs a
    transform. The plaintext is parsed on its own by :func:`parse_xml`, never by xmlsec in the
    context of the response, so a DOCTYPE or entity inside the ciphertext is refused like
    anywhere else. It must therefore declare its own namespaces, as our encryption and the IdPs
    we know of do.
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
    encrypted_keys = check_encrypted_structure(encrypted, encrypted_data)  # algorithms too
    if not encrypted_keys:
        raise DecryptionError("the EncryptedAssertion carries no xenc:EncryptedKey")
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
