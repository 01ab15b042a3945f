"""XML-DSig enveloped signatures with python-xmlsec, in-process.

Layout as AWS, ADFS and Okta produce it: exclusive c14n, one Reference to the element's ID with
the enveloped-signature and exc-c14n transforms, ``ds:Signature`` right after ``saml:Issuer``,
the signing certificate in ``ds:KeyInfo/ds:X509Data``.

How a signature is made, and why this way: the ``ds:Signature`` is a copy of xmlsec's own
template; the Reference digest is taken over the exclusive canonical form of the element
(libxml2's C14N through lxml, the code xmlsec runs for this transform; the signature is not yet
in the tree, which is what the enveloped-signature transform asks for); xmlsec then signs the
canonical ``ds:SignedInfo`` with ``sign_binary``. The result is byte for byte what
``xmlsec.SignatureContext.sign`` writes for the same template (RSA PKCS#1 v1.5 is
deterministic; ``tests/idp/saml/test_signing.py`` compares the two), at a third less time:
xmlsec's template signing resolves the ``#ID`` through an ID table it registers in the document
(which also grew the process by about 60 bytes a signature) and walks its transform chain in
C for each of the two canonicalisations.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
from dataclasses import dataclass
from enum import StrEnum

import xmlsec
from lxml import etree

from idp.errors import SigningError
from idp.saml.constants import (
    DIGEST_FOR,
    NS,
    DigestAlgorithm,
    SignatureAlgorithm,
    qname,
)
from idp.saml.keys import KeyPair

_SIGN_TRANSFORMS = {
    SignatureAlgorithm.RSA_SHA1: xmlsec.constants.TransformRsaSha1,
    SignatureAlgorithm.RSA_SHA256: xmlsec.constants.TransformRsaSha256,
    SignatureAlgorithm.RSA_SHA512: xmlsec.constants.TransformRsaSha512,
}
_DIGEST_TRANSFORMS = {
    DigestAlgorithm.SHA1: xmlsec.constants.TransformSha1,
    DigestAlgorithm.SHA256: xmlsec.constants.TransformSha256,
    DigestAlgorithm.SHA512: xmlsec.constants.TransformSha512,
}
_HASHLIB_NAMES = {
    DigestAlgorithm.SHA1: "sha1",
    DigestAlgorithm.SHA256: "sha256",
    DigestAlgorithm.SHA512: "sha512",
}
_BASE64_LINE = 64
"""xmlsec writes base64 values in lines of 64 characters; so do we, to stay byte-identical."""


class SignTarget(StrEnum):
    """Which elements of a Response carry a signature."""

    ASSERTION = "assertion"
    RESPONSE = "response"
    BOTH = "both"
    NONE = "none"

    @property
    def assertion(self) -> bool:
        """Return whether the assertion is signed."""
        return self in (SignTarget.ASSERTION, SignTarget.BOTH)

    @property
    def response(self) -> bool:
        """Return whether the response envelope is signed."""
        return self in (SignTarget.RESPONSE, SignTarget.BOTH)


@dataclass(frozen=True)
class SigningConfig:
    """How the IdP signs what it sends."""

    key: KeyPair
    """The key that signs; its certificate goes into KeyInfo."""
    target: SignTarget = SignTarget.ASSERTION
    """Sign the assertion, the response, both, or neither."""
    algorithm: SignatureAlgorithm = SignatureAlgorithm.RSA_SHA256
    """Signature algorithm; RSA-SHA1 exists only to test downgrade refusals."""
    digest: DigestAlgorithm | None = None
    """Digest algorithm; ``None`` takes the one matching ``algorithm``."""
    include_certificate: bool = True
    """Put the certificate in KeyInfo (verifiers must still pin their own)."""


_ISSUER = qname(NS.SAML, "Issuer")


@functools.lru_cache(maxsize=32)
def _xmlsec_key(key_pem: bytes) -> xmlsec.Key:
    # Parsing the PEM costs about as much as an RSA signature; keys are reused across calls.
    return xmlsec.Key.from_memory(key_pem, xmlsec.constants.KeyDataFormatPem)


def _add_certificate(signature: etree._Element, key: KeyPair) -> None:
    # KeyInfo is outside SignedInfo, so it can be written after signing; doing it ourselves
    # with the cached base64 saves xmlsec duplicating and re-encoding the certificate on
    # every signature (about a fifth of the signing time).
    key_info = etree.SubElement(signature, qname(NS.DS, "KeyInfo"))
    x509_data = etree.SubElement(key_info, qname(NS.DS, "X509Data"))
    etree.SubElement(x509_data, qname(NS.DS, "X509Certificate")).text = key.cert_base64


@functools.lru_cache(maxsize=16)
def _signature_template(algorithm: SignatureAlgorithm, digest: DigestAlgorithm) -> etree._Element:
    """Return xmlsec's enveloped-signature template for these algorithms (copied, never used)."""
    holder = etree.Element("holder")  # xmlsec creates template nodes in a node's document
    signature = xmlsec.template.create(
        holder, xmlsec.constants.TransformExclC14N, _SIGN_TRANSFORMS[algorithm], ns="ds"
    )
    reference = xmlsec.template.add_reference(signature, _DIGEST_TRANSFORMS[digest], uri="#")
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
    return signature


def base64_lines(data: bytes) -> str:
    """Return ``data`` in base64, in lines of 64 characters as xmlsec writes it."""
    text = base64.b64encode(data).decode("ascii")
    if len(text) <= _BASE64_LINE:
        return text
    return "\n".join(text[i : i + _BASE64_LINE] for i in range(0, len(text), _BASE64_LINE))


def exclusive_c14n(element: etree._Element) -> bytes:
    """Return the exclusive canonical form of ``element``, as a same-document reference sees it.

    A same-document ``#ID`` reference selects the element's subtree without comments.
    """
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def sign_element(
    element: etree._Element,
    key: KeyPair,
    *,
    algorithm: SignatureAlgorithm = SignatureAlgorithm.RSA_SHA256,
    digest: DigestAlgorithm | None = None,
    include_certificate: bool = True,
) -> etree._Element:
    """Sign ``element`` (by its ``ID``) in place and return the inserted ``ds:Signature``."""
    element_id = element.get("ID")
    if not element_id:
        raise SigningError(f"cannot sign <{etree.QName(element).localname}>: it has no ID")
    digest = digest or DIGEST_FOR[algorithm]
    digest_value = hashlib.new(_HASHLIB_NAMES[digest], exclusive_c14n(element)).digest()
    signature = copy.deepcopy(_signature_template(algorithm, digest))
    signed_info, signature_value = signature[0], signature[1]
    reference = signed_info[2]
    reference.set("URI", f"#{element_id}")
    reference[2].text = base64_lines(digest_value)
    issuer = element.find(_ISSUER)
    if issuer is not None:
        issuer.addnext(signature)
    else:
        element.insert(0, signature)
    context = xmlsec.SignatureContext()
    context.key = _xmlsec_key(key.key_pem)
    try:
        value = context.sign_binary(exclusive_c14n(signed_info), _SIGN_TRANSFORMS[algorithm])
    except xmlsec.Error as exc:
        element.remove(signature)
        raise SigningError(f"xmlsec could not sign: {exc}") from None
    signature_value.text = base64_lines(value)
    if include_certificate:
        _add_certificate(signature, key)
    return signature


def sign_response(response: etree._Element, config: SigningConfig) -> etree._Element:
    """Sign the assertion and/or the response of ``response`` as ``config`` says; return it.

    The assertion is signed first so that a response signature covers the signed assertion,
    the order every IdP uses when it signs both.
    """
    targets: list[etree._Element] = []
    if config.target.assertion:
        assertion = response.find(qname(NS.SAML, "Assertion"))
        if assertion is None:
            raise SigningError("cannot sign the assertion: the response holds none in clear")
        targets.append(assertion)
    if config.target.response:
        targets.append(response)
    for element in targets:
        sign_element(
            element,
            config.key,
            algorithm=config.algorithm,
            digest=config.digest,
            include_certificate=config.include_certificate,
        )
    return response
