"""Signing: the layout is right and independent verifiers accept what we sign."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
import xmlsec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from signxml import XMLVerifier
from signxml.verifier import SignatureConfiguration

from idp.errors import SigningError
from idp.saml.builder import (
    ResponseSpec,
    RolePair,
    SamlAttribute,
    aws_assertion_spec,
    aws_attributes,
    build_assertion,
    build_response,
    to_bytes,
)
from idp.saml.constants import NSMAP, DigestAlgorithm, SignatureAlgorithm
from idp.saml.keys import KeyPair
from idp.saml.signing import SigningConfig, SignTarget, sign_element, sign_response
from tests.idp.saml.independent import needs_xmlsec1, xmlsec1_verify

ISSUER = "https://idp.example/saml"


def make_response(now: dt.datetime) -> etree._Element:
    attributes = aws_attributes(
        role_pairs=[
            RolePair(
                "arn:aws:iam::111111111111:role/Admin",
                "arn:aws:iam::111111111111:saml-provider/CorpIdP",
            )
        ],
        session_name="alice",
    )
    assertion = build_assertion(
        aws_assertion_spec(issuer=ISSUER, name_id="alice", attributes=attributes, now=now)
    )
    return build_response(ResponseSpec(issuer=ISSUER, issue_instant=now), assertion)


def signatures(element: etree._Element) -> list[etree._Element]:
    return element.xpath("//ds:Signature", namespaces=NSMAP)  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("target", "signed_parents"),
    [
        (SignTarget.ASSERTION, ["Assertion"]),
        (SignTarget.RESPONSE, ["Response"]),
        (SignTarget.BOTH, ["Response", "Assertion"]),
        (SignTarget.NONE, []),
    ],
    ids=lambda v: v.value if isinstance(v, SignTarget) else None,
)
def test_sign_targets(
    now: dt.datetime, idp_key: KeyPair, target: SignTarget, signed_parents: list[str]
) -> None:
    response = sign_response(make_response(now), SigningConfig(key=idp_key, target=target))
    found = signatures(response)
    assert [etree.QName(s.getparent()).localname for s in found] == signed_parents
    for signature in found:
        parent = signature.getparent()
        assert signature.getprevious() is not None
        assert etree.QName(signature.getprevious()).localname == "Issuer"
        (reference,) = signature.xpath("ds:SignedInfo/ds:Reference", namespaces=NSMAP)
        assert reference.get("URI") == "#" + parent.get("ID")


@pytest.mark.parametrize(
    ("algorithm", "digest"),
    [
        (SignatureAlgorithm.RSA_SHA256, DigestAlgorithm.SHA256),
        (SignatureAlgorithm.RSA_SHA1, DigestAlgorithm.SHA1),
        (SignatureAlgorithm.RSA_SHA512, DigestAlgorithm.SHA512),
    ],
    ids=["rsa-sha256", "rsa-sha1", "rsa-sha512"],
)
def test_algorithms_and_layout(
    now: dt.datetime, idp_key: KeyPair, algorithm: SignatureAlgorithm, digest: DigestAlgorithm
) -> None:
    response = make_response(now)
    (assertion,) = response.xpath("saml:Assertion", namespaces=NSMAP)
    signature = sign_element(assertion, idp_key, algorithm=algorithm)
    info = "ds:SignedInfo/"
    assert signature.xpath(info + "ds:SignatureMethod/@Algorithm", namespaces=NSMAP) == [
        algorithm.value
    ]
    assert signature.xpath(info + "ds:CanonicalizationMethod/@Algorithm", namespaces=NSMAP) == [
        "http://www.w3.org/2001/10/xml-exc-c14n#"
    ]
    assert signature.xpath(info + "ds:Reference/ds:DigestMethod/@Algorithm", namespaces=NSMAP) == [
        digest.value
    ]
    assert signature.xpath(
        info + "ds:Reference/ds:Transforms/ds:Transform/@Algorithm", namespaces=NSMAP
    ) == [
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
    ]
    (cert,) = signature.xpath("ds:KeyInfo/ds:X509Data/ds:X509Certificate/text()", namespaces=NSMAP)
    assert "".join(str(cert).split()) == idp_key.cert_base64


def test_certificate_can_be_left_out(now: dt.datetime, idp_key: KeyPair) -> None:
    response = make_response(now)
    signature = sign_element(response, idp_key, include_certificate=False)
    assert signature.xpath("ds:KeyInfo", namespaces=NSMAP) == []


def test_element_without_id_is_refused(idp_key: KeyPair) -> None:
    with pytest.raises(SigningError, match="has no ID"):
        sign_element(etree.Element("thing"), idp_key)


def test_python_xmlsec_verifies_after_serialising(now: dt.datetime, idp_key: KeyPair) -> None:
    document = to_bytes(
        sign_response(make_response(now), SigningConfig(key=idp_key, target=SignTarget.BOTH))
    )
    root = etree.fromstring(document)
    for signature in signatures(root):
        xmlsec.tree.add_ids(signature.getparent(), ["ID"])
        context = xmlsec.SignatureContext()
        context.key = xmlsec.Key.from_memory(
            idp_key.cert_pem, xmlsec.constants.KeyDataFormatCertPem
        )
        context.verify(signature)


@needs_xmlsec1
@pytest.mark.parametrize(
    "target", [SignTarget.ASSERTION, SignTarget.RESPONSE, SignTarget.BOTH], ids=lambda t: t.value
)
@pytest.mark.parametrize("algorithm", list(SignatureAlgorithm), ids=lambda a: a.name)
def test_xmlsec1_command_line_verifies(
    now: dt.datetime, idp_key: KeyPair, target: SignTarget, algorithm: SignatureAlgorithm
) -> None:
    document = to_bytes(
        sign_response(
            make_response(now), SigningConfig(key=idp_key, target=target, algorithm=algorithm)
        )
    )
    for node in (["Assertion"] if target.assertion else []) + (
        ["Response"] if target.response else []
    ):
        result = xmlsec1_verify(document, idp_key.cert_pem, node=node)
        assert result.returncode == 0, result.stderr
        assert "OK" in result.stderr + result.stdout


@needs_xmlsec1
def test_xmlsec1_refuses_a_tampered_assertion(now: dt.datetime, idp_key: KeyPair) -> None:
    document = to_bytes(sign_response(make_response(now), SigningConfig(key=idp_key)))
    tampered = document.replace(b"role/Admin", b"role/Owner")
    assert tampered != document
    result = xmlsec1_verify(tampered, idp_key.cert_pem, node="Assertion")
    assert result.returncode != 0


@needs_xmlsec1
def test_xmlsec1_refuses_another_key(
    now: dt.datetime, idp_key: KeyPair, idp_next_key: KeyPair
) -> None:
    document = to_bytes(sign_response(make_response(now), SigningConfig(key=idp_key)))
    result = xmlsec1_verify(document, idp_next_key.cert_pem, node="Assertion")
    assert result.returncode != 0


def test_signxml_verifies_with_pinned_certificate(now: dt.datetime, idp_key: KeyPair) -> None:
    document = to_bytes(sign_response(make_response(now), SigningConfig(key=idp_key)))
    (assertion,) = etree.fromstring(document).xpath("saml:Assertion", namespaces=NSMAP)
    result = XMLVerifier().verify(
        etree.tostring(assertion),
        x509_cert=idp_key.cert_pem.decode(),
        expect_config=SignatureConfiguration(require_x509=True),
    )
    signed = result.signed_xml
    assert signed is not None
    assert signed.xpath("saml:Subject/saml:NameID/text()", namespaces=NSMAP) == ["alice"]


def test_signxml_refuses_another_pinned_certificate(
    now: dt.datetime, idp_key: KeyPair, idp_next_key: KeyPair
) -> None:
    document = to_bytes(sign_response(make_response(now), SigningConfig(key=idp_key)))
    (assertion,) = etree.fromstring(document).xpath("saml:Assertion", namespaces=NSMAP)
    with pytest.raises(Exception, match="(?i)signature|certificate"):
        XMLVerifier().verify(etree.tostring(assertion), x509_cert=idp_next_key.cert_pem.decode())


# --- byte-identical to xmlsec's own template signing --------------------------------------------
#
# sign_element takes the digest with lxml's exclusive C14N and has xmlsec sign the canonical
# SignedInfo. RSA PKCS#1 v1.5 is deterministic, so the reference below (xmlsec.SignatureContext.
# sign on the same template, resolving the #ID itself) must write exactly the same bytes.


def xmlsec_template_sign(
    element: etree._Element, key: KeyPair, algorithm: SignatureAlgorithm, digest: DigestAlgorithm
) -> None:
    transforms = {
        SignatureAlgorithm.RSA_SHA1: xmlsec.constants.TransformRsaSha1,
        SignatureAlgorithm.RSA_SHA256: xmlsec.constants.TransformRsaSha256,
        SignatureAlgorithm.RSA_SHA512: xmlsec.constants.TransformRsaSha512,
        DigestAlgorithm.SHA1: xmlsec.constants.TransformSha1,
        DigestAlgorithm.SHA256: xmlsec.constants.TransformSha256,
        DigestAlgorithm.SHA512: xmlsec.constants.TransformSha512,
    }
    signature = xmlsec.template.create(
        element, xmlsec.constants.TransformExclC14N, transforms[algorithm], ns="ds"
    )
    issuer = element.find("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer")
    if issuer is not None:
        issuer.addnext(signature)
    else:
        element.insert(0, signature)
    reference = xmlsec.template.add_reference(
        signature, transforms[digest], uri="#" + element.get("ID", "")
    )
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
    xmlsec.tree.add_ids(element, ["ID"])
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(key.key_pem, xmlsec.constants.KeyDataFormatPem)
    context.sign(signature)
    key_info = etree.SubElement(signature, "{http://www.w3.org/2000/09/xmldsig#}KeyInfo")
    x509_data = etree.SubElement(key_info, "{http://www.w3.org/2000/09/xmldsig#}X509Data")
    etree.SubElement(
        x509_data, "{http://www.w3.org/2000/09/xmldsig#}X509Certificate"
    ).text = key.cert_base64


def both_ways(
    response: etree._Element,
    key: KeyPair,
    target: SignTarget,
    algorithm: SignatureAlgorithm,
    digest: DigestAlgorithm,
) -> tuple[bytes, bytes]:
    reference = copy.deepcopy(response)
    for element in _targets(reference, target):
        xmlsec_template_sign(element, key, algorithm, digest)
    ours = sign_response(
        response, SigningConfig(key=key, target=target, algorithm=algorithm, digest=digest)
    )
    return to_bytes(ours), to_bytes(reference)


def _targets(response: etree._Element, target: SignTarget) -> list[etree._Element]:
    found = response.xpath("saml:Assertion", namespaces=NSMAP) if target.assertion else []
    return [*found, *([response] if target.response else [])]


@pytest.mark.parametrize(
    "target", [SignTarget.ASSERTION, SignTarget.RESPONSE, SignTarget.BOTH], ids=lambda t: t.value
)
@pytest.mark.parametrize(
    ("algorithm", "digest"),
    [
        (SignatureAlgorithm.RSA_SHA256, DigestAlgorithm.SHA256),
        (SignatureAlgorithm.RSA_SHA1, DigestAlgorithm.SHA1),
        (SignatureAlgorithm.RSA_SHA512, DigestAlgorithm.SHA512),
        (SignatureAlgorithm.RSA_SHA256, DigestAlgorithm.SHA512),
    ],
    ids=["sha256", "sha1", "sha512", "rsa-sha256+sha512-digest"],
)
def test_same_bytes_as_xmlsec_template_signing(
    now: dt.datetime,
    idp_key: KeyPair,
    target: SignTarget,
    algorithm: SignatureAlgorithm,
    digest: DigestAlgorithm,
) -> None:
    ours, reference = both_ways(make_response(now), idp_key, target, algorithm, digest)
    assert b"<ds:SignatureValue>" in ours
    assert ours == reference


def test_same_bytes_when_the_tree_holds_comments_and_odd_namespaces(
    now: dt.datetime, idp_key: KeyPair
) -> None:
    # A comment inside the NameID is the classic truncation trick; a same-document reference
    # leaves comments out of the digest, in both implementations. An extension element with a
    # default namespace and an unused prefix checks exclusive c14n's namespace handling.
    response = make_response(now)
    (name_id,) = response.xpath("saml:Assertion/saml:Subject/saml:NameID", namespaces=NSMAP)
    name_id.text = "alice@corp.example"
    name_id.append(etree.Comment("injected"))
    name_id[-1].tail = ".evil.example"
    extension = etree.SubElement(
        response, "{urn:example:ext}Ext", nsmap={None: "urn:example:ext", "u": "urn:unused"}
    )
    extension.text = "x"
    ours, reference = both_ways(
        response, idp_key, SignTarget.BOTH, SignatureAlgorithm.RSA_SHA256, DigestAlgorithm.SHA256
    )
    assert b"<!--injected-->" in ours
    assert ours == reference


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.lists(
        st.text(
            alphabet=st.characters(
                blacklist_categories=("Cs",),
                blacklist_characters="\x00\ufffe\uffff",
                min_codepoint=0x09,
            ).filter(lambda c: c in "\t\n\r" or ord(c) >= 0x20),
            max_size=40,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_same_bytes_for_any_attribute_values(
    now: dt.datetime, idp_key: KeyPair, values: list[str]
) -> None:
    attributes = (SamlAttribute("urn:example:any", tuple(values)),)
    assertion = build_assertion(
        aws_assertion_spec(issuer=ISSUER, name_id="alice", attributes=attributes, now=now)
    )
    response = build_response(ResponseSpec(issuer=ISSUER, issue_instant=now), assertion)
    ours, reference = both_ways(
        response,
        idp_key,
        SignTarget.ASSERTION,
        SignatureAlgorithm.RSA_SHA256,
        DigestAlgorithm.SHA256,
    )
    assert ours == reference
