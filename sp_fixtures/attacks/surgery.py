"""Byte-level surgery on a signed SAML response: cut, copy and splice without re-serialising.

The generator never parses-and-reserialises a signed element: a changed prefix or namespace
declaration would break its signature and fake a "refusal" (saml-attacks.md §2.3, artefact
warning). :class:`Document` indexes the byte span of every element of a response as the mock IdP
wrote it, and :func:`Document.render` rebuilds any stretch of it with :class:`Splice` edits, so
the bytes of whatever is not edited stay exactly as signed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from idp.saml.constants import NS
from sp_fixtures.attacks.errors import SurgeryError

_NAME = rb"[A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?"
_TAG = re.compile(
    rb"<(/?)(" + _NAME + rb")((?:\s+" + _NAME + rb"\s*=\s*(?:\"[^\"<]*\"|'[^'<]*'))*)"
    rb"\s*(/?)>"
)
_ATTRIBUTE = re.compile(rb"(" + _NAME + rb")\s*=\s*(?:\"([^\"<]*)\"|'([^'<]*)')")
_DECLARATION = re.compile(rb"<\?xml[^?]*\?>")
_XML_NS = "http://www.w3.org/XML/1998/namespace"


@dataclass(frozen=True)
class Splice:
    """Replace ``data[start:end]`` with ``replacement`` (``start == end`` inserts)."""

    start: int
    end: int
    replacement: bytes


@dataclass(eq=False)
class Node:
    """One element: where its tags and content sit in the document's bytes."""

    qname: str
    """The name as written, with its prefix (``saml:Assertion``)."""
    namespace: str | None
    local: str
    start: int
    """Offset of the ``<`` of the start tag."""
    content_start: int
    """Offset just after the start tag's ``>``."""
    content_end: int
    """Offset of the ``<`` of the end tag (``== content_start`` for an empty element)."""
    end: int
    """Offset just after the end tag."""
    attributes: dict[str, tuple[int, int]]
    """Attribute name as written → span of its value (inside the quotes)."""
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)

    def is_(self, ns: NS | str | None, local: str) -> bool:
        """Return whether this element is ``{ns}local``."""
        return self.local == local and self.namespace == (str(ns) if ns is not None else None)

    def child(self, ns: NS | str | None, local: str) -> Node | None:
        """Return the first child element ``{ns}local``, or None."""
        return next((child for child in self.children if child.is_(ns, local)), None)

    def find(self, *path: tuple[NS | str | None, str]) -> Node:
        """Return the element at ``path`` (child steps), or raise SurgeryError."""
        node: Node | None = self
        for ns, local in path:
            node = node.child(ns, local) if node is not None else None
        if node is None:
            steps = "/".join(local for _, local in path)
            raise SurgeryError(f"{self.qname} has no {steps}")
        return node

    def iter(self) -> Iterator[Node]:
        """Yield this element and every descendant, in document order."""
        yield self
        for child in self.children:
            yield from child.iter()

    def descendants(self, ns: NS | str | None, local: str) -> list[Node]:
        """Return every descendant-or-self ``{ns}local``, in document order."""
        return [node for node in self.iter() if node.is_(ns, local)]


class Document:
    """A serialised response with the byte span of every element."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.root = _index(data)

    def bytes_of(self, node: Node) -> bytes:
        """Return the exact bytes of ``node``, tags included."""
        return self.data[node.start : node.end]

    def text_of(self, node: Node) -> str:
        """Return the raw (still escaped) content of a text-only element."""
        return self.data[node.content_start : node.content_end].decode("utf-8")

    def attribute(self, node: Node, name: str) -> str:
        """Return the raw value of ``node``'s attribute ``name``."""
        start, end = node.attributes[name]
        return self.data[start:end].decode("utf-8")

    def render(
        self, splices: Sequence[Splice] = (), start: int = 0, end: int | None = None
    ) -> bytes:
        """Return ``data[start:end]`` with ``splices`` (all inside that range) applied."""
        stop = len(self.data) if end is None else end
        ordered = sorted(splices, key=lambda s: (s.start, s.end))
        out: list[bytes] = []
        position = start
        for splice in ordered:
            if splice.start < position or splice.end > stop or splice.end < splice.start:
                raise SurgeryError(f"overlapping or out-of-range splice at {splice.start}")
            out += [self.data[position : splice.start], splice.replacement]
            position = splice.end
        out.append(self.data[position:stop])
        return b"".join(out)

    def render_node(self, node: Node, splices: Sequence[Splice] = ()) -> bytes:
        """Return ``node``'s bytes with ``splices`` applied inside it."""
        return self.render(splices, node.start, node.end)


def delete(node: Node) -> Splice:
    """Remove ``node`` with its tags."""
    return Splice(node.start, node.end, b"")


def replace(node: Node, replacement: bytes) -> Splice:
    """Put ``replacement`` where ``node`` was."""
    return Splice(node.start, node.end, replacement)


def before(node: Node, inserted: bytes) -> Splice:
    """Insert bytes just before ``node``'s start tag."""
    return Splice(node.start, node.start, inserted)


def after(node: Node, inserted: bytes) -> Splice:
    """Insert bytes just after ``node``'s end tag."""
    return Splice(node.end, node.end, inserted)


def append(node: Node, inserted: bytes) -> Splice:
    """Insert bytes as ``node``'s last content (the element must have an end tag)."""
    if node.content_end == node.end:
        raise SurgeryError(f"{node.qname} is an empty element; cannot append into it")
    return Splice(node.content_end, node.content_end, inserted)


def set_text(node: Node, text: bytes) -> Splice:
    """Replace the whole content of ``node`` with ``text`` (already escaped)."""
    return Splice(node.content_start, node.content_end, text)


def insert_text(node: Node, offset: int, inserted: bytes) -> Splice:
    """Insert bytes ``offset`` bytes into ``node``'s content."""
    return Splice(node.content_start + offset, node.content_start + offset, inserted)


def set_attribute(node: Node, name: str, value: bytes) -> Splice:
    """Replace the value of an existing attribute (``value`` already escaped)."""
    start, end = node.attributes[name]
    return Splice(start, end, value)


def escape(text: str) -> bytes:
    """Escape text for element content or a double-quoted attribute value."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .encode("utf-8")
    )


def _index(data: bytes) -> Node:
    """Index the elements of an XML document written without comments, PIs or CDATA."""
    position = 0
    declaration = _DECLARATION.match(data)
    if declaration:
        position = declaration.end()
    stack: list[tuple[Node, dict[str, str]]] = []
    root: Node | None = None
    scopes: dict[str, str] = {"xml": _XML_NS}
    while True:
        opening = data.find(b"<", position)
        if opening < 0:
            break
        match = _TAG.match(data, opening)
        if match is None:
            found = data[opening : opening + 12]
            raise SurgeryError(f"unsupported markup at byte {opening}: {found!r}")
        closing, name, attributes, empty = match.groups()
        qname = name.decode("utf-8")
        if closing:
            if not stack or stack[-1][0].qname != qname:
                raise SurgeryError(f"unbalanced end tag {qname} at byte {opening}")
            node, scopes = stack.pop()
            node.content_end, node.end = opening, match.end()
        else:
            node, inner = _start_tag(qname, attributes, match, scopes)
            node.parent = stack[-1][0] if stack else None
            if node.parent is not None:
                node.parent.children.append(node)
            elif root is None:
                root = node
            else:
                raise SurgeryError("more than one root element")
            if empty:
                node.content_start = node.content_end = node.end = match.end()
            else:
                stack.append((node, scopes))
                scopes = inner
        position = match.end()
    if root is None or stack:
        raise SurgeryError("no root element, or an element is not closed")
    return root


def _start_tag(
    qname: str, attributes: bytes, match: re.Match[bytes], scopes: dict[str, str]
) -> tuple[Node, dict[str, str]]:
    inner = dict(scopes)
    spans: dict[str, tuple[int, int]] = {}
    offset = match.start(3)
    for attribute in _ATTRIBUTE.finditer(attributes):
        name = attribute.group(1).decode("utf-8")
        group = 2 if attribute.group(2) is not None else 3
        spans[name] = (offset + attribute.start(group), offset + attribute.end(group))
        value = attribute.group(group).decode("utf-8")
        if name == "xmlns":
            inner[""] = value
        elif name.startswith("xmlns:"):
            inner[name[6:]] = value
    prefix, _, local = qname.rpartition(":")
    namespace = inner.get(prefix) or None
    node = Node(
        qname=qname,
        namespace=namespace,
        local=local,
        start=match.start(),
        content_start=match.end(),
        content_end=match.end(),
        end=match.end(),
        attributes=spans,
    )
    return node, inner
