"""Hypothesis strategies that mutate a valid signed response, and the oracle that judges the
verifier's answer: refuse with a VerificationError, or accept only unchanged signed content.

Shared by ``test_fuzz.py`` (a few hundred examples) and ``benchmarks/fuzz_verifier.py``
(tens of thousands).
"""

from __future__ import annotations

import copy
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from lxml import etree

from idp.saml.constants import NS, qname
from idp.saml.xmlparse import parse_xml
from sp_fixtures.verify import TrustedIdp, VerificationError, VerifiedResponse, verify_response

HANG_SECONDS = 5.0
EVIL = "admin@corp.example"
NAMESPACES = [str(NS.SAML), str(NS.SAMLP), str(NS.DS), "", "urn:attacker", str(NS.XENC)]
LOCAL_NAMES = [
    "Assertion",
    "Signature",
    "Extensions",
    "Object",
    "NameID",
    "Reference",
    "SignedInfo",
    "StatusDetail",
    "Advice",
    "AttributeValue",
    "EncryptedAssertion",
    "Issuer",
    "Transform",
    "DigestValue",
    "X",
]
ATTRIBUTE_NAMES = [
    "ID",
    "URI",
    "Algorithm",
    "Version",
    "Recipient",
    "NotOnOrAfter",
    "NotBefore",
    "Destination",
    "IssueInstant",
    "Name",
    "Method",
    "Id",
    "AssertionID",
    "{http://www.w3.org/XML/1998/namespace}id",
    "{urn:attacker}ID",
    "Format",
]
SNIPPETS = [
    b"<!---->",
    b"<!DOCTYPE x>",
    b"&x;",
    b"<![CDATA[x]]>",
    b"<?pi x?>",
    b'"',
    b"'",
    b"<",
    b">",
    b"&",
    b"\x00",
    b"\xff",
    b"\xc3",
    b' xmlns:ds="urn:x"',
    b' xmlns="urn:x"',
    b"</",
    b"/>",
    b"<saml:Assertion>",
    b"\n",
    b"=",
    EVIL.encode(),
    b"&#0;",
    b"&#x41;",
]
TEXTS = [
    "",
    EVIL,
    " ",
    "alice@corp.example\u200b",
    "&",
    "<x>",
    "\U0001f600",
    "2030-01-01T00:00:00Z",
    "urn:oasis:names:tc:SAML:2.0:status:Success",
    "x" * 300,
]


@dataclass(frozen=True)
class Baseline:
    """A valid signed response and what its signatures cover, canonically."""

    layout: str
    document: bytes
    trusted: TrustedIdp
    verified: VerifiedResponse
    signed_c14n: dict[str, bytes] = field(default_factory=dict)
    """``assertion``/``response`` → exclusive c14n without its own Signature."""


def signed_c14n(document: bytes, *, assertion: bool, response: bool) -> dict[str, bytes]:
    """Return the canonical content each signature of ``document`` covers."""
    root = parse_xml(document)
    found: dict[str, bytes] = {}
    held = root.find(qname(NS.SAML, "Assertion"))
    for name, element, wanted in (("assertion", held, assertion), ("response", root, response)):
        if wanted and element is not None:
            found[name] = _canonical_without_signature(element)
    return found


def _canonical_without_signature(element: etree._Element) -> bytes:
    unsigned = copy.deepcopy(element)
    for signature in unsigned.findall(qname(NS.DS, "Signature")):
        unsigned.remove(signature)
    return etree.tostring(unsigned, method="c14n", exclusive=True, with_comments=False)


def make_baseline(layout: str, document: bytes, trusted: TrustedIdp) -> Baseline:
    """Verify ``document`` once and record what it signs."""
    verified = verify_response(document, trusted)
    return Baseline(
        layout,
        document,
        trusted,
        verified,
        signed_c14n(
            document, assertion=verified.assertion_signed, response=verified.response_signed
        ),
    )


SIGNED_FIELDS = (
    "assertion_id",
    "issuer",
    "issue_instant",
    "name_id",
    "name_id_format",
    "name_qualifier",
    "sp_name_qualifier",
    "subject_confirmations",
    "conditions",
    "authn",
    "attributes",
)
RESPONSE_FIELDS = (
    "response_id",
    "destination",
    "in_response_to",
    "status",
    "response_issuer",
    "response_issue_instant",
)


@dataclass(frozen=True)
class Verdict:
    """What the verifier did with one mutated document."""

    kind: str
    """``refused``, ``unchanged`` (accepted, signed content identical), ``changed`` or ``crash``."""
    detail: str = ""


class Hang(Exception):
    """The verifier ran longer than :data:`HANG_SECONDS`."""


@contextmanager
def hang_guard(seconds: float = HANG_SECONDS) -> Iterator[None]:
    """Raise :class:`Hang` if the block runs too long (main thread only; else no guard)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def judge(baseline: Baseline, mutated: bytes) -> Verdict:
    """Verify ``mutated``; classify the answer against the baseline."""
    try:
        with hang_guard():
            verified = verify_response(mutated, baseline.trusted)
    except VerificationError as exc:
        return Verdict("refused", str(exc.code))
    except Exception as exc:  # noqa: BLE001 - anything else is the finding
        return Verdict("crash", f"{type(exc).__name__}: {exc}")
    return _compare(baseline, mutated, verified)


def _compare(baseline: Baseline, mutated: bytes, verified: VerifiedResponse) -> Verdict:
    reference = baseline.verified
    fields = SIGNED_FIELDS + (RESPONSE_FIELDS if verified.response_signed else ())
    for name in fields:
        if getattr(verified, name) != getattr(reference, name):
            return Verdict("changed", f"{name}: {getattr(verified, name)!r}")
    now_signed = signed_c14n(
        mutated, assertion=verified.assertion_signed, response=verified.response_signed
    )
    for part, canonical in now_signed.items():
        if baseline.signed_c14n.get(part) != canonical:
            return Verdict("changed", f"canonical {part} differs")
    if not now_signed:
        return Verdict("changed", "accepted with nothing signed")
    return Verdict("unchanged")


# --- strategies ------------------------------------------------------------------------------

Mutation = Callable[[bytes], bytes]


@st.composite
def byte_mutations(draw: st.DrawFn, size: int) -> Mutation:
    """Replace, insert or delete a few byte runs (random bytes or XML-ish snippets)."""
    edits = draw(
        st.lists(
            st.tuples(
                st.integers(0, size),
                st.sampled_from(["replace", "insert", "delete"]),
                st.one_of(st.binary(min_size=1, max_size=4), st.sampled_from(SNIPPETS)),
                st.integers(1, 8),
            ),
            min_size=1,
            max_size=4,
        )
    )

    def mutate(document: bytes) -> bytes:
        data = bytearray(document)
        for position, operation, payload, length in edits:
            at = min(position, len(data))
            if operation == "insert":
                data[at:at] = payload
            elif operation == "delete":
                del data[at : at + length]
            else:
                data[at : at + len(payload)] = payload
        return bytes(data)

    return mutate


def _elements(root: etree._Element) -> list[etree._Element]:
    return [element for element in root.iter() if isinstance(element.tag, str)]


NODE_OPERATIONS = [
    "delete",
    "duplicate",
    "move_into",
    "copy_into",
    "wrap",
    "rename",
    "text",
    "comment",
    "pi",
    "swap",
    "tail",
]


@st.composite
def node_mutations(draw: st.DrawFn) -> Callable[[etree._Element], None]:
    """One DOM edit on a chosen element: delete, duplicate, move, wrap, rename, text…"""
    operation = draw(st.sampled_from(NODE_OPERATIONS))
    pick, other = draw(st.integers(0, 10_000)), draw(st.integers(0, 10_000))
    namespace, local = draw(st.sampled_from(NAMESPACES)), draw(st.sampled_from(LOCAL_NAMES))
    text = draw(st.sampled_from(TEXTS))

    def edit(root: etree._Element) -> None:
        nodes = _elements(root)
        element, target = nodes[pick % len(nodes)], nodes[other % len(nodes)]
        parent = element.getparent()
        tag = f"{{{namespace}}}{local}" if namespace else local
        if operation == "delete" and parent is not None:
            parent.remove(element)
        elif operation == "duplicate" and parent is not None:
            element.addnext(copy.deepcopy(element))
        elif operation == "move_into" and parent is not None:
            target.append(element)  # lxml refuses a cycle with ValueError: the edit is skipped
        elif operation == "copy_into":
            target.append(copy.deepcopy(element))
        elif operation == "wrap" and parent is not None:
            wrapper = etree.Element(tag)
            element.addprevious(wrapper)
            wrapper.append(element)
        elif operation == "rename":
            element.tag = tag
        elif operation == "text":
            element.text = text
        elif operation == "comment":
            element.insert(0, etree.Comment(text.replace("--", "")))
        elif operation == "pi":
            element.insert(0, etree.ProcessingInstruction("x", text.replace("?>", "")))
        elif operation == "swap" and parent is not None and element.getnext() is not None:
            sibling = element.getnext()
            assert sibling is not None
            sibling.addnext(element)
        elif operation == "tail":
            element.tail = text

    return edit


ATTRIBUTE_OPERATIONS = ["set", "delete", "copy_value"]


@st.composite
def attribute_mutations(draw: st.DrawFn) -> Callable[[etree._Element], None]:
    """One attribute edit: set one from a pool, delete one, or copy another element's ID."""
    operation = draw(st.sampled_from(ATTRIBUTE_OPERATIONS))
    pick, other = draw(st.integers(0, 10_000)), draw(st.integers(0, 10_000))
    name = draw(st.sampled_from(ATTRIBUTE_NAMES))
    value = draw(st.one_of(st.sampled_from(TEXTS), st.text(max_size=12)))

    def edit(root: etree._Element) -> None:
        nodes = _elements(root)
        element, source = nodes[pick % len(nodes)], nodes[other % len(nodes)]
        if operation == "delete" and element.attrib:
            del element.attrib[sorted(element.attrib)[pick % len(element.attrib)]]
        elif operation == "copy_value":
            ids = [v for k, v in source.attrib.items() if k in ("ID", "URI")]
            element.set(name, ids[0] if ids else "#" + str(root.get("ID")))
        else:
            element.set(name, "".join(ch for ch in value if ch.isprintable()))

    return edit


def dom_mutation(edits: list[Callable[[etree._Element], None]]) -> Mutation:
    """Apply DOM edits to a parsed copy and serialise it (the mutated part is re-serialised)."""

    def mutate(document: bytes) -> bytes:
        root = parse_xml(document)
        for edit in edits:
            try:
                edit(root)
            except (ValueError, TypeError):
                continue  # an edit lxml refuses (e.g. a cycle) is simply skipped
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    return mutate


def mutations(size: int) -> st.SearchStrategy[Mutation]:
    """Any mix: byte edits, or one to three DOM (node and attribute) edits."""
    dom = st.lists(st.one_of(node_mutations(), attribute_mutations()), min_size=1, max_size=3)
    return st.one_of(byte_mutations(size), dom.map(dom_mutation))
