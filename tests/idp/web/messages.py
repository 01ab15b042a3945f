"""Hand-made SAML requests for the tests: well-formed ones and every malformed variant."""

from __future__ import annotations

import base64
import datetime as dt
import zlib
from urllib.parse import quote, urlencode

from lxml import etree

from idp.saml.builder import new_id, saml_time
from idp.saml.constants import NS, SignatureAlgorithm, qname
from idp.saml.keys import KeyPair
from idp.saml.logout import redirect_url
from idp.saml.signing import sign_element

PLAIN_SP = "http://plain-sp.test/metadata"
SIGNED_SP = "http://signed-sp.test/metadata"


def authn_request(
    issuer: str | None = PLAIN_SP,
    *,
    issue_instant: dt.datetime | None = None,
    acs: str | None = None,
    protocol_binding: str | None = None,
    destination: str | None = None,
    is_passive: bool = False,
    force_authn: bool = False,
    name_id_format: str | None = None,
    request_id: str | None = None,
) -> etree._Element:
    """Return a ``samlp:AuthnRequest`` element with the given fields."""
    root = etree.Element(
        qname(NS.SAMLP, "AuthnRequest"), nsmap={"samlp": NS.SAMLP, "saml": NS.SAML}
    )
    root.set("ID", request_id or new_id())
    root.set("Version", "2.0")
    root.set("IssueInstant", saml_time(issue_instant or dt.datetime.now(dt.UTC)))
    for name, value in (
        ("AssertionConsumerServiceURL", acs),
        ("ProtocolBinding", protocol_binding),
        ("Destination", destination),
    ):
        if value is not None:
            root.set(name, value)
    if is_passive:
        root.set("IsPassive", "true")
    if force_authn:
        root.set("ForceAuthn", "true")
    if issuer is not None:
        etree.SubElement(root, qname(NS.SAML, "Issuer")).text = issuer
    if name_id_format is not None:
        etree.SubElement(
            root, qname(NS.SAMLP, "NameIDPolicy"), Format=name_id_format, AllowCreate="true"
        )
    return root


def deflate(data: bytes) -> bytes:
    """Return raw DEFLATE of ``data`` (what HTTP-Redirect sends)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def b64(data: bytes) -> str:
    """Return base64 text."""
    return base64.b64encode(data).decode("ascii")


def redirect_query(xml: bytes | etree._Element, relay_state: str | None = None) -> str:
    """Return the unsigned HTTP-Redirect query string for ``xml``."""
    document = xml if isinstance(xml, bytes) else etree.tostring(xml)
    fields = [("SAMLRequest", b64(deflate(document)))]
    if relay_state is not None:
        fields.append(("RelayState", relay_state))
    return urlencode(fields, quote_via=quote)


def signed_redirect_url(
    sso_url: str,
    element: etree._Element,
    key: KeyPair,
    *,
    relay_state: str | None = None,
    algorithm: SignatureAlgorithm = SignatureAlgorithm.RSA_SHA256,
) -> str:
    """Return the signed HTTP-Redirect URL for ``element``."""
    return redirect_url(
        sso_url, "SAMLRequest", element, key=key, relay_state=relay_state, algorithm=algorithm
    )


def post_form(
    element: etree._Element,
    *,
    key: KeyPair | None = None,
    relay_state: str | None = None,
    algorithm: SignatureAlgorithm = SignatureAlgorithm.RSA_SHA256,
) -> dict[str, str]:
    """Return the HTTP-POST form fields for ``element``, signed (enveloped) when ``key``."""
    if key is not None:
        sign_element(element, key, algorithm=algorithm)
    fields = {"SAMLRequest": b64(etree.tostring(element))}
    if relay_state is not None:
        fields["RelayState"] = relay_state
    return fields


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_x" Version="2.0"
  IssueInstant="2026-01-01T00:00:00Z">&lol3;</samlp:AuthnRequest>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_x" Version="2.0"
  IssueInstant="2026-01-01T00:00:00Z">&x;</samlp:AuthnRequest>"""
