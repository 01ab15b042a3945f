"""Which strings a request may bring into the IdP: text that XML 1.0 and UTF-8 can carry.

Everything a client sends may end up in a SAML message, a login page or the shared state file:
a lone surrogate cannot be encoded as UTF-8, and NUL, most C0 controls and U+FFFE/U+FFFF are not
XML characters (XML 1.0 §2.2, ``Char``). Accepting one and failing later breaks every page that
shows it, so each is refused where it comes in, naming the field, and never stored.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""One character outside XML 1.0's ``Char`` production (lone surrogates included)."""


def _kind(code: int) -> str:
    if code == 0:
        return "NUL"
    if 0xD800 <= code <= 0xDFFF:
        return "a lone surrogate, which UTF-8 cannot encode"
    if code in (0xFFFE, 0xFFFF):
        return "a noncharacter"
    return "a control character"


def xml_text_problem(value: str) -> str | None:
    """Return why ``value`` cannot be sent as XML text (its first bad character), or None."""
    found = _NOT_XML_CHAR.search(value)
    if found is None:
        return None
    code = ord(found.group())
    return (
        f"U+{code:04X} ({_kind(code)}) at position {found.start()} is not allowed: "
        "the value must be XML text"
    )


def printable(value: str) -> str:
    """Return ``value`` with every non-XML character written as a ``\\uXXXX`` escape."""
    return _NOT_XML_CHAR.sub(lambda found: f"\\u{ord(found.group()):04x}", value)


def check_xml_text(value: object) -> object:
    """Return ``value``, unless it is a string that is not XML text: raise a pydantic error."""
    if isinstance(value, str) and (problem := xml_text_problem(value)) is not None:
        raise PydanticCustomError("xml_text", problem)
    return value


XmlText = Annotated[str, BeforeValidator(check_xml_text)]
"""A string field that refuses characters XML and UTF-8 cannot carry.

The check runs before pydantic's own, which refuses lone surrogates with a vaguer message.
"""
