"""Fail early and clearly when lxml and xmlsec link different libxml2 versions.

Two copies of libxml2 in one process corrupt each other's trees: signatures then fail in ways
that look like bugs in our code. python-xmlsec checks this too, but with a terse message.
"""

from __future__ import annotations

FIX_HINT = (
    "reinstall both from the same source, e.g. "
    "`pip install --force-reinstall --no-cache-dir 'lxml>=6.0,<6.2' 'xmlsec>=1.3.14,<1.4'` "
    "(wheels built together), or build both against the system library with "
    "`pip install --no-binary lxml,xmlsec lxml xmlsec` after "
    "`apt-get install libxml2-dev libxmlsec1-dev pkg-config`"
)


def _version(parts: tuple[int, ...]) -> str:
    return ".".join(str(p) for p in parts)


def check_libxml2() -> None:
    """Raise ImportError naming both libxml2 versions when lxml and xmlsec disagree."""
    try:
        from lxml import etree
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(f"fedharness needs lxml: {exc}; {FIX_HINT}") from exc
    try:
        import xmlsec
    except ImportError as exc:
        raise ImportError(
            f"fedharness could not import python-xmlsec ({exc}). lxml links libxml2 "
            f"{_version(etree.LIBXML_VERSION)}; xmlsec must link the same one: {FIX_HINT}"
        ) from exc
    lxml_version = tuple(etree.LIBXML_VERSION)
    xmlsec_version = tuple(xmlsec.get_libxml_version())
    if lxml_version != xmlsec_version:
        raise ImportError(
            f"lxml links libxml2 {_version(lxml_version)} but xmlsec links libxml2 "
            f"{_version(xmlsec_version)}; they must be the same: {FIX_HINT}"
        )
