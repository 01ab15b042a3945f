"""EncryptedAssertion hardening: decryption never follows a URI nor runs a transform.

Decryption runs before any signature check and needs nothing but the SP's public certificate,
so an unauthenticated sender controls everything in the EncryptedAssertion. xmlsec would follow
``xenc:CipherReference`` (``file:`` paths, ``/dev/zero``, HTTP) and run its Transforms, XSLT
included. Each hostile shape below must be refused with ``decryption_failed`` before xmlsec sees
it, promptly, and without opening the FIFO it names (the FIFO watcher of test_xmlparse: a writer
blocked in ``open`` returns only if somebody opens the FIFO for reading).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import xmlsec
from lxml import etree

from idp.provider import IdentityProvider
from idp.saml import encryption
from idp.saml.constants import NS, DataEncryption, qname
from idp.saml.encryption import DecryptionError, decrypt_assertion
from idp.saml.keys import KeyPair
from idp.saml.xmlparse import parse_xml
from sp_fixtures.verify import TrustedIdp, verify_response
from sp_fixtures.xmldsig import ErrorCode, VerificationError
from tests.conftest import CERTS
from tests.idp.saml.test_xmlparse import FifoWatcher, run_promptly

XSLT_NS = "http://www.w3.org/1999/XSL/Transform"
DSIG11_NS = "http://www.w3.org/2009/xmldsig11#"
XENC_EK_TYPE = f"{NS.XENC}EncryptedKey"
REFUSED = "the EncryptedAssertion is refused: "
ALGORITHMS = ["aes128-gcm", "aes256-gcm", "aes128-cbc", "aes256-cbc"]

#: A stylesheet whose binary recursion makes 2^24 calls: seconds to minutes if it ever runs.
EXPENSIVE_XSLT = f"""<ds:Transforms xmlns:ds="{NS.DS}">
  <ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116">
    <xsl:stylesheet version="1.0" xmlns:xsl="{XSLT_NS}">
      <xsl:template match="/"><xsl:call-template name="r">
        <xsl:with-param name="n" select="0"/></xsl:call-template></xsl:template>
      <xsl:template name="r"><xsl:param name="n"/><xsl:if test="$n &lt; 24">
        <xsl:call-template name="r"><xsl:with-param name="n" select="$n+1"/></xsl:call-template>
        <xsl:call-template name="r"><xsl:with-param name="n" select="$n+1"/></xsl:call-template>
      </xsl:if></xsl:template>
    </xsl:stylesheet>
  </ds:Transform>
</ds:Transforms>"""


def _issue(tmp_path: Path, algorithm: str) -> bytes:
    """A response from the project's IdP with the assertion signed, then encrypted for the SP."""
    config = tmp_path / f"idp-{algorithm}.yaml"
    config.write_text(f"""\
idp:
  entity_id: https://idp.test/saml
  signing:
    key: {CERTS / "sample-idp.key"}
    cert: {CERTS / "sample-idp.crt"}
  mapping:
    explicit:
      provider_name: CorpIdP
      groups: {{admins: [arn:aws:iam::111111111111:role/Admin]}}
  service_providers:
    aws:
      acs: https://us-east-1.signin.aws.amazon.com/saml/acs/SAMLSP4SHN3UIS2D558H46
      encrypt: {{cert: {CERTS / "sample-sp.crt"}, algorithm: {algorithm}}}
directory:
  users:
    alice: {{email: alice@corp.example, groups: [admins]}}
""")
    provider = IdentityProvider.from_file(config)
    (tmp_path / "metadata.xml").write_bytes(provider.metadata())
    return provider.issue("alice").xml


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    directory = tmp_path_factory.mktemp("idp")
    return {algorithm: _issue(directory, algorithm) for algorithm in ALGORITHMS}


@pytest.fixture(scope="module")
def trusted(tmp_path_factory: pytest.TempPathFactory) -> TrustedIdp:
    directory = tmp_path_factory.mktemp("metadata")
    _issue(directory, "aes256-gcm")
    return TrustedIdp.from_metadata(
        (directory / "metadata.xml").read_bytes(),
        decryption_keys=((CERTS / "sample-sp.key").read_bytes(),),
    )


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[FifoWatcher]:
    watcher = FifoWatcher(tmp_path / "ciphertext.fifo")
    watcher.start()
    yield watcher
    watcher.stop()


def _x(local: str) -> str:
    return qname(NS.XENC, local)


def _ds(local: str) -> str:
    return qname(NS.DS, local)


def _one(root: etree._Element, path: str) -> etree._Element:
    found = root.xpath(path, namespaces={"saml": NS.SAML, "xenc": NS.XENC, "ds": NS.DS})
    assert isinstance(found, list) and len(found) == 1, path
    element = found[0]
    assert isinstance(element, etree._Element)
    return element


def _response(document: bytes) -> etree._Element:
    return parse_xml(document)


def _encrypted(response: etree._Element) -> etree._Element:
    return _one(response, "/*/saml:EncryptedAssertion")


def _data(encrypted: etree._Element) -> etree._Element:
    return _one(encrypted, "xenc:EncryptedData")


def _inline_key(encrypted: etree._Element) -> etree._Element:
    return _one(encrypted, "xenc:EncryptedData/ds:KeyInfo/xenc:EncryptedKey")


def _cipher_reference(owner: etree._Element, uri: str, transforms: str | None = None) -> None:
    cipher_data = _one(owner, "xenc:CipherData")
    for child in list(cipher_data):
        cipher_data.remove(child)
    reference = etree.SubElement(cipher_data, _x("CipherReference"), URI=uri)
    if transforms is not None:
        wrapper = etree.SubElement(reference, _x("Transforms"))
        wrapper.extend(list(etree.fromstring(transforms)))


def _move_key_beside(encrypted: etree._Element, uri: str) -> etree._Element:
    """Shibboleth's layout: the EncryptedKey beside EncryptedData, a RetrievalMethod to it."""
    key = _inline_key(encrypted)
    key_info = key.getparent()
    assert key_info is not None
    key_info.remove(key)
    key.set("Id", "_ek")
    encrypted.append(key)
    etree.SubElement(key_info, _ds("RetrievalMethod"), URI=uri, Type=XENC_EK_TYPE)
    return key


Mutation = Callable[[etree._Element, str], None]


def _data_cipher_reference(encrypted: etree._Element, fifo: str) -> None:
    _cipher_reference(_data(encrypted), f"file://{fifo}")


def _key_cipher_reference(encrypted: etree._Element, fifo: str) -> None:
    _cipher_reference(_inline_key(encrypted), fifo)


def _data_cipher_reference_xslt(encrypted: etree._Element, fifo: str) -> None:
    _cipher_reference(_data(encrypted), "", EXPENSIVE_XSLT)


def _data_cipher_reference_base64(encrypted: etree._Element, fifo: str) -> None:
    base64_transform = (
        f'<ds:Transforms xmlns:ds="{NS.DS}">'
        '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#base64"/></ds:Transforms>'
    )
    _cipher_reference(_data(encrypted), f"file://{fifo}", base64_transform)


def _cipher_value_and_reference(encrypted: etree._Element, fifo: str) -> None:
    cipher_data = _one(_data(encrypted), "xenc:CipherData")
    etree.SubElement(cipher_data, _x("CipherReference"), URI=f"file://{fifo}")


def _retrieval_method_to_file(encrypted: etree._Element, fifo: str) -> None:
    _move_key_beside(encrypted, f"file://{fifo}")


def _retrieval_method_to_http(encrypted: etree._Element, fifo: str) -> None:
    _move_key_beside(encrypted, "http://127.0.0.1:9/encrypted-key.xml")


def _retrieval_method_with_transforms(encrypted: etree._Element, fifo: str) -> None:
    _move_key_beside(encrypted, "#_ek")
    method = _one(encrypted, "xenc:EncryptedData/ds:KeyInfo/ds:RetrievalMethod")
    method.append(etree.fromstring(EXPENSIVE_XSLT))


def _retrieval_method_dangling(encrypted: etree._Element, fifo: str) -> None:
    _move_key_beside(encrypted, "#_elsewhere")


def _retrieval_method_other_type(encrypted: etree._Element, fifo: str) -> None:
    _move_key_beside(encrypted, "#_ek")
    method = _one(encrypted, "xenc:EncryptedData/ds:KeyInfo/ds:RetrievalMethod")
    method.set("Type", "http://www.w3.org/2000/09/xmldsig#rawX509Certificate")


def _retrieval_method_in_encrypted_key(encrypted: etree._Element, fifo: str) -> None:
    key_info = _one(_inline_key(encrypted), "ds:KeyInfo")
    etree.SubElement(key_info, _ds("RetrievalMethod"), URI=f"file://{fifo}")


def _nested_data_in_key_info(encrypted: etree._Element, fifo: str) -> None:
    nested = copy.deepcopy(_data(encrypted))
    _cipher_reference(nested, f"file://{fifo}")
    _one(_data(encrypted), "ds:KeyInfo").append(nested)


def _nested_data_in_properties(encrypted: etree._Element, fifo: str) -> None:
    nested = copy.deepcopy(_data(encrypted))
    _cipher_reference(nested, f"file://{fifo}")
    properties = etree.SubElement(_data(encrypted), _x("EncryptionProperties"))
    etree.SubElement(properties, _x("EncryptionProperty")).append(nested)


def _nested_key_in_key(encrypted: etree._Element, fifo: str) -> None:
    inner = copy.deepcopy(_inline_key(encrypted))
    _cipher_reference(inner, f"file://{fifo}")
    _one(_inline_key(encrypted), "ds:KeyInfo").append(inner)


def _data_reference_with_transforms(encrypted: etree._Element, fifo: str) -> None:
    references = etree.SubElement(_inline_key(encrypted), _x("ReferenceList"))
    reference = etree.SubElement(references, _x("DataReference"), URI="")
    reference.append(etree.fromstring(EXPENSIVE_XSLT))


def _data_reference_to_file(encrypted: etree._Element, fifo: str) -> None:
    references = etree.SubElement(_inline_key(encrypted), _x("ReferenceList"))
    etree.SubElement(references, _x("DataReference"), URI=f"file://{fifo}")


def _key_info_reference(encrypted: etree._Element, fifo: str) -> None:
    key_info = _one(_data(encrypted), "ds:KeyInfo")
    etree.SubElement(key_info, f"{{{DSIG11_NS}}}KeyInfoReference", URI=f"file://{fifo}")


def _stylesheet_in_properties(encrypted: etree._Element, fifo: str) -> None:
    properties = etree.SubElement(_data(encrypted), _x("EncryptionProperties"))
    property_ = etree.SubElement(properties, _x("EncryptionProperty"))
    property_.append(_one(etree.fromstring(EXPENSIVE_XSLT), "ds:Transform/*"))


def _oaep_digest_md5(encrypted: etree._Element, fifo: str) -> None:
    method = _one(_inline_key(encrypted), "xenc:EncryptionMethod")
    etree.SubElement(
        method, _ds("DigestMethod"), Algorithm="http://www.w3.org/2001/04/xmldsig-more#md5"
    )


def _too_many_encrypted_keys(encrypted: etree._Element, fifo: str) -> None:
    key = _inline_key(encrypted)
    for _ in range(encryption.MAX_ENCRYPTED_KEYS):
        encrypted.append(copy.deepcopy(key))


def _unknown_child_of_encrypted_data(encrypted: etree._Element, fifo: str) -> None:
    etree.SubElement(_data(encrypted), _x("Unexpected"), URI=f"file://{fifo}")


def _cipher_value_with_markup(encrypted: etree._Element, fifo: str) -> None:
    value = _one(_data(encrypted), "xenc:CipherData/xenc:CipherValue")
    etree.SubElement(value, _x("CipherReference"), URI=f"file://{fifo}")


HOSTILE: dict[str, Mutation] = {
    "data-cipher-reference-file": _data_cipher_reference,
    "key-cipher-reference-path": _key_cipher_reference,
    "data-cipher-reference-xslt": _data_cipher_reference_xslt,
    "data-cipher-reference-base64-transform": _data_cipher_reference_base64,
    "cipher-value-and-reference": _cipher_value_and_reference,
    "cipher-value-with-markup": _cipher_value_with_markup,
    "retrieval-method-file": _retrieval_method_to_file,
    "retrieval-method-http": _retrieval_method_to_http,
    "retrieval-method-transforms": _retrieval_method_with_transforms,
    "retrieval-method-dangling": _retrieval_method_dangling,
    "retrieval-method-other-type": _retrieval_method_other_type,
    "retrieval-method-in-encrypted-key": _retrieval_method_in_encrypted_key,
    "nested-encrypted-data-in-key-info": _nested_data_in_key_info,
    "nested-encrypted-data-in-properties": _nested_data_in_properties,
    "nested-encrypted-key-in-encrypted-key": _nested_key_in_key,
    "data-reference-transforms": _data_reference_with_transforms,
    "data-reference-file": _data_reference_to_file,
    "key-info-reference": _key_info_reference,
    "xslt-stylesheet-in-properties": _stylesheet_in_properties,
    "oaep-digest-md5": _oaep_digest_md5,
    "unknown-child-of-encrypted-data": _unknown_child_of_encrypted_data,
    "too-many-encrypted-keys": _too_many_encrypted_keys,
}


def _hostile(document: bytes, mutation: Mutation, fifo: Path) -> etree._Element:
    response = _response(document)
    mutation(_encrypted(response), str(fifo))
    return response


@pytest.mark.parametrize("algorithm", ["aes256-gcm", "aes128-cbc"])
@pytest.mark.parametrize("shape", sorted(HOSTILE))
def test_hostile_encrypted_assertion_is_refused_without_opening_files(
    issued: dict[str, bytes], fifo: FifoWatcher, shape: str, algorithm: str
) -> None:
    encrypted = _encrypted(_hostile(issued[algorithm], HOSTILE[shape], fifo.path))
    sp_key_pem = (CERTS / "sample-sp.key").read_bytes()

    with pytest.raises(DecryptionError) as caught:
        run_promptly(lambda: decrypt_assertion(encrypted, [sp_key_pem]))

    assert not fifo.opened_by_reader
    assert caught.value.code == "decryption_failed"
    assert caught.value.message.startswith(REFUSED)


@pytest.mark.parametrize(
    "shape",
    [
        "data-cipher-reference-file",
        "key-cipher-reference-path",
        "data-cipher-reference-xslt",
        "retrieval-method-file",
        "nested-encrypted-data-in-key-info",
    ],
)
def test_verifier_refuses_hostile_encryption_before_any_fetch(
    issued: dict[str, bytes], trusted: TrustedIdp, fifo: FifoWatcher, shape: str
) -> None:
    """Unsigned Response, so the verifier goes straight to decryption (the audited path)."""
    document = etree.tostring(_hostile(issued["aes256-gcm"], HOSTILE[shape], fifo.path))

    with pytest.raises(VerificationError) as caught:
        run_promptly(lambda: verify_response(document, trusted))

    assert not fifo.opened_by_reader
    assert caught.value.code == ErrorCode.DECRYPTION_FAILED
    assert caught.value.message.startswith(REFUSED)


# --- what must keep working ---------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_idp_encrypted_assertion_still_decrypts(issued: dict[str, bytes], algorithm: str) -> None:
    encrypted = _encrypted(_response(issued[algorithm]))
    method = _one(_data(encrypted), "xenc:EncryptionMethod").get("Algorithm") or ""
    assert DataEncryption(method).value.endswith(f"#{algorithm}")

    assertion = decrypt_assertion(encrypted, [(CERTS / "sample-sp.key").read_bytes()])

    assert assertion.tag == qname(NS.SAML, "Assertion")
    assert _one(assertion, "saml:Subject/saml:NameID").text == "alice"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_verifier_accepts_the_idp_encrypted_assertion(
    issued: dict[str, bytes], trusted: TrustedIdp, algorithm: str
) -> None:
    verified = verify_response(issued[algorithm], trusted)

    assert verified.assertion_signed
    assert verified.name_id == "alice"


@pytest.mark.parametrize("algorithm", ["aes256-gcm", "aes128-cbc"])
def test_same_document_retrieval_method_still_decrypts(
    issued: dict[str, bytes], algorithm: str
) -> None:
    encrypted = _encrypted(_response(issued[algorithm]))
    _move_key_beside(encrypted, "#_ek")
    references = etree.SubElement(_one(encrypted, "xenc:EncryptedKey"), _x("ReferenceList"))
    etree.SubElement(references, _x("DataReference"), URI="#_ed")
    _data(encrypted).set("Id", "_ed")
    received = parse_xml(etree.tostring(encrypted))

    assertion = decrypt_assertion(received, [(CERTS / "sample-sp.key").read_bytes()])

    assert _one(assertion, "saml:Subject/saml:NameID").text == "alice"


def test_only_a_rebuilt_minimal_copy_reaches_xmlsec(
    issued: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, sp_key: KeyPair
) -> None:
    """xmlsec sees EncryptionMethod + CipherValue only: no KeyInfo, no @Type, no references."""
    real_context = xmlsec.EncryptionContext
    seen: list[etree._Element] = []

    class RecordingContext:
        def __init__(self) -> None:
            self.key: xmlsec.Key | None = None

        def decrypt(self, node: etree._Element) -> object:
            seen.append(copy.deepcopy(node))
            context = real_context()
            context.key = self.key
            return context.decrypt(node)

    monkeypatch.setattr(encryption.xmlsec, "EncryptionContext", RecordingContext)
    encrypted = _encrypted(_response(issued["aes256-gcm"]))
    _move_key_beside(encrypted, "#_ek")
    references = etree.SubElement(_one(encrypted, "xenc:EncryptedKey"), _x("ReferenceList"))
    etree.SubElement(references, _x("DataReference"), URI="#_ed")

    assertion = decrypt_assertion(encrypted, [sp_key.key_pem])

    assert _one(assertion, "saml:Subject/saml:NameID").text == "alice"
    assert [node.tag for node in seen] == [_x("EncryptedKey"), _x("EncryptedData")]
    for node in seen:
        assert [child.tag for child in node] == [_x("EncryptionMethod"), _x("CipherData")]
        assert [child.tag for child in node[1]] == [_x("CipherValue")]
        assert dict(node.attrib) == {}
        assert not [element for element in node.iter() if element.get("URI") is not None]


def test_unknown_parameter_of_the_data_encryption_method_is_refused(
    issued: dict[str, bytes],
) -> None:
    encrypted = _encrypted(_response(issued["aes256-gcm"]))
    method = _one(_data(encrypted), "xenc:EncryptionMethod")
    etree.SubElement(
        method, _ds("DigestMethod"), Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"
    )

    with pytest.raises(DecryptionError, match="not allowed in the data EncryptionMethod"):
        decrypt_assertion(encrypted, [(CERTS / "sample-sp.key").read_bytes()])
