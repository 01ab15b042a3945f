"""The one hardened XML parser: no DTDs, no entities, no network, no huge trees.

Every piece of fedharness that reads XML from outside (AuthnRequests, responses handed to an SP,
metadata files) goes through :func:`parse_xml`, so that XXE, billion-laughs and external-DTD
tricks are refused at parse time (saml-attacks.md, "XXE and DTD").
"""

from __future__ import annotations

from typing import Any

from lxml import etree


class UnsafeXmlError(ValueError):
    """The document is not well-formed XML, or uses a feature we refuse (DTD, entities)."""

    code = "unsafe_xml"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        dtd_validation=False,
        load_dtd=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=False,
        collect_ids=False,
    )


def parse_xml(document: bytes | str) -> etree._Element:
    """Parse ``document`` safely and return its root element, refusing any DOCTYPE."""
    if isinstance(document, str):
        document = document.encode("utf-8")
    try:
        tree = etree.fromstring(document, parser=_parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        raise UnsafeXmlError(f"not well-formed XML: {exc}") from None
    docinfo: Any = tree.docinfo  # lxml-stubs lacks doctype/internalDTD/externalDTD
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise UnsafeXmlError("XML with a DOCTYPE is refused")
    root = tree.getroot()
    if root is None:
        raise UnsafeXmlError("empty document")
    for node in root.iter(etree.Entity):
        raise UnsafeXmlError(f"XML entity reference {node.text!r} is refused")
    return root
