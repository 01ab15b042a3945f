"""The one hardened XML parser: no DTDs, no entities, no file or network access, no huge trees.

Every piece of fedharness that reads XML from outside (AuthnRequests, responses handed to an SP,
metadata files) goes through :func:`parse_xml`, so that XXE, billion-laughs and external-DTD
tricks are refused at parse time (saml-attacks.md, "XXE and DTD").

Refusing a DOCTYPE after libxml2 has parsed it is not enough: even with ``load_dtd=False`` and
``no_network=True`` libxml2 loads an external subset (``<!DOCTYPE r SYSTEM "/etc/passwd">``) and
the parameter entities of an internal subset from local paths and ``file:`` URIs (observed with
libxml2 2.14 once ``collect_ids=False`` is set; ``no_network`` only stops HTTP/FTP). That opens
files (a FIFO blocks the parser for ever) and makes the error text tell an existing file from a
missing one. So there are three layers, and every DOCTYPE-bearing input gets one refusal,
:data:`DOCTYPE_REFUSED`, whatever it references:

1. :func:`declares_doctype` looks for a DOCTYPE in the prolog *before* libxml2 sees the bytes,
   in UTF-8, UTF-16 and UTF-32 (with or without a byte order mark), EBCDIC and the encoding the
   XML declaration names; a declared encoding Python cannot decode is refused;
2. each parser carries a :class:`_RefuseExternal` resolver that answers every external load
   (DTD subset, parameter or general entity, any URL or path) with empty content, so libxml2's
   default loader, which opens files and catalogs, is never reached; a load attempt alone makes
   the document refused;
3. after parsing, any DOCTYPE, DTD or entity node left in the tree is refused.
"""

from __future__ import annotations

import codecs
import re
from typing import Any

from lxml import etree

#: The single message for every document that carries a DOCTYPE (or made libxml2 try to load
#: anything external), so that the refusal never depends on what the DOCTYPE references.
DOCTYPE_REFUSED = "XML with a DOCTYPE is refused"


class UnsafeXmlError(ValueError):
    """The document is not well-formed XML, or uses a feature we refuse (DTD, entities)."""

    code = "unsafe_xml"


class _RefuseExternal(etree.Resolver):
    """Answer every external load with empty content, and remember that one was attempted.

    ``resolve_empty()`` would not do: lxml falls back to libxml2's default loader for it, which
    opens the file. An empty *string* document never touches the file system or the network.
    """

    def __init__(self) -> None:
        super().__init__()
        self.attempted = False

    # lxml calls resolve(url, public_id, context); lxml-stubs 0.5 omits the context argument.
    def resolve(  # type: ignore[override]
        self, system_url: str | None, public_id: str | None, context: object
    ) -> Any:
        self.attempted = True
        return self.resolve_string(b"", context, base_url=None)


def _parser(resolver: etree.Resolver) -> etree.XMLParser:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        dtd_validation=False,
        load_dtd=False,
        attribute_defaults=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=False,
        collect_ids=False,
    )
    parser.resolvers.add(resolver)
    return parser


# --- DOCTYPE detection before parsing -----------------------------------------------------------

_BYTE_ORDER_MARKS = (
    # UTF-32 before UTF-16: FF FE 00 00 starts with the UTF-16 LE mark.
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)

#: ``<?xm`` in EBCDIC, which libxml2 auto-detects (XML 1.0 Appendix F).
_EBCDIC_XML_DECL = b"\x4c\x6f\xa7\x94"

_DECLARED_ENCODING = re.compile(
    r"""<\?xml\s[^>]*?\bencoding\s*=\s*["']\s*([A-Za-z][A-Za-z0-9._:-]{0,63})\s*["']"""
)


def _sniff(document: bytes) -> tuple[str, int]:
    """Return the encoding the first bytes imply (XML 1.0 Appendix F) and the BOM length."""
    for mark, encoding in _BYTE_ORDER_MARKS:
        if document.startswith(mark):
            return encoding, len(mark)
    head = document[:4]
    if len(head) == 4:
        if head[:3] == b"\x00\x00\x00" and head[3]:
            return "utf-32-be", 0
        if head[0] and head[1:] == b"\x00\x00\x00":
            return "utf-32-le", 0
        if head[0] == 0 and head[2] == 0 and head[1] and head[3]:
            return "utf-16-be", 0
        if head[1] == 0 and head[3] == 0 and head[0] and head[2]:
            return "utf-16-le", 0
        if head == _EBCDIC_XML_DECL:
            return "cp037", 0
    return "utf-8", 0


def _decode(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding, errors="replace")
    except (LookupError, ValueError, TypeError):
        return None  # not a text encoding Python knows (or not a text codec at all)


def _candidate_texts(document: bytes) -> list[str]:
    """Decode the document as libxml2 might: the sniffed encoding, then the declared one.

    A declared encoding Python cannot decode is refused here, before libxml2 (whose iconv knows
    more, e.g. ``JAVA`` with ``\\u003c`` escapes) could read a DOCTYPE this check cannot see.
    """
    encoding, bom = _sniff(document)
    sniffed = _decode(document[bom:], encoding)
    if sniffed is None:  # pragma: no cover - the sniffed encodings are all built in
        return []
    texts = [sniffed]
    declared = _DECLARED_ENCODING.match(sniffed.lstrip("\ufeff"))
    if declared is not None:
        name = declared.group(1)
        redecoded = _decode(document[bom:], name)
        if redecoded is None:
            raise UnsafeXmlError(f"not well-formed XML: unsupported encoding {name!r}")
        if redecoded != sniffed:
            texts.append(redecoded)
    return texts


def _prolog_has_doctype(text: str) -> bool:
    """Skip the XML declaration, comments, PIs and white space; is a DOCTYPE next?"""
    position = 0
    length = len(text)
    while position < length:
        char = text[position]
        if char.isspace() or char == "\ufeff":
            position += 1
        elif text.startswith("<?", position):
            end = text.find("?>", position + 2)
            if end < 0:
                return False
            position = end + 2
        elif text.startswith("<!--", position):
            end = text.find("-->", position + 4)
            if end < 0:
                return False
            position = end + 3
        else:
            return text[position : position + 9].upper() == "<!DOCTYPE"
    return False


def declares_doctype(document: bytes) -> bool:
    """Whether the prolog of ``document`` holds a DOCTYPE in the encoding(s) it may be read in.

    Raises :class:`UnsafeXmlError` when the XML declaration names an encoding Python cannot
    decode, so that no document reaches libxml2 unchecked.
    """
    return any(_prolog_has_doctype(text) for text in _candidate_texts(document))


# --- parsing ------------------------------------------------------------------------------------


def parse_xml(document: bytes | str) -> etree._Element:
    """Parse ``document`` safely and return its root element, refusing any DOCTYPE.

    Never opens a file or URL: a DOCTYPE is refused before libxml2 parses anything, and the
    parser's resolver answers any external load libxml2 still attempts with empty content.
    """
    if isinstance(document, str):
        document = document.encode("utf-8")
    if declares_doctype(document):
        raise UnsafeXmlError(DOCTYPE_REFUSED)
    resolver = _RefuseExternal()
    try:
        tree = etree.fromstring(document, parser=_parser(resolver)).getroottree()
    except etree.XMLSyntaxError as exc:
        if resolver.attempted:
            raise UnsafeXmlError(DOCTYPE_REFUSED) from None
        raise UnsafeXmlError(f"not well-formed XML: {exc}") from None
    docinfo: Any = tree.docinfo  # lxml-stubs lacks doctype/internalDTD/externalDTD
    if (
        resolver.attempted
        or docinfo.doctype
        or docinfo.internalDTD is not None
        or docinfo.externalDTD is not None
    ):
        raise UnsafeXmlError(DOCTYPE_REFUSED)
    root = tree.getroot()
    if root is None:
        raise UnsafeXmlError("empty document")
    for node in root.iter(etree.Entity):
        raise UnsafeXmlError(f"XML entity reference {node.text!r} is refused")
    return root
